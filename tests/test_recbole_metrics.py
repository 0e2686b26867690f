"""benchmarks/recbole_metrics.py: RecBole-MetaRec's binary ranking metrics, per user, against a
hand-worked case and scikit-learn's nDCG."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import ndcg_score

from coldbench.atomic_io import current_umask

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "recbole_metrics.py"


@pytest.fixture(scope="module")
def rb():
    spec = importlib.util.spec_from_file_location("recbole_metrics", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_a_hand_worked_user(rb):
    # true ratings: the top 2 are rows 0 (5) and 2 (4); the prediction ranks rows 1, 2, 0, 3
    frame = pd.DataFrame({"rating": [5.0, 1.0, 4.0, 2.0], "prediction": [3.0, 4.0, 3.5, 1.0]})
    p, ndcg, mrr = rb.user_scores(frame, 2)
    assert p == 0.5  # of rows 1 and 2 only row 2 is a positive
    assert mrr == 0.5  # the first hit is at rank 2
    assert ndcg == pytest.approx((1 / np.log2(3)) / (1 + 1 / np.log2(3)))


def test_ties_among_true_ratings_go_to_the_first_rows(rb):
    frame = pd.DataFrame({"rating": [4.0, 4.0, 4.0], "prediction": [0.0, 2.0, 1.0]})
    # the one positive is row 0 (the first of the tied 4s), which the prediction ranks last
    assert rb.user_scores(frame, 1) == (0.0, 0.0, 0.0)


@pytest.mark.parametrize("seed", range(5))
def test_binary_ndcg_precision_and_mrr_agree_with_independent_computations(rb, seed):
    rng = np.random.default_rng(seed)
    k = 5
    ratings = rng.integers(1, 6, size=10).astype(float)
    predicted = rng.normal(size=10)  # no ties: scikit-learn would average tied predictions
    positives = np.zeros(10)
    positives[np.argsort(-ratings, kind="stable")[:k]] = 1
    p, ndcg, mrr = rb.user_scores(pd.DataFrame({"rating": ratings, "prediction": predicted}), k)
    assert ndcg == pytest.approx(ndcg_score([positives], [predicted], k=k), abs=1e-12)
    order = sorted(range(10), key=lambda i: -predicted[i])[:k]
    assert p == sum(positives[i] for i in order) / k
    ranks = [rank for rank, i in enumerate(order, start=1) if positives[i]]
    assert mrr == (1 / ranks[0] if ranks else 0.0)


def _fake_run(results: Path, method: str, seed: int, users: dict[str, list[tuple[float, float]]]) -> None:
    folder = results / "d" / method / "abc123" / f"seed-{seed}"
    folder.mkdir(parents=True)
    config = {"method": method, "config_id": "abc123", "seed": seed, "dataset": "d", "train": {"epochs": 20}}
    (folder / "config.json").write_text(json.dumps(config))
    rows = [(user, f"i{j}", r, q) for user, pairs in users.items() for j, (r, q) in enumerate(pairs)]
    frame = pd.DataFrame(rows, columns=["user_id", "item_id", "rating", "prediction"])
    frame.to_parquet(folder / "predictions.parquet")


def test_the_out_file_holds_each_runs_users_and_nothing_of_the_data(rb, tmp_path, monkeypatch, capsys):
    users = {"7": [(5.0, 1.0), (1.0, 0.0)], "8": [(1.0, 1.0), (5.0, 0.0)]}
    for seed in (0, 1):
        _fake_run(tmp_path / "results", "melu", seed, users)
    out = tmp_path / "scores.parquet"
    argv = ["x", "--results-dir", str(tmp_path / "results"), "--k", "1", "--out", str(out)]
    monkeypatch.setattr(sys, "argv", argv)
    rb.main()
    table = pd.read_parquet(out)
    assert list(table.columns) == ["run", "user_id", "p@1", "ndcg_binary@1", "mrr@1"]
    assert sorted(table["run"].unique()) == ["melu/abc123/seed-0", "melu/abc123/seed-1"]
    by_user = table.groupby("user_id", observed=True)["p@1"].mean()
    assert by_user["7"] == 1.0 and by_user["8"] == 0.0  # user 7 ranks its 5 first, user 8 last
    assert all(table[c].dtype == np.float32 for c in ("p@1", "ndcg_binary@1", "mrr@1"))
    assert "| d | melu | 20 | 2 | 0.500 ± 0.000 |" in capsys.readouterr().out
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no temporary left
    assert out.stat().st_mode & 0o777 == 0o666 & ~current_umask()  # as every file coldbench writes


def test_no_runs_of_the_dataset_is_one_line_naming_it(rb, tmp_path):
    _fake_run(tmp_path / "results", "melu", 0, {"7": [(5.0, 1.0)]})
    with pytest.raises(SystemExit, match="no predictions.parquet under .* for other"):
        rb.per_user(tmp_path / "results", 5, "other")
