"""``mf`` (biased matrix factorisation, ALS) against direct numpy ridge solves."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from coldbench.engine.batched import make_batch
from coldbench.methods.mf import ridge_solve
from coldbench.testing import build_method, tiny_dataset


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return tiny_dataset(tmp_path_factory.mktemp("mf"), item_split="random")


def _fitted(data, **params):
    _, method = build_method("mf", data, **params)
    method.fit(data.splits["train"])
    return method


def _ridge(x: np.ndarray, y: np.ndarray, reg: float) -> np.ndarray:
    return np.linalg.solve(x.T @ x + reg * np.eye(x.shape[1]), x.T @ y)


def test_ridge_solve_equals_one_numpy_solve_per_key():
    rng = np.random.default_rng(0)
    keys = rng.integers(0, 5, size=40)
    keys[keys == 3] = 0  # key 3 has no rows: w = 0
    x, y = rng.normal(size=(40, 4)), rng.normal(size=40)
    got = ridge_solve(torch.from_numpy(keys), torch.from_numpy(x), torch.from_numpy(y), 5, 0.7).numpy()
    for key in range(5):
        rows = keys == key
        want = _ridge(x[rows], y[rows], 0.7) if rows.any() else np.zeros(4)
        np.testing.assert_allclose(got[key], want, rtol=1e-10, atol=1e-12)


def test_fold_in_is_a_ridge_solve_on_the_support_with_items_fixed(data):
    method = _fitted(data, rank=3, reg=2.0, als_sweeps=3)
    split = data.splits["user-cold"]
    batch = make_batch(split, np.arange(6), dtype=torch.float64)
    got = method.fold_in(batch).numpy()
    mean, q, b = float(method.mean), method.item_factors.numpy(), method.item_bias.numpy()
    for user in range(6):
        rows = slice(split.support.offsets[user], split.support.offsets[user + 1])
        items, ratings = split.support.items[rows], split.support.targets[rows].astype(float)
        x = np.c_[np.ones(len(items)), q[items]]
        np.testing.assert_allclose(
            got[user], _ridge(x, ratings - mean - b[items], 2.0), rtol=1e-9, atol=1e-12
        )
    predicted = method.predict(batch).numpy()
    q_items = split.query.items[split.query.offsets[0] : split.query.offsets[1]]
    want = mean + got[0, 0] + b[q_items] + q[q_items] @ got[0, 1:]
    np.testing.assert_allclose(predicted[0, : len(q_items)], want, rtol=1e-10)


def test_each_als_sweep_lowers_the_regularised_training_objective(data):
    train = data.splits["train"]
    users = np.r_[
        np.repeat(np.arange(len(train.users)), train.support.sizes()),
        np.repeat(np.arange(len(train.users)), train.query.sizes()),
    ]
    items = np.r_[train.support.items, train.query.items]
    targets = np.r_[train.support.targets, train.query.targets].astype(float)
    objectives = []
    for sweeps in (1, 2, 4, 8):
        method = _fitted(data, rank=4, reg=1.0, als_sweeps=sweeps)
        q, b, mean = method.item_factors.numpy(), method.item_bias.numpy(), float(method.mean)
        user = np.stack(
            [
                _ridge(
                    np.c_[np.ones((users == u).sum()), q[items[users == u]]],
                    targets[users == u] - mean - b[items[users == u]],
                    1.0,
                )
                for u in range(len(train.users))
            ]
        )
        error = targets - mean - b[items] - user[users, 0] - (q[items] * user[users, 1:]).sum(1)
        penalty = (user**2).sum() + (b**2).sum() + (q**2).sum()
        objectives.append((error**2).sum() + penalty)
    assert all(later <= earlier + 1e-6 for earlier, later in zip(objectives, objectives[1:]))
    assert objectives[-1] < objectives[0]


def test_a_new_item_is_predicted_from_the_mean_and_the_user_bias(data):
    method = _fitted(data, rank=4)
    train_items = np.r_[data.splits["train"].support.items, data.splits["train"].query.items]
    unseen = np.setdiff1d(np.arange(len(method.item_bias)), train_items)
    assert len(unseen) > 0
    assert (method.item_bias[unseen] == 0).all() and (method.item_factors[unseen] == 0).all()
    split = data.splits["user-item-cold"]
    batch = make_batch(split, np.arange(4), dtype=torch.float64)
    user = method.fold_in(batch)
    predicted = method.predict(batch)
    real = batch.query_mask.bool()
    want = (float(method.mean) + user[:, :1]).expand_as(predicted)
    torch.testing.assert_close(predicted[real], want[real], rtol=1e-12, atol=1e-12)
