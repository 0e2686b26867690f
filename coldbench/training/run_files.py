"""The checksums a finished run records for its files, and their check when a run is reused.

``metrics.json``, written last, holds ``files``: the sha256 and size of every other result file.
A run whose files no longer match (truncated, overwritten, missing) is *corrupt*.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from coldbench.errors import ColdbenchError

RESULT_FILES = ("config.json", "epochs.csv", "predictions.parquet", "per_user.parquet", "checkpoint.pt")
_CHUNK = 1 << 20


class CorruptRun(ColdbenchError):
    """A finished run folder whose files do not match what it recorded."""

    def __init__(self, folder: Path, reason: str) -> None:
        super().__init__(f"{folder}: corrupt run ({reason})")
        self.folder = folder
        self.reason = reason


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def record_files(folder: Path, names: tuple[str, ...] = RESULT_FILES) -> dict[str, dict]:
    """``{name: {"sha256": …, "bytes": …}}`` for the named files of ``folder``."""
    return {
        name: {"sha256": sha256(folder / name), "bytes": (folder / name).stat().st_size} for name in names
    }


def read_finished(folder: Path) -> dict:
    """The run's ``metrics.json`` after checking every file it records; raises CorruptRun."""
    path = folder / "metrics.json"
    try:
        metrics = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise CorruptRun(folder, f"metrics.json is unreadable: {error}") from None
    if not isinstance(metrics, dict) or not isinstance(metrics.get("test"), dict):
        raise CorruptRun(folder, "metrics.json has no test metrics")
    for name, expected in (metrics.get("files") or {}).items():  # older runs recorded none
        file = folder / name
        if not file.is_file():
            raise CorruptRun(folder, f"{name} is missing")
        if file.stat().st_size != expected.get("bytes") or sha256(file) != expected.get("sha256"):
            raise CorruptRun(folder, f"{name} does not match its recorded sha256")
    return metrics
