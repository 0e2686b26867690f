"""Small fixtures and checks shared by the test suite and the benchmark."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from coldbench.config import TrainConfig
from coldbench.engine import Batch, make_batch
from coldbench.features import EncodedDataset, encode
from coldbench.methods import METHODS, Method
from coldbench.model import RecModel
from coldbench.prepare import prepare
from coldbench.prepared import load_prepared
from coldbench.protocol import ProtocolConfig

TINY_SYNTHETIC = {"users": "240", "items": "60", "mean_interactions": "12"}


def tiny_dataset(data_dir: Path, seed: int = 0) -> EncodedDataset:
    """A small synthetic dataset, prepared under ``data_dir`` and encoded."""
    result = prepare("synthetic", config=ProtocolConfig(seed=seed), options=TINY_SYNTHETIC, data_dir=data_dir)
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
    model = RecModel(data.user_features, data.item_features, train.embedding_dim, train.hidden)
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
