"""One seed's results folder: an exclusive lock, a staging folder for ``--force``, temp cleanup.

Beside ``seed-<k>/`` live ``.seed-<k>.lock`` (held by the training process, holds its pid),
``.seed-<k>.force/`` (a ``--force`` rerun in progress) and, for an instant during the swap,
``.seed-<k>.old/``. The finished run stays in ``seed-<k>/`` until its replacement has finished.
"""

from __future__ import annotations

import fcntl
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from coldbench.errors import ColdbenchError


def lock_path(out: Path) -> Path:
    return out.parent / f".{out.name}.lock"


def staging_path(out: Path) -> Path:
    return out.parent / f".{out.name}.force"


def old_path(out: Path) -> Path:
    return out.parent / f".{out.name}.old"


@contextmanager
def run_lock(out: Path) -> Iterator[None]:
    """Hold the run's lock; another holder makes this fail at once, naming its pid."""
    path = lock_path(out)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "unknown"
            raise ColdbenchError(
                f"{out}: another coldbench process (pid {holder}) is training this run; "
                "wait for it to finish, then run again"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        yield
    finally:
        os.close(fd)  # closing releases the lock; the file stays (removing it would race)


def clean_temp(folder: Path) -> None:
    """Remove ``.NAME.*.tmp`` files and folders left in ``folder`` by a killed writer."""
    if not folder.is_dir():
        return
    for leftover in folder.glob(".*.tmp"):
        if leftover.is_dir() and not leftover.is_symlink():
            shutil.rmtree(leftover, ignore_errors=True)
        else:
            leftover.unlink(missing_ok=True)


def recover_swap(out: Path, finished: str = "metrics.json") -> None:
    """Finish or undo a ``--force`` swap that a kill interrupted (call with the lock held)."""
    old, staging = old_path(out), staging_path(out)
    if not old.exists():
        return
    if out.exists():  # the swap went through; only the old copy's removal was cut short
        shutil.rmtree(old)
    elif (staging / finished).exists():
        os.replace(staging, out)
        shutil.rmtree(old)
    else:
        os.replace(old, out)


def swap_in(staging: Path, out: Path) -> None:
    """Replace ``out`` with the finished ``staging`` folder; a kill in between is recoverable."""
    old = old_path(out)
    if old.exists():
        shutil.rmtree(old)
    if out.exists():
        os.replace(out, old)
    os.replace(staging, out)
    shutil.rmtree(old, ignore_errors=True)
