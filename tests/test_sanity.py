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
