"""``prepare``: read a source, run the protocol, write the prepared dataset (or reuse it)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from coldbench.datasets import SOURCES, SourceRequest
from coldbench.errors import ColdbenchError
from coldbench.paths import prepared_root, raw_dir
from coldbench.prepared import build_manifest, read_manifest, write_prepared
from coldbench.protocol import ProtocolConfig, apply_protocol


@dataclass
class PrepareResult:
    path: Path
    manifest: dict
    reused: bool


def default_name(dataset: str, config: ProtocolConfig, options: dict[str, str]) -> str:
    """Name of the prepared folder: the source plus whatever differs from the defaults."""
    parts = [options.get("name", dataset) if dataset == "atomic" else dataset]
    if config.task != "rating":
        parts.append(config.task)
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


def _same_recipe(
    manifest: dict, dataset: str, config: ProtocolConfig, options: dict[str, str], request: dict
) -> bool:
    """Was the prepared folder made from this recipe? Fields an older manifest lacks count as defaults."""
    recorded = {**ProtocolConfig().to_dict(), **manifest.get("protocol", {})}
    version = recorded.pop("version")
    try:  # through ProtocolConfig, so that an older 7:1:2 reads as 0.7:0.1:0.2
        recorded_config = ProtocolConfig(**{**recorded, "split": tuple(recorded["split"])})
    except (TypeError, ColdbenchError):
        return False
    return (
        manifest.get("source_name") == dataset
        and version == config.to_dict()["version"]
        and recorded_config == config
        and manifest.get("source_options") == dict(sorted(options.items()))
        and manifest.get("request", request) == request
    )


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
) -> PrepareResult:
    """Prepare ``dataset`` under the cold-start protocol; reuse an identical earlier result."""
    config = config or ProtocolConfig()
    options = dict(options or {})
    spec = SOURCES.get(dataset)
    if spec.task == "ctr" and config.task != "ctr":
        raise ColdbenchError(f"{dataset} holds clicks, not ratings: prepare it with --task ctr")
    unknown = sorted(set(options) - set(spec.options))
    if unknown:
        known = ", ".join(spec.options) or "none"
        raise ColdbenchError(f"option --option {unknown[0]}: not known to {dataset!r} (known: {known})")
    if source is not None and not Path(source).exists():
        raise ColdbenchError(f"--source {source}: no such file or folder")
    if extras is not None and not Path(extras).exists():
        raise ColdbenchError(f"--extras {extras}: no such file or folder")

    if dataset == "atomic" and source is not None and "name" not in options:
        stem = Path(source).name if Path(source).is_dir() else Path(source).stem
        options["name"] = stem.removeprefix("recbole-")
    name = name or default_name(dataset, config, options)
    dest = prepared_root(data_dir) / name
    if dest.exists() and not force:
        manifest = read_manifest(dest)
        if _same_recipe(manifest, dataset, config, options, _request(source, extras, verify)):
            return PrepareResult(dest, manifest, reused=True)
        raise ColdbenchError(
            f"prepared dataset {name!r} exists with other parameters ({dest}); "
            "use --force to rebuild it or --name to keep both"
        )

    request = SourceRequest(
        raw_dir=raw_dir(dataset, data_dir), source=source, extras=extras, verify=verify, options=options
    )
    raw = spec.read(request)
    tables = apply_protocol(raw, config)
    manifest = build_manifest(name, raw, tables, config, options, task=config.task)
    manifest["source_name"] = dataset
    manifest["request"] = _request(source, extras, verify)
    write_prepared(dest, tables, manifest)
    return PrepareResult(dest, manifest, reused=False)
