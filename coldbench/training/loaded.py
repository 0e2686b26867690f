"""A finished run brought back: its config, spec, encoded data, and model and method at the chosen epoch.

What evaluating a run again needs (k-shot curves, the t-SNE of its users' embeddings): the
prepared dataset must still be there, with the content hash the run recorded.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from coldbench.data.features import EncodedDataset, encode
from coldbench.data.prepared import load_prepared
from coldbench.engine.model import RecModel
from coldbench.errors import ColdbenchError
from coldbench.methods import Method
from coldbench.training.trainer import RunSpec, build, make_spec


@dataclass
class LoadedRun:
    path: Path
    config: dict
    spec: RunSpec
    data: EncodedDataset
    model: RecModel
    method: Method


def _override_value(value: Any) -> str:
    """A config value as the string ``make_spec`` parses back (lists as ``320,192``)."""
    if isinstance(value, list | tuple):
        return ",".join(str(v) for v in value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)
    return str(value)


def load_run(run_path: Path, data_dir: Path | None = None, device: str = "cpu") -> LoadedRun:
    """The run in ``run_path`` at its selected epoch (``checkpoint.pt``), in eval mode."""
    run_path = Path(run_path)
    config = json.loads((run_path / "config.json").read_text(encoding="utf-8"))
    checkpoint = run_path / "checkpoint.pt"
    if not checkpoint.exists():
        raise ColdbenchError(f"{checkpoint}: no checkpoint in this run folder; retrain it (train --force)")
    overrides = {key: _override_value(v) for key, v in {**config["train"], **config["params"]}.items()}
    spec = make_spec(config["method"], overrides, device=device)
    try:
        dataset = load_prepared(config["dataset"], data_dir)
    except ColdbenchError:
        raise ColdbenchError(
            f"dataset {config['dataset']!r} used by {run_path} is not prepared"
            f"{f' in {data_dir}' if data_dir else ''}; run `coldbench prepare {config['dataset']}` "
            "(or pass --data-dir)"
        ) from None
    expected = config.get("dataset_hash")
    if expected and dataset.manifest.get("content_hash") != expected:
        raise ColdbenchError(
            f"dataset {config['dataset']!r} was prepared differently from the one {run_path} was trained on "
            "(content hash differs); prepare it again with the run's protocol"
        )
    data = encode(dataset)
    if "test" not in data.splits:
        raise ColdbenchError(f"dataset {config['dataset']!r} has no test users")
    model, method, _ = build(spec, data, int(config["seed"]))
    state = torch.load(checkpoint, map_location=spec.device, weights_only=False)
    model.load_state_dict(state["model"])
    method.load_state_dict(state["method"])
    model.eval()
    method.eval()
    return LoadedRun(run_path, config, spec, data, model, method)
