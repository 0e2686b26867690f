"""Sanity floors: predictors that need no meta-training, run through the same trainer and reports.

``constant`` predicts the mean training target (a rating, or the click rate) for everyone: with
tied predictions ranked in a seeded random order, its nDCG is the random-ranking level.
``user-mean`` predicts the mean of the user's own support targets. ``popular`` ranks items by
how many training users rated them (its ratings are the mean to within 0.001, as ``constant``'s).
``bias`` is the baseline predictor μ + b_i + b_u (Koren 2010, §2.1): item biases fitted on the training users'
interactions, the user's bias from its support set, each shrunk towards 0 by an L2 strength.
A method that does not beat these has learned nothing a reviewer would pay for.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import torch
from torch import Tensor

from coldbench.config import TrainConfig, setting
from coldbench.engine.batched import Batch, InnerLoopOutput
from coldbench.engine.model import RecModel
from coldbench.methods.base import Method, MethodConfig, register_method

if TYPE_CHECKING:  # pandas: only the data layer needs it at run time
    from coldbench.data.features import SplitData

CLICK_CLIP = 1e-6  # click probabilities are kept in [ε, 1 − ε] so that their logits are finite


def _all_rows(split: SplitData) -> tuple[np.ndarray, np.ndarray]:
    """Items and targets of every support and query interaction of a split."""
    items = np.concatenate([split.support.items, split.query.items])
    targets = np.concatenate([split.support.targets, split.query.targets]).astype(np.float64)
    return items, targets


class Floor(Method):
    """A closed-form predictor: ``fit`` on training users, ``predict`` from a user's support set."""

    meta_trained = False

    def __init__(self, config: MethodConfig, model: RecModel, train: TrainConfig) -> None:
        super().__init__(config, model, train)
        self.register_buffer("mean", torch.zeros(()))
        self._is_ctr = model.task.name == "ctr"

    def fit(self, train: SplitData) -> None:
        _, targets = _all_rows(train)
        self.mean.fill_(float(targets.mean()))

    def predict(self, batch: Batch) -> Tensor:
        """The predicted rating (or click probability) of every query row ``[U, Q]``."""
        raise NotImplementedError

    def evaluate_batch(self, model: RecModel, batch: Batch) -> InnerLoopOutput:
        with torch.no_grad():
            predicted = self.predict(batch).to(batch.query_targets.dtype)
            if self._is_ctr:
                p = predicted.clamp(CLICK_CLIP, 1 - CLICK_CLIP)
                predicted = torch.stack([torch.zeros_like(p), torch.log(p) - torch.log1p(-p)], dim=-1)
            loss = model.task.masked_loss(predicted, batch.query_targets, batch.query_mask)
            user_vectors = model.user_embedding(batch.users)
            lr = torch.zeros((), dtype=predicted.dtype, device=predicted.device)
            return InnerLoopOutput(loss, predicted, user_vectors, lr, None)


@register_method
class ConstantFloor(Floor):
    name = "constant"
    summary = "Floor: the mean training rating (or click rate) for every user and item"

    def predict(self, batch: Batch) -> Tensor:
        return self.mean.expand(batch.query_items.shape).clone()


def _support_mean(batch: Batch, residual: Tensor, shrinkage: float) -> Tensor:
    """Per user: Σ residual over the support set / (n_support + shrinkage); 0 for an empty one."""
    total = (residual * batch.support_mask).sum(1)
    count = batch.support_mask.sum(1) + shrinkage
    return torch.where(count > 0, total / count.clamp(min=1e-12), torch.zeros_like(total))


@register_method
class UserMeanFloor(Floor):
    name = "user-mean"
    summary = "Floor: the mean of the user's own support ratings (or clicks); the training mean if none"

    def predict(self, batch: Batch) -> Tensor:
        n_support = batch.support_mask.sum(1)
        offset = _support_mean(batch, batch.support_targets - self.mean, 0.0)
        user = torch.where(n_support > 0, self.mean + offset, self.mean.expand_as(offset))
        return user.unsqueeze(1).expand(batch.query_items.shape).clone()


@dataclass
class BiasConfig(MethodConfig):
    item_shrinkage: float = 25.0  # λ of the item biases b_i = Σ(r − μ) / (n_i + λ) (Koren 2010)
    user_shrinkage: float = 10.0  # λ of the user bias b_u = Σ_support(r − μ − b_i) / (n_u + λ)
    # An item no training user rated: b_i = 0 ("zero"), or predicted from its features ("features":
    # a ridge regression of the rated items' b_i on their multi-hot features, λ = feature_ridge).
    new_item_bias: str = setting("zero", choices=("zero", "features"))
    feature_ridge: float = setting(10.0, above=0)


