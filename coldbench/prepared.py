"""Prepared datasets on disk: three parquet tables and a manifest, written atomically."""

from __future__ import annotations

import hashlib
import json
import platform
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

import coldbench
from coldbench.atomic_io import atomic_dir
from coldbench.datasets.base import RawDataset
from coldbench.errors import ColdbenchError
from coldbench.paths import prepared_root
from coldbench.protocol import PreparedTables, ProtocolConfig

TABLES = ("interactions", "users", "items")
LIST_SEPARATOR = "\x1f"


def _canonical(frame: pd.DataFrame) -> pd.DataFrame:
    """A hashable copy: list cells joined, everything as text."""
    out = pd.DataFrame(index=range(len(frame)))
    for column in frame.columns:
        values = frame[column].reset_index(drop=True)
        if values.map(lambda v: isinstance(v, list | tuple | np.ndarray)).any():
            values = values.map(lambda v: LIST_SEPARATOR.join(map(str, v)))
        out[column] = values.astype(str)
    return out


def content_hash(tables: dict[str, pd.DataFrame]) -> str:
    """sha256 over the tables' columns and values (independent of parquet's byte layout)."""
    digest = hashlib.sha256()
    for name in TABLES:
        frame = _canonical(tables[name])
        digest.update(f"{name}:{','.join(frame.columns)}:{len(frame)}\n".encode())
        digest.update(pd.util.hash_pandas_object(frame, index=False).to_numpy().tobytes())
    return digest.hexdigest()


def vocabularies(raw: RawDataset, tables: PreparedTables) -> dict[str, dict[str, list[str]]]:
    """Sorted distinct values of every feature among the prepared users and items."""
    vocab: dict[str, dict[str, list[str]]] = {"user": {}, "item": {}}
    for feature in raw.user_features:
        vocab["user"][feature.name] = sorted(tables.users[feature.name].astype(str).unique().tolist())
    for feature in raw.item_features:
        column = tables.items[feature.name]
        if feature.multi:
            values = {str(v) for cell in column for v in cell}
        else:
            values = {str(v) for v in column.dropna()}
        vocab["item"][feature.name] = sorted(values)
    return vocab


def build_manifest(
    name: str,
    raw: RawDataset,
    tables: PreparedTables,
    config: ProtocolConfig,
    source_options: dict[str, str],
    task: str,
) -> dict:
    """Everything the prepared tables depend on, and the figures worth reporting."""
    frames = {"interactions": tables.interactions, "users": tables.users, "items": tables.items}
    return {
        "name": name,
        "source": raw.name,
        "task": task,
        "sources": [vars(s) for s in raw.sources],
        "verified": all(s.verified for s in raw.sources) if raw.sources else None,
        "source_options": dict(sorted(source_options.items())),
        "protocol": config.to_dict(),
        "rating_scale": list(raw.rating_scale),
        "features": {
            "user": [{"name": f.name, "multi": f.multi} for f in raw.user_features],
            "item": [{"name": f.name, "multi": f.multi} for f in raw.item_features],
        },
        "vocab": vocabularies(raw, tables),
        "stats": tables.stats,
        "content_hash": content_hash(frames),
        "versions": {
            "coldbench": coldbench.__version__,
            "python": platform.python_version(),
            "pandas": pd.__version__,
            "numpy": np.__version__,
        },
    }


def write_prepared(dest: Path, tables: PreparedTables, manifest: dict) -> None:
    """Write the tables and manifest into ``dest``, replacing it only once all is written."""
    with atomic_dir(dest) as tmp:
        tables.interactions.to_parquet(tmp / "interactions.parquet", index=False)
        tables.users.to_parquet(tmp / "users.parquet", index=False)
        tables.items.to_parquet(tmp / "items.parquet", index=False)
        (tmp / "manifest.json").write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")


@dataclass
class PreparedDataset:
    """A prepared dataset read back from disk."""

    path: Path
    manifest: dict
    interactions: pd.DataFrame
    users: pd.DataFrame
    items: pd.DataFrame

    @property
    def name(self) -> str:
        return self.manifest["name"]


def read_manifest(path: Path) -> dict:
    """The manifest of a prepared dataset folder."""
    manifest_path = Path(path) / "manifest.json"
    try:
        return json.loads(manifest_path.read_text())
    except FileNotFoundError:
        raise ColdbenchError(f"{manifest_path}: not a prepared dataset (no manifest.json)") from None
    except json.JSONDecodeError as error:
        raise ColdbenchError(f"{manifest_path} line {error.lineno}: invalid JSON ({error.msg})") from None


def load_prepared(name: str, data_dir: Path | None = None) -> PreparedDataset:
    """Load a prepared dataset by name (or by folder path)."""
    path = Path(name) if Path(name).is_dir() else prepared_root(data_dir) / name
    if not path.is_dir():
        known = ", ".join(list_prepared(data_dir)) or "none"
        raise ColdbenchError(
            f"dataset {name!r} is not prepared in {prepared_root(data_dir)} (prepared: {known}); "
            f"run `coldbench prepare {name}` first"
        )
    manifest = read_manifest(path)
    frames = {table: pd.read_parquet(path / f"{table}.parquet") for table in TABLES}
    for feature in manifest["features"]["item"]:
        if feature["multi"]:
            frames["items"][feature["name"]] = frames["items"][feature["name"]].map(list)
    return PreparedDataset(path=path, manifest=manifest, **frames)


def list_prepared(data_dir: Path | None = None) -> list[str]:
    """Names of the prepared datasets under the data home."""
    root = prepared_root(data_dir)
    if not root.is_dir():
        return []
    return sorted(p.name for p in root.iterdir() if p.is_dir() and (p / "manifest.json").exists())
