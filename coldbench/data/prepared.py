"""Prepared datasets on disk: three parquet tables and a manifest, written atomically."""

from __future__ import annotations

import difflib
import hashlib
import json
import platform
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

import coldbench
from coldbench.atomic_io import atomic_dir
from coldbench.data.manifests import MANIFEST_KEYS, list_prepared, read_manifest  # noqa: F401  (re-exported)
from coldbench.data.manifests import rebuild_hint as _rebuild
from coldbench.data.protocol import PreparedTables, ProtocolConfig
from coldbench.data.sources.base import RawDataset
from coldbench.errors import ColdbenchError
from coldbench.excerpt import excerpt
from coldbench.paths import NAME_PATTERN, prepared_dir, prepared_root

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


def file_digest(path: Path) -> str:
    """sha256 of a file's bytes (about 1 ms per MiB; the content hash takes ~1 s on ML-1M)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def use_system_memory_pool() -> None:
    """Let pyarrow allocate with the C library's malloc instead of its own mimalloc pool.

    The tables here are small and read once; mimalloc keeps its segments after the data frames
    are built: about 27 MB of a ~500 MB ML-100K run's peak (benchmarks/memory.py).
    """
    import pyarrow

    if pyarrow.default_memory_pool().backend_name != "system":
        pyarrow.set_memory_pool(pyarrow.system_memory_pool())


def write_prepared(dest: Path, tables: PreparedTables, manifest: dict) -> dict:
    """Write the tables and manifest into ``dest``, replacing it only once all is written.

    The manifest gets ``files``: the sha256 of each parquet file as written, which ``load_prepared``
    checks. Returns the manifest as written.
    """
    frames = {"interactions": tables.interactions, "users": tables.users, "items": tables.items}
    use_system_memory_pool()
    with atomic_dir(dest) as tmp:
        for table in TABLES:
            frames[table].to_parquet(tmp / f"{table}.parquet", index=False)
        manifest["files"] = {f"{table}.parquet": file_digest(tmp / f"{table}.parquet") for table in TABLES}
        (tmp / "manifest.json").write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    return manifest


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


REQUIRED_COLUMNS = {
    "interactions": ("user_id", "item_id", "rating", "split", "role"),
    "users": ("user_id", "split", "major"),
    "items": ("item_id",),
}


def unknown_dataset(name: str, data_dir: Path | None = None) -> ColdbenchError:
    """The error for a dataset name that is not prepared, suggesting the closest known name."""
    from coldbench.data.sources import SOURCES

    prepared = list_prepared(data_dir)
    shown = ", ".join(prepared) or "none"
    close = difflib.get_close_matches(name, prepared, n=1)
    if close:
        hint = f"did you mean {close[0]!r}?"
    else:
        base = name.removesuffix("-ctr")
        source = (
            base if base in SOURCES else next(iter(difflib.get_close_matches(base, SOURCES.names(), 1)), None)
        )
        if source is None:
            hint = f"prepare one first (sources: {', '.join(SOURCES.names())})"
        else:
            ctr = " --task ctr" if name.endswith("-ctr") else ""
            hint = f"run `coldbench prepare {source}{ctr}` first"
    return ColdbenchError(
        f"dataset {excerpt(name)} is not prepared in {prepared_root(data_dir)} (prepared: {shown}); {hint}"
    )


def verify_prepared(path: Path, manifest: dict, frames: dict[str, pd.DataFrame] | None = None) -> None:
    """Check the tables against the manifest: each file's sha256 (``files``), or for a manifest
    from before ``files`` existed, the content hash of the loaded ``frames``."""
    recorded = manifest.get("files")
    if isinstance(recorded, dict):
        for table in TABLES:
            file = Path(path) / f"{table}.parquet"
            if not file.is_file():
                raise ColdbenchError(f"{file}: missing{_rebuild(path, manifest)}")
            if file_digest(file) != recorded.get(file.name):
                raise ColdbenchError(
                    f"{file}: changed since it was prepared (sha256 differs from the manifest)"
                    f"{_rebuild(path, manifest)}"
                )
    elif frames is not None and content_hash(frames) != manifest["content_hash"]:
        raise ColdbenchError(
            f"{path}: the tables do not match the manifest's content hash{_rebuild(path, manifest)}"
        )


def _read_table(path: Path, table: str, manifest: dict) -> pd.DataFrame:
    """One parquet table; an unreadable file or a missing column is an error naming the file."""
    file = Path(path) / f"{table}.parquet"
    use_system_memory_pool()
    try:
        frame = pd.read_parquet(file)
    except Exception as error:  # pyarrow raises several types for a corrupt file
        detail = excerpt(str(error).splitlines()[0] if str(error) else type(error).__name__, 80)
        raise ColdbenchError(
            f"{file}: not a readable parquet file ({detail}){_rebuild(path, manifest)}"
        ) from None
    missing = [column for column in REQUIRED_COLUMNS[table] if column not in frame.columns]
    if missing:
        raise ColdbenchError(f"{file}: no column {missing[0]!r}{_rebuild(path, manifest)}")
    return frame


def _dataset_folder(name: str, data_dir: Path | None) -> Path:
    """The folder of ``name``: a plain name under the data home, or an explicit prepared folder."""
    explicit = Path(name)
    if not NAME_PATTERN.fullmatch(str(name)) and (explicit / "manifest.json").is_file():
        return explicit
    path = prepared_dir(name, data_dir, option="--dataset")
    if not path.is_dir():
        raise unknown_dataset(name, data_dir)
    return path


def load_prepared(name: str, data_dir: Path | None = None, verify: bool = True) -> PreparedDataset:
    """Load prepared dataset ``name`` from the data home, or from a folder path given explicitly.

    ``name`` is a plain name (see ``paths.check_name``) looked up under ``<data home>/prepared``,
    or the path of a folder holding a prepared dataset (its ``manifest.json``); anything else
    (``../raw``, ``a/b`` that is no prepared folder) is a ColdbenchError.

    With ``verify`` (the default) the tables are checked against the manifest first, so data
    changed after ``prepare`` is refused with a one-line ColdbenchError instead of being used
    under its old content hash. Costs ~1 ms per MiB of parquet (sha256 of the files).
    """
    path = _dataset_folder(name, data_dir)
    manifest = read_manifest(path)
    if verify:
        verify_prepared(path, manifest)
    frames = {table: _read_table(path, table, manifest) for table in TABLES}
    if verify and not isinstance(manifest.get("files"), dict):
        verify_prepared(path, manifest, frames)
    for feature in manifest["features"]["item"]:
        if feature["multi"]:
            frames["items"][feature["name"]] = frames["items"][feature["name"]].map(list)
    return PreparedDataset(path=path, manifest=manifest, **frames)
