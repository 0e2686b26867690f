"""Sanity flags in table captions, on hand-made runs: each fires on its case and on nothing else."""

from __future__ import annotations

import numpy as np
import pandas as pd

from coldbench.report.runs import load_runs
from coldbench.report.tables import TABLES
from coldbench.testing import write_fake_run

N = 60


def _users(mse: np.ndarray, ndcg: np.ndarray) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "user_id": [f"u{i}" for i in range(N)],
            "major": np.arange(N) % 2 == 0,
            "n_support": 8,
            "n_query": 4,
            "mse": mse,
            "mae": np.sqrt(mse),
            "ndcg@3": ndcg,
            "ndcg@5": ndcg,
        }
    )


def _captions(tmp_path, table="main"):
    rng = np.random.default_rng(0)
    base = rng.uniform(0.5, 1.5, N)
    random_ndcg = rng.uniform(0.4, 0.8, N)
    good_ndcg = np.minimum(random_ndcg + 0.15 + rng.normal(0, 0.02, N), 1.0)
    runs = {
        ("melu", None): (base + 0.3 + rng.normal(0, 0.05, N), good_ndcg),
        ("paml", None): (base * 1.0, good_ndcg + 0.01),  # the bias floor's MSE, user by user
        ("reg-paml", None): (base + 0.2, good_ndcg - 0.01),
        ("reg-paml", 0.01): (base + 0.2, good_ndcg - 0.01),  # the same as reg-paml's
        ("meta-sgd", None): (base + 0.25 + rng.normal(0, 0.05, N), random_ndcg + rng.normal(0, 0.01, N)),
        ("bias", None): (base, good_ndcg),
        ("constant", None): (base + 0.5, random_ndcg),
    }
    for (method, gamma), (mse, ndcg) in runs.items():
        params = None if gamma is None else {"gamma": gamma}
        for seed in range(2):
            write_fake_run(tmp_path, method, seed, _users(mse, ndcg), dataset="d", params=params)
    report = TABLES[table](load_runs(tmp_path), "d")
    return [line for line in report.caption if line.startswith("SANITY")]


def test_each_flag_names_its_rows_and_only_those(tmp_path):
    flags = _captions(tmp_path, "ablation")  # it shows every reg-paml variant
    assert len(flags) == 3, flags
    floor, identical, random = flags
    assert "the same as a floor's" in floor and floor.endswith(": paml = bias")
    assert "identical per-user MSE" in identical and identical.endswith(": reg-paml = reg-paml (gamma=0.01)")
    assert "random level" in random and random.endswith(": meta-sgd")


def test_healthy_runs_get_no_flag(tmp_path):
    rng = np.random.default_rng(1)
    for method, shift in (("melu", 0.3), ("paml", 0.2), ("bias", 0.0), ("constant", 0.5)):
        for seed in range(2):
            mse = rng.uniform(0.5, 1.5, N) + shift
            ndcg = rng.uniform(0.4, 0.8, N) + (0.15 if method != "constant" else 0.0)
            write_fake_run(tmp_path, method, seed, _users(mse, ndcg), dataset="d")
    report = TABLES["main"](load_runs(tmp_path), "d")
    assert not [line for line in report.caption if line.startswith("SANITY")]


def test_predictions_that_barely_vary_within_users_are_flagged_from_the_runs_predictions(tmp_path):
    rng = np.random.default_rng(3)
    base = rng.uniform(0.5, 1.5, N)
    ndcg = rng.uniform(0.6, 1.0, N)
    for method, spread in (("melu", 0.005), ("tanp", 0.6), ("bias", 0.5)):
        mse = base + {"melu": 0.3, "tanp": 0.2, "bias": 0.0}[method] + rng.normal(0, 0.05, N)
        for seed in range(2):
            folder = write_fake_run(tmp_path, method, seed, _users(mse, ndcg), dataset="d")
            users = np.repeat([f"u{i}" for i in range(N)], 4)
            predictions = pd.DataFrame(
                {
                    "user_id": users,
                    "item_id": np.tile(np.arange(4), N),
                    "rating": 3.0,
                    "prediction": 3.0 + spread * rng.standard_normal(len(users)),
                }
            )
            predictions.to_parquet(folder / "predictions.parquet", index=False)
    runs = load_runs(tmp_path)
    spread = runs.per_user().groupby("variant")["pred_std"].median()
    assert spread["melu"] < 0.02 < spread["tanp"]
    flags = [line for line in TABLES["main"](runs, "d").caption if line.startswith("SANITY")]
    assert flags == [
        "SANITY: predictions barely vary within users (median per-user spread < 0.02; the model "
        "predicts about the same for every item): melu"
    ], flags


def test_pred_std_is_each_users_population_std_of_predictions(tmp_path):
    folder = write_fake_run(tmp_path, "melu", 0, _users(np.ones(N), np.ones(N)), dataset="d")
    pd.DataFrame(
        {
            "user_id": ["u0", "u0", "u0", "u1", "u1"],
            "item_id": [1, 2, 3, 1, 2],
            "rating": 3.0,
            "prediction": [1.0, 2.0, 4.0, 3.0, 3.0],
        }
    ).to_parquet(folder / "predictions.parquet", index=False)
    frame = load_runs(tmp_path).per_user().set_index("user_id")["pred_std"]
    assert frame["u0"] == np.std([1.0, 2.0, 4.0]) and frame["u1"] == 0.0 and np.isnan(frame["u2"])
