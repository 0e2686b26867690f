"""Where raw downloads and prepared datasets live, and checks on names that become paths."""

from __future__ import annotations

import os
import re
from pathlib import Path

from coldbench.errors import ColdbenchError
from coldbench.excerpt import excerpt

NAME_MAX = 100
NAME_PATTERN = re.compile(rf"[A-Za-z0-9_-][A-Za-z0-9._-]{{0,{NAME_MAX - 1}}}")


def data_home(data_dir: Path | None = None) -> Path:
    """``--data-dir`` if given, else $COLDBENCH_HOME, else a per-user cache directory."""
    if data_dir is not None:
        return Path(data_dir)
    if env := os.environ.get("COLDBENCH_HOME"):
        return Path(env)
    cache = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(cache) / "coldbench"


def check_name(value: str, option: str) -> str:
    """``value`` if it is a plain name (ASCII letters, digits, ``-``, ``_``, ``.``; no leading dot).

    Anything else (``.``, ``..``, ``a/b``, an absolute path, an empty or over-long name) is a
    ColdbenchError that names ``option``.
    """
    if not isinstance(value, str) or not NAME_PATTERN.fullmatch(value):
        raise ColdbenchError(
            f"option {option} {excerpt(value)}: not a plain name (letters, digits, '-', '_', '.', "
            f"at most {NAME_MAX} characters, not starting with '.')"
        )
    return value


def check_folder_writable(folder: Path, option: str) -> None:
    """A folder that can be made (or exists) and written to; else a one-line ColdbenchError."""
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise ColdbenchError(f"option {option} {folder}: a file is in the way (not a folder)")
    ancestor = folder
    while not ancestor.exists() and ancestor != ancestor.parent:
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        raise ColdbenchError(f"option {option} {folder}: {ancestor} is a file, not a folder")
    if not os.access(ancestor, os.W_OK | os.X_OK):
        raise ColdbenchError(f"option {option} {folder}: {ancestor} is not writable")


def inside(root: Path, path: Path, what: str = "path") -> Path:
    """``path`` resolved, if it lies strictly below ``root`` (resolved too); else a ColdbenchError."""
    base = Path(root).resolve()
    target = Path(path).resolve()
    if target == base or base not in target.parents:
        raise ColdbenchError(f"{what} {excerpt(str(path))} is outside {base}")
    return target


def raw_dir(source: str, data_dir: Path | None = None) -> Path:
    """Folder for one source's downloaded raw files."""
    root = data_home(data_dir) / "raw"
    return inside(root, root / check_name(source, "dataset"), "raw folder")


def prepared_root(data_dir: Path | None = None) -> Path:
    """Folder holding one sub-folder per prepared dataset."""
    return data_home(data_dir) / "prepared"


def prepared_dir(name: str, data_dir: Path | None = None, option: str = "--name") -> Path:
    """The folder of prepared dataset ``name``, which must be a plain name (see ``check_name``)."""
    root = prepared_root(data_dir)
    inside(root, root / check_name(name, option), f"option {option}")
    return root / name


RESULTS_DIR_MARK = "<results-dir>"  # a results folder in recorded provenance, whichever machine it was on


def tune_dir(results_dir: Path, dataset: str, method: str) -> Path:
    """Where ``coldbench tune`` keeps a method's default study on a dataset."""
    return Path(results_dir) / dataset / method / "tune"


def default_storage(results_dir: Path, dataset: str, method: str) -> str:
    """The default study's storage URL: a SQLite file in the results folder."""
    return f"sqlite:///{(tune_dir(results_dir, dataset, method) / 'study.db').resolve()}"


def portable_storage(url: str, results_dir: Path) -> str:
    """``url`` with this machine's ``results_dir`` written as ``<results-dir>``, for the record.

    A default study's SQLite file then reads ``<results-dir>/<dataset>/<method>/tune/study.db`` in
    ``config.json`` and in a committed export, not a path of the machine that tuned; any other
    storage URL is returned as it is.
    """
    prefix = f"sqlite:///{Path(results_dir).resolve()}/"
    return f"{RESULTS_DIR_MARK}/{url[len(prefix) :]}" if url.startswith(prefix) else url
