"""Where raw downloads and prepared datasets live."""

from __future__ import annotations

import os
from pathlib import Path


def data_home(data_dir: Path | None = None) -> Path:
    """``--data-dir`` if given, else $COLDBENCH_HOME, else a per-user cache directory."""
    if data_dir is not None:
        return Path(data_dir)
    if env := os.environ.get("COLDBENCH_HOME"):
        return Path(env)
    cache = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(cache) / "coldbench"


def raw_dir(source: str, data_dir: Path | None = None) -> Path:
    """Folder for one source's downloaded raw files."""
    return data_home(data_dir) / "raw" / source


def prepared_root(data_dir: Path | None = None) -> Path:
    """Folder holding one sub-folder per prepared dataset."""
    return data_home(data_dir) / "prepared"
