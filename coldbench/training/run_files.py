"""The checksums a finished run records for its files, and their check when a run is reused.

``metrics.json``, written last, holds ``files``: the sha256 and size of every other result file;
``metrics.sha256``, written just before it, holds the sha256 of ``metrics.json`` itself, so a
hand-edited number is caught too. A run whose files no longer match (truncated, overwritten,
missing, edited) is *corrupt*.
"""

from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path

from coldbench.errors import ColdbenchError

METRICS_CHECKSUM = "metrics.sha256"
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


def metrics_text(metrics: dict) -> str:
    """``metrics.json``'s content (sorted keys, indented, trailing newline)."""
    return json.dumps(metrics, indent=2, sort_keys=True, default=str) + "\n"


def write_metrics(folder: Path, metrics: dict) -> dict:
    """Write ``metrics.sha256`` and then ``metrics.json`` (the run counts as finished from then on);
    returns the metrics as written."""
    from coldbench.atomic_io import atomic_path

    metrics = {**metrics, "checksum": METRICS_CHECKSUM}
    text = metrics_text(metrics)
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
    with atomic_path(Path(folder) / METRICS_CHECKSUM) as tmp:
        tmp.write_text(f"{digest}  metrics.json\n", encoding="utf-8")
    with atomic_path(Path(folder) / "metrics.json") as tmp:
        tmp.write_text(text, encoding="utf-8")
    return metrics


CONFIG_KEYS = ("dataset", "dataset_hash", "method", "config_id", "seed", "params")  # what reports read


def read_config(folder: Path) -> dict:
    """The run's ``config.json``: a JSON object holding ``CONFIG_KEYS``; raises CorruptRun."""
    try:
        config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise CorruptRun(folder, f"config.json is unreadable: {error}") from None
    if not isinstance(config, dict):
        raise CorruptRun(folder, f"config.json holds a JSON {type(config).__name__}, not an object")
    missing = [key for key in CONFIG_KEYS if key not in config]
    if missing:
        raise CorruptRun(folder, f"config.json has no {missing[0]}")
    return config


def _check_metrics_checksum(folder: Path, metrics: dict) -> None:
    """``metrics.json`` against ``metrics.sha256`` (runs written before it have neither field nor file)."""
    checksum = folder / METRICS_CHECKSUM
    if not checksum.is_file():
        if metrics.get("checksum") == METRICS_CHECKSUM:
            raise CorruptRun(folder, f"{METRICS_CHECKSUM} is missing")
        return
    try:
        expected = checksum.read_text(encoding="utf-8").split()[0]
    except (OSError, UnicodeDecodeError, IndexError) as error:
        raise CorruptRun(folder, f"{METRICS_CHECKSUM} is unreadable: {error}") from None
    if sha256(folder / "metrics.json") != expected:
        raise CorruptRun(folder, f"metrics.json does not match {METRICS_CHECKSUM} (edited by hand?)")


def read_finished(folder: Path) -> dict:
    """The run's ``metrics.json`` after checking it and every file it records; raises CorruptRun."""
    path = folder / "metrics.json"
    try:
        metrics = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise CorruptRun(folder, f"metrics.json is unreadable: {error}") from None
    if not isinstance(metrics, dict) or not isinstance(metrics.get("test"), dict):
        raise CorruptRun(folder, "metrics.json has no test metrics")
    _check_metrics_checksum(folder, metrics)
    overall = metrics["test"].get("overall") or {}
    loss = next((overall[m] for m in ("mse", "nel") if m in overall), None)
    if not isinstance(loss, (int, float)) or not math.isfinite(loss):
        raise CorruptRun(
            folder, f"its test metrics are not finite ({loss!r}): the run diverged, it did not finish"
        )
    for name, expected in (metrics.get("files") or {}).items():  # older runs recorded none
        file = folder / name
        if not file.is_file():
            raise CorruptRun(folder, f"{name} is missing")
        if file.stat().st_size != expected.get("bytes") or sha256(file) != expected.get("sha256"):
            raise CorruptRun(folder, f"{name} does not match its recorded sha256")
    return metrics
