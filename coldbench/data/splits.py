"""Data splits as replicates: the same recipe prepared again with other protocol seeds.

A prepared dataset's manifest records its source, source options, raw files and protocol, so a
split is that recipe with the protocol seed raised by k: a split is named by its seed: the
dataset itself (seed s), then ``<name>-seed<s + k>`` (another user split, support/query split and
item split). The report
pools the splits of a study (``report --table splits``): ``split_base`` maps a dataset name back to
the study it belongs to, from the name and the protocol seed its runs record.
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

from coldbench.data.prepare import prepare
from coldbench.data.prepared import PreparedDataset, load_prepared
from coldbench.data.protocol import recorded_config
from coldbench.errors import ColdbenchError

MAX_SPLITS = 100
_SUFFIX = re.compile(r"^(?P<base>.+)-seed(?P<seed>\d+)$")


def check_split_count(splits: int) -> None:
    """A one-line error for a split count outside 1..MAX_SPLITS."""
    if not 1 <= splits <= MAX_SPLITS:
        raise ColdbenchError(f"option --splits {splits}: expected 1 to {MAX_SPLITS}")


def split_name(base: str, seed: int) -> str:
    """The prepared name of ``base``'s split with protocol seed ``seed``."""
    return f"{base}-seed{seed}"


def split_base(name: str, protocol_seed: int | None) -> tuple[str, int]:
    """``(study, split)`` of a dataset, the split being its protocol seed: ``movielens-seed2``
    prepared with seed 2 is split 2 of ``movielens``; any other name is a split of itself."""
    match = _SUFFIX.match(name)
    seed = int(protocol_seed) if protocol_seed is not None else 0
    if match and int(match["seed"]) == seed:
        return match["base"], seed
    return name, seed


def prepare_splits(
    prepared: PreparedDataset, splits: int, data_dir: Path | None = None
) -> list[PreparedDataset]:
    """``prepared`` and its next ``splits - 1`` splits (prepared now, or reused when prepared before),
    in the data home that holds ``prepared`` (``data_dir`` where it is a folder of its own)."""
    check_split_count(splits)
    path = Path(prepared.path).resolve()
    if path.parent.name == "prepared":
        data_dir = path.parent.parent
    manifest = prepared.manifest
    request = manifest.get("request") or {}
    source = manifest.get("source_name")
    if splits > 1 and not source:
        raise ColdbenchError(
            f"{prepared.name}: its manifest does not record its source, so it cannot be split again; "
            "prepare it once more with this coldbench"
        )
    config = recorded_config(manifest.get("protocol", {}))
    base = split_base(prepared.name, config.seed)[0]
    out = [prepared]
    for k in range(1, splits):
        seed = config.seed + k
        result = prepare(
            source,
            config=dataclasses.replace(config, seed=seed),
            source=Path(request["source"]) if request.get("source") else None,
            extras=Path(request["extras"]) if request.get("extras") else None,
            verify=bool(request.get("verify", True)),
            options=dict(manifest.get("source_options") or {}),
            name=split_name(base, seed),
            data_dir=data_dir,
        )
        out.append(load_prepared(result.path.name, data_dir))
    return out
