"""Small fixtures and checks shared by the test suite and the benchmark."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch

from coldbench.config import TrainConfig
from coldbench.data.features import EncodedDataset, encode, model_item_tables
from coldbench.data.prepare import prepare
from coldbench.data.prepared import load_prepared
from coldbench.data.protocol import ProtocolConfig
from coldbench.engine.batched import Batch, make_batch
from coldbench.engine.model import RecModel
from coldbench.methods import METHODS, Method

if TYPE_CHECKING:
    import pandas as pd

TINY_SYNTHETIC = {"users": "240", "items": "60", "mean_interactions": "12"}


def tiny_dataset(data_dir: Path, seed: int = 0, task: str = "rating", **protocol: object) -> EncodedDataset:
    """A small synthetic dataset, prepared under ``data_dir`` and encoded; ``protocol``: more
    ``ProtocolConfig`` fields (``item_split="random"`` for the four states)."""
    config = ProtocolConfig(seed=seed, task=task, **protocol)
    result = prepare("synthetic", config=config, options=TINY_SYNTHETIC, data_dir=data_dir)
    return encode(load_prepared(result.path.name, data_dir))


def build_method(
    name: str,
    data: EncodedDataset,
    train: TrainConfig | None = None,
    seed: int = 0,
    dtype=torch.float64,
    **params,
) -> tuple[RecModel, Method]:
    """A model and method from the registry, in ``dtype``, initialised from ``seed``."""
    train = train or TrainConfig(hidden=(16, 8), embedding_dim=4)
    torch.manual_seed(seed)
    items = model_item_tables(data, train.item_id)
    model = RecModel(data.user_features, items, train.embedding_dim, train.hidden, task=data.task)
    cls = METHODS.get(name)
    method = cls(cls.Config(**params), model, train)
    return model.to(dtype), method.to(dtype)


def ragged_batch(data: EncodedDataset, n_users: int = 6, dtype=torch.float64) -> Batch:
    """Training users with different support sizes, in a fixed order."""
    split = data.splits["train"]
    sizes = split.support.sizes()
    order = np.argsort(sizes, kind="stable")
    positions = order[np.linspace(0, len(order) - 1, n_users).astype(int)]
    batch = make_batch(split, positions[::-1].copy(), dtype=dtype)
    assert len(set(sizes[positions])) > 1, "fixture must be ragged"
    return batch


def write_fake_run(
    results_dir: Path,
    method: str,
    seed: int,
    per_user: pd.DataFrame,
    *,
    dataset: str = "toy",
    dataset_hash: str = "hash0",
    params: dict | None = None,
    config_id: str | None = None,
    epochs: pd.DataFrame | None = None,
    train: dict | None = None,
    tuned: dict | None = None,
    method_info: dict | None = None,
    protocol: dict | None = None,
) -> Path:
    """A hand-built finished run folder (config, metrics from ``per_user``, per_user, epochs).

    ``protocol`` is the prepared data's protocol the run records (``{"seed": 1}`` for a data split).

    ``train`` is the recorded engine settings (e.g. the paper preset's), ``tuned`` the provenance
    a ``train --tuned`` run records (``{"settings": {...}, "trials": N, "pruner": ...}``).
    ``method_info`` is what the run records of its method; by default the registered method's
    ``describe()``, as ``train`` records it (none for an unregistered name, as in older runs).
    """
    import hashlib
    import json

    import pandas as pd

    from coldbench.training.metrics import aggregate

    params = params or {}
    config_id = (
        config_id
        or f"{method}-" + hashlib.sha256(json.dumps(params, sort_keys=True).encode()).hexdigest()[:6]
    )
    folder = Path(results_dir) / dataset / method / config_id / f"seed-{seed}"
    folder.mkdir(parents=True, exist_ok=True)
    config = {
        "method": method,
        "config_id": config_id,
        "seed": seed,
        "dataset": dataset,
        "dataset_hash": dataset_hash,
        "params": params,
        "train": dict(train or {}),
    }
    if tuned is not None:
        config["tuned"] = tuned
    if protocol is not None:
        config["dataset_protocol"] = protocol
    if method_info is None and method in METHODS:
        method_info = METHODS.get(method).describe()
    if method_info is not None:
        config["method_info"] = method_info
    metric_columns = [
        c for c in per_user.columns if c in ("mse", "mae", "auc", "nel") or c.startswith("ndcg")
    ]
    indexed = per_user.set_index("user_id")
    by_state = dict(iter(indexed.groupby("state", sort=False))) if "state" in indexed else {}
    headline = by_state.get("user-cold", indexed)  # a per_user with states: "test" is user-cold
    metrics = {
        "test": aggregate(headline[metric_columns], headline["major"]),
        "selected_epoch": 1,
        "config_id": config_id,
        "seed": seed,
        "dataset_hash": dataset_hash,
    }
    if len(by_state) > 1:
        metrics["states"] = {s: aggregate(p[metric_columns], p["major"]) for s, p in by_state.items()}
    (folder / "config.json").write_text(json.dumps(config))
    (folder / "metrics.json").write_text(json.dumps(metrics))
    per_user.to_parquet(folder / "per_user.parquet", index=False)
    epochs = (
        epochs
        if epochs is not None
        else pd.DataFrame({"epoch": [1, 2], "train_loss": [2.0, 1.5], "valid_mse": [1.5, 1.2]})
    )
    epochs.to_csv(folder / "epochs.csv", index=False)
    return folder
