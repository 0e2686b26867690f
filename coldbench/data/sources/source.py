"""The contract of a data source: one function that reads its own files into a RawDataset."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from coldbench.data.optspec import Spec, parse_options
from coldbench.data.sources.base import RawDataset
from coldbench.registry import Registry


@dataclass
class SourceRequest:
    """What the user asked ``prepare`` for, as a source sees it.

    ``source`` is a local file or folder used instead of a download; ``raw_dir`` is where a
    download is kept (resumable); ``verify=False`` accepts files whose checksum does not match
    (they are then recorded as unverified); ``options`` are source-specific ``key=value`` pairs as
    given (a reader gets their checked values from its Source's ``values``).
    """

    raw_dir: Path
    source: Path | None = None
    extras: Path | None = None
    verify: bool = True
    options: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Source:
    """A registered data source."""

    name: str
    summary: str
    read: Callable[[SourceRequest], RawDataset]
    options: dict[str, Spec] = field(default_factory=dict)  # the options it understands
    task: str = "rating"  # "ctr" for sources that hold clicks, not ratings
    version: int = 1  # raised when the same options give other tables; recorded in the manifest

    def values(self, given: dict[str, str]) -> dict[str, object]:
        """The source's option values: ``given`` parsed and range-checked, defaults for the rest."""
        return parse_options(self.options, given, self.name)


SOURCES: Registry[Source] = Registry("dataset")


def register_source(
    name: str,
    summary: str,
    options: dict[str, Spec] | None = None,
    task: str = "rating",
    version: int = 1,
):
    """Decorator for a ``read(request) -> RawDataset`` function."""

    def decorate(read: Callable[[SourceRequest], RawDataset]):
        source = Source(name, summary, read, dict(options or {}), task, version)
        SOURCES.register(name)(source)
        return read

    return decorate
