"""The common in-memory form every data source reads its own files into."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd


@dataclass(frozen=True)
class Feature:
    """A categorical feature; ``multi`` features hold a list of values per row."""

    name: str
    multi: bool = False


@dataclass(frozen=True)
class SourceFile:
    """A raw file a dataset was read from, as recorded in the manifest."""

    path: str
    sha256: str
    size: int
    verified: bool


@dataclass
class RawDataset:
    """A dataset as read from its source, before the cold-start protocol runs.

    - ``interactions``: columns ``user_id`` (str), ``item_id`` (str), ``rating`` (float).
    - ``users``: ``user_id`` plus one column per user feature. Single-valued features are
      ``str`` or missing (``None``/NA): a source marks a blank or invalid value (an age outside
      [10, 100], a garbled location) as missing, and the protocol drops such users.
    - ``items``: ``item_id`` plus one column per item feature; multi-valued features hold a
      ``list[str]`` (possibly empty). Items absent from this table have no features.
    - ``item_years``: each item's release year (float, NaN when unknown), indexed by ``item_id``,
      where the source has one; the four-state protocol's ``--item-split year`` reads it.
      ``interactions`` may also carry a ``timestamp`` column (``--item-split time``).
    """

    name: str
    interactions: pd.DataFrame
    users: pd.DataFrame
    items: pd.DataFrame
    user_features: list[Feature]
    item_features: list[Feature]
    rating_scale: tuple[float, float]
    sources: list[SourceFile] = field(default_factory=list)
    item_years: pd.Series | None = None


def sha256_of(path: Path, chunk: int = 1 << 20) -> str:
    """The sha256 hex digest of a file, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def source_file(path: Path, verified: bool) -> SourceFile:
    """Describe a raw file for the manifest."""
    path = Path(path)
    return SourceFile(path=path.name, sha256=sha256_of(path), size=path.stat().st_size, verified=verified)
