"""The contract of a data source: one function that reads its own files into a RawDataset."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from coldbench.datasets.base import RawDataset
from coldbench.errors import ColdbenchError
from coldbench.registry import Registry


@dataclass
class SourceRequest:
    """What the user asked ``prepare`` for, as a source sees it.

    ``source`` is a local file or folder used instead of a download; ``raw_dir`` is where a
    download is kept (resumable); ``verify=False`` accepts files whose checksum does not match
    (they are then recorded as unverified); ``options`` are source-specific ``key=value`` pairs.
    """

    raw_dir: Path
    source: Path | None = None
    extras: Path | None = None
    verify: bool = True
    options: dict[str, str] = field(default_factory=dict)

    def option(self, key: str, default: str) -> str:
        """A source-specific option (kept as given so that the manifest records it)."""
        return self.options.get(key, default)

    def int_option(self, key: str, default: int) -> int:
        value = self.option(key, str(default))
        try:
            return int(value)
        except ValueError:
            raise ColdbenchError(f"option {key}={value!r}: expected an integer") from None

    def float_option(self, key: str, default: float) -> float:
        value = self.option(key, str(default))
        try:
            return float(value)
        except ValueError:
            raise ColdbenchError(f"option {key}={value!r}: expected a number") from None


@dataclass(frozen=True)
class Source:
    """A registered data source."""

    name: str
    summary: str
    read: Callable[[SourceRequest], RawDataset]
    options: tuple[str, ...] = ()  # the option keys it understands
    task: str = "rating"  # "ctr" for sources that hold clicks, not ratings


SOURCES: Registry[Source] = Registry("dataset")


def register_source(name: str, summary: str, options: tuple[str, ...] = (), task: str = "rating"):
    """Decorator for a ``read(request) -> RawDataset`` function."""

    def decorate(read: Callable[[SourceRequest], RawDataset]):
        SOURCES.register(name)(Source(name=name, summary=summary, read=read, options=options, task=task))
        return read

    return decorate
