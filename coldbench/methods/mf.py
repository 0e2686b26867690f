"""``mf``: biased matrix factorisation by alternating least squares, with new users folded in.

A baseline that knows each item's identity, as ``bias`` does, and a user's taste in ``rank``
latent dimensions besides: r̂_ui = μ + b_u + b_i + p_u·q_i (Koren, Bell and Volinsky 2009).

- **Fit** on the training users' rows (under the four-state protocol, training users × existing
  items only): μ is their mean; then ``als_sweeps`` alternating ridge solves, each user's
  (b_u, p_u) with the items fixed, then each item's (b_i, q_i) with the users fixed, every
  solve minimising the squared error plus ``reg`` · (b² + ‖·‖²). The item factors start from
  N(0, 0.1²), seeded by the run's seed.
- **A new user** (validation, test, or a training user scored on held-out rows) is folded in by
  the same ridge solve on their support set, with the item side fixed.
- **A new item** (no training rating) has b_i = 0 and q_i = 0, so it is predicted μ + b_u: the
  ``bias`` floor's rule. mf never reads item features.

It regresses the target with squared error, ratings or clicks alike (click probabilities are
clipped to [ε, 1 − ε]).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import torch
from torch import Tensor

from coldbench.config import TrainConfig, setting
from coldbench.engine.batched import Batch
from coldbench.engine.model import RecModel
from coldbench.methods.base import MethodConfig, register_method
from coldbench.methods.floors import Floor

if TYPE_CHECKING:  # pandas: only the data layer needs it at run time
    from coldbench.data.features import SplitData

CHUNK = 65_536  # rows whose outer products are summed at once (memory: CHUNK · (rank + 1)² floats)


@dataclass
class MFConfig(MethodConfig):
    rank: int = setting(16, min=1, max=512)  # latent dimensions of p_u and q_i
    reg: float = setting(5.0, above=0)  # ridge strength λ of every solve (biases and factors)
    als_sweeps: int = setting(10, min=1, max=1000)  # alternating passes over users, then items


def ridge_solve(keys: Tensor, features: Tensor, targets: Tensor, n_keys: int, reg: float) -> Tensor:
    """Per key k: argmin_w Σ_{rows of k} (y − x·w)² + reg · ‖w‖², for every key at once.

    ``features`` ``[N, d]`` and ``targets`` ``[N]`` are the rows, ``keys`` ``[N]`` their key.
    A key without rows gets w = 0. Returns ``[n_keys, d]``.
    """
    d = features.shape[1]
    gram = torch.zeros(n_keys, d, d, dtype=features.dtype)
    moment = torch.zeros(n_keys, d, dtype=features.dtype)
    for start in range(0, len(keys), CHUNK):
        x, y, k = features[start : start + CHUNK], targets[start : start + CHUNK], keys[start : start + CHUNK]
        gram.index_add_(0, k, x.unsqueeze(2) * x.unsqueeze(1))
        moment.index_add_(0, k, x * y.unsqueeze(1))
    eye = torch.eye(d, dtype=features.dtype)
    return torch.linalg.solve(gram + reg * eye, moment)


@register_method
class MatrixFactorisation(Floor):
    name = "mf"
    summary = "Baseline: biased matrix factorisation (ALS) on training users; new users folded in by ridge"
    Config = MFConfig
    search_space = {"rank": ("int", 2, 64), "reg": ("log", 0.01, 100.0), "als_sweeps": ("int", 2, 30)}

    def __init__(self, config: MFConfig, model: RecModel, train: TrainConfig) -> None:
        super().__init__(config, model, train)
        n_items = model.item_embedding.n_rows
        self.register_buffer("item_bias", torch.zeros(n_items, dtype=torch.float64))
        self.register_buffer("item_factors", torch.zeros(n_items, config.rank, dtype=torch.float64))

    def fit(self, train: SplitData) -> None:
        super().fit(train)
        positions = np.arange(len(train.users))
        users = np.r_[np.repeat(positions, train.support.sizes()), np.repeat(positions, train.query.sizes())]
        items = np.r_[train.support.items, train.query.items]
        targets = np.r_[train.support.targets, train.query.targets].astype(np.float64)
        user_keys, item_keys = torch.from_numpy(users), torch.from_numpy(items)
        residual = torch.from_numpy(targets) - float(self.mean)
        n_users, n_items, rank, reg = len(train.users), len(self.item_bias), self.config.rank, self.config.reg
        item_side = torch.cat(
            [
                torch.zeros(n_items, 1, dtype=torch.float64),
                0.1 * torch.randn(n_items, rank, dtype=torch.float64),
            ],
            1,
        )  # (b_i, q_i)
        for _ in range(self.config.als_sweeps):
            rows = item_side[item_keys]  # solve (b_u, p_u): x = (1, q_i), y = r − μ − b_i
            user_side = ridge_solve(user_keys, _with_one(rows[:, 1:]), residual - rows[:, 0], n_users, reg)
            cols = user_side[user_keys]  # solve (b_i, q_i): x = (1, p_u), y = r − μ − b_u
            item_side = ridge_solve(item_keys, _with_one(cols[:, 1:]), residual - cols[:, 0], n_items, reg)
        self.item_bias.copy_(item_side[:, 0])
        self.item_factors.copy_(item_side[:, 1:])

    def fold_in(self, batch: Batch) -> Tensor:
        """Each user's (b_u, p_u) ``[U, 1 + rank]`` by a ridge solve on their support set."""
        mask = batch.support_mask.to(torch.float64)
        items = batch.support_items
        x = _with_one(self.item_factors[items]) * mask.unsqueeze(2)  # padded rows contribute nothing
        y = (batch.support_targets.to(torch.float64) - float(self.mean) - self.item_bias[items]) * mask
        gram = x.transpose(1, 2) @ x
        eye = torch.eye(gram.shape[-1], dtype=torch.float64)
        return torch.linalg.solve(gram + self.config.reg * eye, (x * y.unsqueeze(2)).sum(1))

    def predict(self, batch: Batch) -> Tensor:
        user = self.fold_in(batch)
        items = batch.query_items
        score = self.item_bias[items] + (self.item_factors[items] * user[:, None, 1:]).sum(2)
        return float(self.mean) + user[:, :1] + score


def _with_one(factors: Tensor) -> Tensor:
    """``[..., rank]`` → ``[..., 1 + rank]`` with a leading 1 (the bias's feature)."""
    return torch.cat([torch.ones_like(factors[..., :1]), factors], dim=-1)
