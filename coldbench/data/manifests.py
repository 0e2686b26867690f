"""Prepared datasets' manifests and names, read without pandas (``coldbench datasets``).

``coldbench.data.prepared`` re-exports these beside the readers of the tables themselves.
"""

from __future__ import annotations

import json
from pathlib import Path

from coldbench.errors import ColdbenchError
from coldbench.paths import prepared_root

MANIFEST_KEYS = ("name", "content_hash", "features", "stats")


def read_manifest(path: Path) -> dict:
    """The manifest of a prepared dataset folder (a JSON object with the keys every reader needs)."""
    manifest_path = Path(path) / "manifest.json"
    try:
        manifest = json.loads(manifest_path.read_text())
    except FileNotFoundError:
        raise ColdbenchError(f"{manifest_path}: not a prepared dataset (no manifest.json)") from None
    except json.JSONDecodeError as error:
        raise ColdbenchError(f"{manifest_path} line {error.lineno}: invalid JSON ({error.msg})") from None
    except (OSError, UnicodeDecodeError) as error:
        raise ColdbenchError(f"{manifest_path}: cannot be read ({error})") from None
    missing = [key for key in MANIFEST_KEYS if not isinstance(manifest, dict) or key not in manifest]
    if missing:
        raise ColdbenchError(
            f"{manifest_path}: not a coldbench manifest (no {missing[0]!r}){rebuild_hint(path)}"
        )
    return manifest


def rebuild_hint(path: Path, manifest: dict | None = None) -> str:
    """The advice that ends a tampered/corrupt-data error: how to prepare the dataset again."""
    name = Path(path).name
    source = (manifest or {}).get("source_name") or "SOURCE"
    return f"; re-run `coldbench prepare {source} --name {name} --force` (with its options) to rebuild it"


def list_prepared(data_dir: Path | None = None) -> list[str]:
    """Names of the prepared datasets under the data home."""
    root = prepared_root(data_dir)
    if not root.is_dir():
        return []
    return sorted(
        p.name
        for p in root.iterdir()
        if not p.name.startswith(".") and p.is_dir() and (p / "manifest.json").exists()
    )