@register_method
class BiasFloor(Floor):
    name = "bias"
    summary = "Floor: global mean + item bias (training users) + user bias (support set), L2-shrunk"
    Config = BiasConfig
    search_space = {"item_shrinkage": ("log", 0.1, 1000.0), "user_shrinkage": ("log", 0.1, 1000.0)}

    def __init__(self, config: BiasConfig, model: RecModel, train: TrainConfig) -> None:
        super().__init__(config, model, train)
        self.register_buffer("item_bias", torch.zeros(model.item_embedding.n_rows))
        self._design = item_design(model) if config.new_item_bias == "features" else None

    def fit(self, train: SplitData) -> None:
        super().fit(train)
        items, targets = _all_rows(train)
        n_items = len(self.item_bias)
        residual = np.bincount(items, weights=targets - float(self.mean), minlength=n_items)
        counts = np.bincount(items, minlength=n_items)
        bias = residual / (counts + self.config.item_shrinkage)
        bias[counts == 0] = 0.0  # an item no training user saw gets no bias
        if self._design is not None and (counts == 0).any():
            predicted = feature_bias(self._design, bias, counts > 0, self.config.feature_ridge)
            bias[counts == 0] = predicted[counts == 0]
        self.item_bias.copy_(torch.from_numpy(bias))

    def predict(self, batch: Batch) -> Tensor:
        item_bias = self.item_bias.to(batch.support_targets.dtype)
        residual = batch.support_targets - self.mean - item_bias[batch.support_items]
        user_bias = _support_mean(batch, residual, self.config.user_shrinkage)
        return self.mean + item_bias[batch.query_items] + user_bias.unsqueeze(1)


def item_design(model: RecModel):
    """Every item's features as a sparse multi-hot matrix ``[n_items, Σ vocab]``; a multi-valued
    feature's values share its weight (each 1/count), as the embedding averages them."""
    from scipy import sparse

    blocks = []
    for index, table in enumerate(model.item_embedding.tables):
        codes = getattr(model.item_embedding, f"codes_{index}").cpu().numpy()  # [n_items, width], 0 = none
        rows = np.repeat(np.arange(codes.shape[0]), codes.shape[1])
        values = codes.reshape(-1)
        count = np.maximum((codes > 0).sum(1), 1).repeat(codes.shape[1])
        keep = values > 0
        shape = (codes.shape[0], table.num_embeddings)
        blocks.append(sparse.csr_matrix((1.0 / count[keep], (rows[keep], values[keep])), shape=shape))
    return sparse.hstack(blocks).tocsr()


def feature_bias(design, bias: np.ndarray, seen: np.ndarray, ridge: float) -> np.ndarray:
    """Every item's bias predicted from its features: β minimises Σ_seen (b_i − x_i·β)² + ridge·‖β‖²."""
    from scipy.sparse.linalg import lsqr

    beta = lsqr(design[seen], bias[seen], damp=float(np.sqrt(ridge)), atol=1e-10, btol=1e-10)[0]
    return np.asarray(design @ beta).reshape(-1)


# How far popularity moves a prediction off the mean (the most rated item: +0.001): enough to
# order items in float32, too little to change the rating error much. A ranking, not a rating.
POPULARITY_WEIGHT = 1e-3


@register_method
class PopularFloor(Floor):
    name = "popular"
    summary = "Floor: the most rated items first (training popularity); every rating predicted as the mean"

    def __init__(self, config: MethodConfig, model: RecModel, train: TrainConfig) -> None:
        super().__init__(config, model, train)
        self.register_buffer("popularity", torch.zeros(model.item_embedding.n_rows, dtype=torch.float64))

    def fit(self, train: SplitData) -> None:
        super().fit(train)
        items, _ = _all_rows(train)
        counts = np.bincount(items, minlength=len(self.popularity)).astype(np.float64)
        self.popularity.copy_(torch.from_numpy(counts / max(counts.max(), 1.0)))

    def predict(self, batch: Batch) -> Tensor:
        """μ plus at most ``POPULARITY_WEIGHT`` by popularity: its ranking is the training users'
        counts (most rated first), its ratings are ``constant``'s to within 0.001."""
        return self.mean + POPULARITY_WEIGHT * self.popularity[batch.query_items]
