"""Files inside a zip archive, found by base name in any folder of it."""

from __future__ import annotations

import zipfile
from collections.abc import Callable, Iterable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from coldbench.errors import ColdbenchError

Opener = Callable[[], AbstractContextManager[IO[bytes]]]


@dataclass(frozen=True)
class ZipMember:
    """One file of an archive: its path inside the archive, its uncompressed size, and an opener."""

    member: str
    size: int
    open: Opener


def zip_members(path: Path, names: Iterable[str]) -> dict[str, ZipMember]:
    """The members of the zip at ``path`` whose base names are ``names`` (directories are skipped).

    Errors from reading the archive itself (``zipfile.BadZipFile``, ``OSError``) are left to the
    caller, which words them for its own data; a name with no member is a ColdbenchError.
    """
    names = list(names)
    with zipfile.ZipFile(path) as archive:
        infos = {Path(info.filename).name: info for info in archive.infolist() if not info.is_dir()}
    missing = [name for name in names if name not in infos]
    if missing:
        raise ColdbenchError(f"{path}: {', '.join(missing)} not found in the archive")
    return {
        name: ZipMember(
            infos[name].filename, infos[name].file_size, _member_opener(path, infos[name].filename)
        )
        for name in names
    }


def _member_opener(path: Path, member: str) -> Opener:
    """Opener for one member; the archive is opened anew (and closed) on each use."""

    @contextmanager
    def open_member() -> Iterator[IO[bytes]]:
        with zipfile.ZipFile(path) as archive, archive.open(member) as handle:
            yield handle

    return open_member


def file_opener(path: Path) -> Opener:
    """Opener for a plain file, the same shape as a zip member's."""

    @contextmanager
    def open_file() -> Iterator[IO[bytes]]:
        with open(path, "rb") as handle:
            yield handle

    return open_file
