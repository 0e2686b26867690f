"""``prepare``: read a source, run the protocol, write the prepared dataset (or reuse it)."""

from __future__ import annotations

import difflib
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from coldbench.atomic_io import locked
from coldbench.data.prepared import build_manifest, read_manifest, write_prepared
from coldbench.data.protocol import (
    DEFAULT_PROTOCOL,
    PROTOCOL_VERSION,
    ProtocolConfig,
    apply_protocol,
    recorded_config,
)
from coldbench.data.sources import SOURCES, Source, SourceRequest
from coldbench.errors import ColdbenchError
from coldbench.excerpt import excerpt
from coldbench.paths import prepared_dir, raw_dir


@dataclass
class PrepareResult:
    path: Path
    manifest: dict
    reused: bool


def default_name(dataset: str, config: ProtocolConfig, options: dict[str, str]) -> str:
    """Name of the prepared folder: the source plus whatever differs from the defaults.

    A non-default preset comes first (``movielens-melu``, ``ml-100k-melu-seed1``), so that it never
    overwrites the paper-protocol dataset of the same source; the four-state protocol adds
    ``states-<rule>`` (``movielens-states-year``).
    """
    parts = [options.get("name", dataset) if dataset == "atomic" else dataset]
    if config.name != DEFAULT_PROTOCOL:
        parts.append(config.name)
    if config.task != "rating":
        parts.append(config.task)
    if config.item_split is not None:
        parts.append(f"states-{config.item_split}")
    if config.subset is not None:
        parts.append(f"subset{config.subset}")
    if config.seed != 0:
        parts.append(f"seed{config.seed}")
    return "-".join(parts)


def _request(source: Path | None, extras: Path | None, verify: bool) -> dict:
    """What was asked of the source, so that a changed file or --no-verify is not silently reused."""
    return {
        "source": str(Path(source).resolve()) if source else None,
        "extras": str(Path(extras).resolve()) if extras else None,
        "verify": verify,
    }


def recipe_difference(
    manifest: dict, dataset: str, config: ProtocolConfig, options: dict[str, str], request: dict
) -> str | None:
    """How the prepared folder's recipe differs from this one (None: the same recipe).

    Fields an older manifest lacks count as defaults. Source options are compared by value
    (``rate_feature=no`` is the default ``false``), and the source's version must match (a source
    raises it when the same options give other tables).
    """
    spec = SOURCES.get(dataset)
    try:  # through ProtocolConfig, so that an older 7:1:2 reads as 0.7:0.1:0.2
        version = manifest.get("protocol", {}).get("version", PROTOCOL_VERSION)
        recorded = recorded_config(manifest.get("protocol", {}))
        recorded_options = spec.values(manifest.get("source_options") or {})
    except (TypeError, ValueError, AttributeError, ColdbenchError):
        return "its manifest's protocol or source options cannot be read"
    if manifest.get("source_name") != dataset:
        return f"it was prepared from source {manifest.get('source_name')!r}"
    if manifest.get("source_version", 1) != spec.version:
        return (
            f"it was read by version {manifest.get('source_version', 1)} of the {dataset} reader, "
            f"and this coldbench has version {spec.version}"
        )
    if version != config.to_dict()["version"] or recorded != config:
        return "its protocol settings differ"
    if recorded_options != spec.values(options):
        return "its source options (-o) differ"
    if manifest.get("request", request) != request:
        return "it was read from another raw file, extras file or checksum setting"
    return None


def source_spec(dataset: str) -> Source:
    """The registered source ``dataset``; an unknown name suggests the closest one."""
    if dataset not in SOURCES:
        close = difflib.get_close_matches(dataset, SOURCES.names(), n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise ColdbenchError(
            f"Unknown dataset {excerpt(dataset)}.{hint} Available: {', '.join(SOURCES.names())}"
        )
    return SOURCES.get(dataset)


def _say_waiting(lock: Path) -> None:
    print(f"waiting for another `coldbench prepare` of the same dataset to finish ({lock})", file=sys.stderr)


def prepare(
    dataset: str,
    *,
    config: ProtocolConfig | None = None,
    source: Path | None = None,
    extras: Path | None = None,
    verify: bool = True,
    options: dict[str, str] | None = None,
    name: str | None = None,
    force: bool = False,
    data_dir: Path | None = None,
    on_wait: Callable[[Path], None] | None = _say_waiting,
) -> PrepareResult:
    """Prepare ``dataset`` under the cold-start protocol; reuse an identical earlier result.

    Every option is checked before anything is read or written. The dataset's folder is built
    while holding its lock (``.NAME.lock`` beside it): a second ``prepare`` of the same name waits
    (``on_wait`` is told once) and then reuses or rebuilds it as asked.
    """
    config = config or ProtocolConfig()
    options = dict(options or {})
    spec = source_spec(dataset)
    if spec.task == "ctr" and config.task != "ctr":
        raise ColdbenchError(f"{dataset} holds clicks, not ratings: prepare it with --task ctr")
    spec.values(options)  # unknown keys and out-of-range values stop here, before any work
    if source is not None and not Path(source).exists():
        raise ColdbenchError(f"--source {excerpt(str(source))}: no such file or folder")
    if extras is not None and not Path(extras).exists():
        raise ColdbenchError(f"--extras {excerpt(str(extras))}: no such file or folder")

    if dataset == "atomic" and source is not None and "name" not in options:
        stem = Path(source).name if Path(source).is_dir() else Path(source).stem
        options["name"] = stem.removeprefix("recbole-")
    if name is None:
        name = default_name(dataset, config, options)
        dest = prepared_dir(name, data_dir, option="--name (default from -o name=, or --source)")
    else:
        dest = prepared_dir(name, data_dir)
    request = _request(source, extras, verify)
    with locked(dest, on_wait):
        if dest.exists() and not force:
            manifest = read_manifest(dest)
            difference = recipe_difference(manifest, dataset, config, options, request)
            if difference is None:
                return PrepareResult(dest, manifest, reused=True)
            raise ColdbenchError(
                f"prepared dataset {name!r} exists with other parameters ({dest}): {difference}; "
                f"rebuild it with `coldbench prepare {dataset} … --force` (the same data keeps its "
                "content hash, so finished runs still count) or keep both with --name"
            )
        raw = spec.read(
            SourceRequest(
                raw_dir=raw_dir(dataset, data_dir),
                source=source,
                extras=extras,
                verify=verify,
                options=options,
            )
        )
        tables = apply_protocol(raw, config)
        manifest = build_manifest(name, raw, tables, config, options, task=config.task)
        manifest["source_name"] = dataset
        manifest["source_version"] = spec.version
        manifest["request"] = request
        manifest = write_prepared(dest, tables, manifest)
    return PrepareResult(dest, manifest, reused=False)
