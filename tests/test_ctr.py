"""The click-through-rate task end to end: clicks from ratings, weighted loss, AUC and NEL."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.metrics import log_loss, roc_auc_score

from coldbench.data.prepare import prepare
from coldbench.data.prepared import load_prepared
from coldbench.data.protocol import ProtocolConfig, apply_protocol
from coldbench.data.sources.base import Feature, RawDataset
from coldbench.data.tasks import CTR
from coldbench.engine.reference import method_reference
from coldbench.errors import ColdbenchError
from coldbench.methods import METHODS
from coldbench.report.runs import load_runs
from coldbench.report.tables import ctr_table
from coldbench.testing import TINY_SYNTHETIC, build_method, ragged_batch, tiny_dataset
from coldbench.training.trainer import train

TOL = 1e-10


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return tiny_dataset(tmp_path_factory.mktemp("ctr"), task="ctr")


def test_weighted_loss_matches_hand_computation_and_sklearn():
    logits = torch.tensor([[0.0, 2.0], [1.0, -1.0], [0.5, 0.5]], dtype=torch.float64)
    clicks = torch.tensor([1.0, 0.0, 1.0], dtype=torch.float64)
    p = torch.softmax(logits, -1)[:, 1].numpy()
    # click rows weigh 0.9, non-clicks 0.1: −w·log p(true class)
    hand = [-0.9 * np.log(p[0]), -0.1 * np.log(1 - p[1]), -0.9 * np.log(p[2])]
    got = CTR.elementwise_loss(logits, clicks).numpy()
    np.testing.assert_allclose(got, hand, rtol=1e-12)
    weights = np.array([0.9, 0.1, 0.9])
    # log_loss normalises by the weight sum; the task's mean divides by the row count
    expected = log_loss(clicks.numpy(), p, sample_weight=weights) * weights.sum() / 3
    assert CTR.masked_loss(logits[None], clicks[None], torch.ones(1, 3, dtype=torch.float64)).item() == (
        pytest.approx(expected, rel=1e-12)
    )


def _raw(ratings: dict[str, list[float]]) -> RawDataset:
    rows = [(u, f"i{k}", r) for u, values in ratings.items() for k, r in enumerate(values)]
    interactions = pd.DataFrame(rows, columns=["user_id", "item_id", "rating"])
    users = pd.DataFrame({"user_id": list(ratings), "f": ["a"] * len(ratings)})
    items = pd.DataFrame({"item_id": [f"i{k}" for k in range(6)]})
    return RawDataset("toy", interactions, users, items, [Feature("f")], [], (1.0, 5.0))


def test_ctr_protocol_needs_two_clicks_and_marks_clicks():
    ratings = {str(u): [5, 4, 1, 2] for u in range(1, 9)} | {"9": [5, 1, 1, 1], "10": [1, 2, 3, 3]}
    config = ProtocolConfig(task="ctr", cold_fraction=1.0, split=(1, 1, 1))
    tables = apply_protocol(_raw(ratings), config)
    assert set(tables.users["user_id"]) == {str(u) for u in range(1, 9)}  # users 9 and 10 have < 2 clicks
    assert tables.stats["dropped_users"] == {"invalid_features": 0, "too_few_clicks": 2}
    assert tables.stats["click_threshold"] == 4.0
    assert (tables.interactions["click"] == (tables.interactions["rating"] >= 4)).all()
    strict = ProtocolConfig(task="ctr", cold_fraction=1.0, split=(1, 1, 1), click_threshold=5)
    with pytest.raises(ColdbenchError, match="empty after filtering"):  # one 5 per user: < 2 clicks
        apply_protocol(_raw(ratings), strict)


@pytest.mark.parametrize("name", METHODS.names())
def test_ctr_batched_equals_per_user_loop(data, name):
    model, method = build_method(name, data)
    assert model.task is CTR
    batch = ragged_batch(data)
    if not method.meta_trained or type(method).training_loss is not METHODS.get("melu").training_loss:
        pytest.skip(f"{name} does not meta-train")
    output = method.inner_loop(model, batch, training=True)
    losses, _, _ = method_reference(method, model, batch)
    torch.testing.assert_close(output.query_loss, losses, rtol=0, atol=TOL)
    params = [p for p in [*model.parameters(), *method.parameters()] if p.requires_grad]
    got = torch.autograd.grad(output.query_loss.mean(), params, allow_unused=True)
    want = torch.autograd.grad(losses.mean(), params, allow_unused=True)
    for g, w in zip(got, want, strict=True):
        if w is not None:
            torch.testing.assert_close(g, w, rtol=0, atol=TOL)


def test_every_method_trains_on_click_data(tmp_path):
    result = prepare(
        "synthetic", config=ProtocolConfig(task="ctr"), options=TINY_SYNTHETIC, data_dir=tmp_path
    )
    assert result.path.name == "synthetic-ctr" and result.manifest["task"] == "ctr"
    dataset = load_prepared("synthetic-ctr", tmp_path)
    settings = {"epochs": "2", "hidden": "16,8", "embedding_dim": "4"}
    for name in METHODS.names():
        run = train(name, dataset, [0], settings, device="cpu", results_dir=tmp_path / "res")[0]
        metrics = json.loads((run.path / "metrics.json").read_text())
        assert metrics["task"] == "ctr" and {"auc", "nel"} <= set(metrics["test"]["overall"])
        predictions = pd.read_parquet(run.path / "predictions.parquet")
        assert predictions["prediction"].between(0, 1).all()
        assert metrics["test_all_interactions"]["auc"] == pytest.approx(
            roc_auc_score(predictions["click"], predictions["prediction"]), rel=1e-9
        )
        per_user = pd.read_parquet(run.path / "per_user.parquet")
        assert metrics["auc_users_skipped"] == int(per_user["auc"].isna().sum())
        single_class = predictions.groupby("user_id")["click"].nunique() == 1
        assert metrics["auc_users_skipped"] == int(single_class.sum())
    report = ctr_table(load_runs(tmp_path / "res"), "synthetic-ctr")
    assert len(report.rows) == len(METHODS.names()) and report.columns[2] == "AUC all"


def test_cli_trains_and_prints_click_metrics(tmp_path, cli):
    prepare("synthetic", config=ProtocolConfig(task="ctr"), options=TINY_SYNTHETIC, data_dir=tmp_path)
    args = [
        "train",
        "melu",
        "--dataset",
        "synthetic-ctr",
        "--data-dir",
        str(tmp_path),
        "--epochs",
        "1",
        "--set",
        "hidden=16,8",
        "--set",
        "embedding_dim=4",
        "--results-dir",
        str(tmp_path / "res"),
    ]
    code, out, err = cli(*args)
    assert code == 0, err
    assert "AUC" in out and "NEL" in out and "MSE" not in out
