"""Write files and folders so that a reader never sees them half-written.

Every write goes to a temporary ``.NAME.XXXXXXXX.tmp`` beside its destination and is renamed into
place only when complete. Temporary files get the permissions a plain ``open`` would give
(0666 / 0777 less the umask), not tempfile's private 0600 / 0700. An ``OSError`` while writing
(read-only folder, full disk) becomes a one-line ColdbenchError naming the path; what was in
place before is left as it was.
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import re
import shutil
import tempfile
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from coldbench.errors import ColdbenchError

_UMASK_LOCK = threading.Lock()


def current_umask() -> int:
    """The process umask (read by setting and restoring it)."""
    with _UMASK_LOCK:
        mask = os.umask(0o022)
        os.umask(mask)
    return mask


def _reason(error: OSError) -> str:
    if error.errno == errno.ENOSPC:
        return "no space left on the device"
    if error.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return "not writable (permission denied or read-only)"
    return error.strerror or str(error)


@contextmanager
def write_boundary(path: Path) -> Iterator[None]:
    """Turn an ``OSError`` raised inside the block into a ColdbenchError that names ``path``."""
    try:
        yield
    except OSError as error:
        where = error.filename or path
        raise ColdbenchError(
            f"cannot write {where}: {_reason(error)}; nothing written before was changed"
        ) from None


def _temp_pattern(name: str, suffixes: str = "tmp|old") -> re.Pattern[str]:
    """The names tempfile gives this module's temporaries for destination ``name``."""
    return re.compile(rf"\.{re.escape(name)}\.[a-z0-9_]{{8}}\.(?:{suffixes})")


def remove_stale_temps(dest: Path) -> list[Path]:
    """Delete temporaries for ``dest`` left by a killed run (``.NAME.XXXXXXXX.tmp`` / ``.old``).

    Call it only while holding the lock for ``dest`` (see ``locked``), or when no other process
    can be writing ``dest``. Returns what was removed.
    """
    dest = Path(dest)
    if not dest.parent.is_dir():
        return []
    pattern = _temp_pattern(dest.name)
    removed = []
    for entry in dest.parent.iterdir():
        if pattern.fullmatch(entry.name):
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry, ignore_errors=True)
            else:
                entry.unlink(missing_ok=True)
            removed.append(entry)
    return removed


def writable_target(dest: Path) -> Path:
    """``dest``, or the file its symbolic link points to; a ColdbenchError for a non-regular file."""
    dest = Path(dest)
    if dest.is_symlink():
        dest = dest.resolve()
    if dest.exists() and not dest.is_file():
        raise ColdbenchError(f"{dest}: not a regular file (a device, folder or pipe); nothing was written")
    return dest


@contextmanager
def atomic_path(dest: Path) -> Iterator[Path]:
    """Yield a temporary path beside ``dest``; on success rename it onto ``dest``.

    A symbolic link is written through (its target is replaced, the link stays); a destination
    that is not a regular file (a device, folder or pipe) is refused before anything is written.
    """
    dest = writable_target(dest)
    with write_boundary(dest):
        dest.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".tmp", dir=dest.parent)
        os.close(fd)
        tmp_path = Path(tmp)
        try:
            yield tmp_path
            if tmp_path.exists():
                os.chmod(tmp_path, 0o666 & ~current_umask())
            os.replace(tmp_path, dest)
        finally:
            tmp_path.unlink(missing_ok=True)


def write_json(dest: Path, data: object) -> None:
    """Write JSON atomically (sorted keys, indented, trailing newline)."""
    with atomic_path(dest) as tmp:
        tmp.write_text(json.dumps(data, indent=2, sort_keys=True, default=str) + "\n")


@contextmanager
def atomic_dir(dest: Path) -> Iterator[Path]:
    """Yield a fresh temporary folder beside ``dest``; on success it replaces ``dest`` whole.

    Files written into the folder should be plain ``open``/``to_parquet`` writes; the folder gets
    0777 less the umask when it is moved into place.
    """
    dest = Path(dest)
    with write_boundary(dest):
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", suffix=".tmp", dir=dest.parent))
        try:
            yield tmp
            os.chmod(tmp, 0o777 & ~current_umask())
            if dest.exists():
                old = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", suffix=".old", dir=dest.parent))
                os.replace(dest, old / dest.name)
                os.replace(tmp, dest)
                shutil.rmtree(old, ignore_errors=True)
            else:
                os.replace(tmp, dest)
        finally:
            if tmp.exists():
                shutil.rmtree(tmp, ignore_errors=True)


def lock_path(dest: Path) -> Path:
    """The lock file beside ``dest``: ``.NAME.lock``."""
    dest = Path(dest)
    return dest.parent / f".{dest.name}.lock"


@contextmanager
def locked(dest: Path, on_wait: Callable[[Path], None] | None = None) -> Iterator[None]:
    """Hold an exclusive ``flock`` on ``dest``'s lock file; wait while another process holds it.

    ``on_wait(lock_file)`` is called once if the lock is busy, before waiting. Temporaries left
    beside ``dest`` by a killed run are removed once the lock is held.
    """
    path = lock_path(dest)
    with write_boundary(path):
        path.parent.mkdir(parents=True, exist_ok=True)
        handle = open(path, "a+b")  # noqa: SIM115  (closed below, after the lock is released)
    try:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            if on_wait is not None:
                on_wait(path)
            fcntl.flock(handle, fcntl.LOCK_EX)
        remove_stale_temps(dest)
        yield
    finally:
        handle.close()  # closing the file releases the lock
