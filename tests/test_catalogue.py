"""Top-N ranking over the catalogue: Recall@K and binary NDCG@K against hand-worked and numpy
computations, support items never ranked, and the ``popular`` floor against pandas."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from coldbench.data.prepare import prepare
from coldbench.data.prepared import load_prepared
from coldbench.testing import TINY_SYNTHETIC
from coldbench.training.catalogue import TIE_STREAM, evaluate_catalogue, rank_metrics
from coldbench.training.loaded import load_run
from coldbench.training.trainer import train


def test_a_hand_worked_user():
    # items 0..5; item 0 is the user's support (best score, never ranked); relevant: 1, 3, 5
    scores = np.array([9.0, 5.0, 4.0, 3.0, 2.0, 1.0])
    candidates = np.array([False, True, True, True, True, True])
    relevant = np.array([False, True, False, True, False, True])
    got = rank_metrics(scores, candidates, relevant, np.zeros(6), (2, 4))
    # ranking 1, 2, 3, 4, 5: hits at ranks 1 and 3 (and 5)
    assert got["recall@2"] == pytest.approx(1 / 3)
    assert got["recall@4"] == pytest.approx(2 / 3)
    ideal2 = 1 + 1 / math.log2(3)
    assert got["ndcg_cat@2"] == pytest.approx(1 / ideal2)
    ideal4 = 1 + 1 / math.log2(3) + 1 / math.log2(4)
    assert got["ndcg_cat@4"] == pytest.approx((1 + 1 / math.log2(4)) / ideal4)
    none = rank_metrics(scores, candidates, np.zeros(6, dtype=bool), np.zeros(6), (2,))
    assert math.isnan(none["recall@2"]) and math.isnan(none["ndcg_cat@2"])


def test_against_a_direct_numpy_computation():
    rng = np.random.default_rng(3)
    for _ in range(50):
        n = 40
        scores = rng.integers(0, 6, n).astype(float)  # many ties
        candidates = rng.random(n) > 0.2
        relevant = (rng.random(n) > 0.8) & candidates
        keys = rng.random(n)
        got = rank_metrics(scores, candidates, relevant, keys, (5, 10))
        ranked = sorted(np.flatnonzero(candidates), key=lambda i: (-scores[i], keys[i]))
        for k in (5, 10):
            top = ranked[:k]
            hits = [relevant[i] for i in top]
            n_rel = relevant.sum()
            if n_rel == 0:
                assert math.isnan(got[f"recall@{k}"])
                continue
            dcg = sum(h / math.log2(r + 2) for r, h in enumerate(hits))
            idcg = sum(1 / math.log2(r + 2) for r in range(min(k, n_rel)))
            assert got[f"recall@{k}"] == pytest.approx(sum(hits) / n_rel)
            assert got[f"ndcg_cat@{k}"] == pytest.approx(dcg / idcg)


@pytest.fixture(scope="module")
def popular_run(tmp_path_factory):
    home = tmp_path_factory.mktemp("catalogue")
    result = prepare("synthetic", options=TINY_SYNTHETIC, data_dir=home)
    dataset = load_prepared(result.path.name, home)
    run = train("popular", dataset, [0], {}, device="cpu", results_dir=home / "r")[0]
    return load_run(run.path, home), dataset


def test_popular_ranks_by_training_counts_and_never_ranks_support_items(popular_run):
    run, dataset = popular_run
    rows = dataset.interactions
    counts = rows[rows["split"] == "train"]["item_id"].value_counts()
    item_ids = pd.Index(run.data.item_ids)
    popularity = counts.reindex(item_ids).fillna(0).to_numpy()
    scored = evaluate_catalogue(run, threshold=4.0, cutoffs=(5,)).set_index("user_id")
    test = run.data.splits["test"]
    checked = 0
    for position, user_id in enumerate(test.user_ids):
        support = set(test.support.items[test.support.offsets[position] : test.support.offsets[position + 1]])
        query = slice(test.query.offsets[position], test.query.offsets[position + 1])
        liked = set(test.query.items[query][test.query.targets[query] >= 4.0])
        keys = np.random.default_rng([0, TIE_STREAM, position]).random(len(item_ids))
        ranked = sorted(
            (i for i in range(len(item_ids)) if i not in support), key=lambda i: (-popularity[i], keys[i])
        )
        if not liked:
            assert math.isnan(scored.loc[user_id, "recall@5"])
            continue
        hits = len(set(ranked[:5]) & liked)
        assert scored.loc[user_id, "recall@5"] == pytest.approx(hits / len(liked))
        checked += 1
    assert checked > 10
    # the floor's rating predictions are the training mean (as constant's), to within 0.001
    train_rows = rows[rows["split"] == "train"]
    assert float(run.method.mean) == pytest.approx(train_rows["rating"].mean(), rel=1e-6)
