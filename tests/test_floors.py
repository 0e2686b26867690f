"""The sanity floors against a direct pandas computation from the prepared tables."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from coldbench.data.features import encode
from coldbench.data.prepare import prepare
from coldbench.data.prepared import load_prepared
from coldbench.data.protocol import ProtocolConfig
from coldbench.testing import TINY_SYNTHETIC, build_method
from coldbench.training.evaluate import evaluate_split


@pytest.fixture(scope="module", params=["rating", "ctr"])
def prepared(request, tmp_path_factory):
    home = tmp_path_factory.mktemp(f"floors-{request.param}")
    config = ProtocolConfig(seed=0, task=request.param)
    result = prepare("synthetic", config=config, options=TINY_SYNTHETIC, data_dir=home)
    dataset = load_prepared(result.path.name, home)
    return dataset, encode(dataset)


def _target(dataset) -> str:
    return "click" if dataset.manifest.get("task") == "ctr" else "rating"


def _expected(name: str, dataset, item_shrinkage=25.0, user_shrinkage=10.0) -> pd.Series:
    """Each test query row's prediction, straight from the interactions table."""
    rows = dataset.interactions
    target = _target(dataset)
    train = rows[rows["split"] == "train"]
    mu = train[target].mean()
    test = rows[rows["split"] == "test"]
    support = test[test["role"] == "support"]
    query = test[test["role"] == "query"].copy()
    if name == "constant":
        query["expected"] = mu
    elif name == "user-mean":
        query["expected"] = query["user_id"].map(support.groupby("user_id")[target].mean())
    else:
        grouped = (train[target] - mu).groupby(train["item_id"])
        item_bias = grouped.sum() / (grouped.count() + item_shrinkage)
        b_i = lambda items: items.map(item_bias).fillna(0.0)  # noqa: E731
        residual = support[target] - mu - b_i(support["item_id"])
        by_user = residual.groupby(support["user_id"])
        user_bias = by_user.sum() / (by_user.count() + user_shrinkage)
        query["expected"] = mu + b_i(query["item_id"]) + query["user_id"].map(user_bias)
    return query.set_index(["user_id", "item_id"])["expected"]


@pytest.mark.parametrize("name", ["constant", "user-mean", "bias"])
def test_floor_predictions_match_pandas(prepared, name):
    dataset, data = prepared
    params = {"item_shrinkage": 3.0, "user_shrinkage": 2.0} if name == "bias" else {}
    model, method = build_method(name, data, **params)
    assert not method.meta_trained
    method.fit(data.splits["train"])
    predictions, per_user = evaluate_split(model, method, data, "test", 16, torch.device("cpu"), seed=0)
    got = predictions.set_index(["user_id", "item_id"])["prediction"]
    want = _expected(name, dataset, **params).reindex(got.index)
    if _target(dataset) == "click":
        want = want.clip(1e-6, 1 - 1e-6)
    # evaluation batches are float32: agree to its precision
    np.testing.assert_allclose(got.to_numpy(), want.to_numpy(), rtol=1e-6, atol=1e-7)
    assert per_user["inner_lr"].eq(0).all()


def test_constant_floor_ranks_at_random(prepared):
    """Every prediction ties, so nDCG depends on the seed alone (the random-ranking level)."""
    dataset, data = prepared
    if _target(dataset) != "rating":
        pytest.skip("nDCG is a rating metric")
    model, method = build_method("constant", data)
    method.fit(data.splits["train"])
    scores = [
        evaluate_split(model, method, data, "test", 16, torch.device("cpu"), seed=seed)[1]["ndcg@3"].mean()
        for seed in (0, 0, 1)
    ]
    assert scores[0] == scores[1] and scores[0] != scores[2]


def test_bias_floor_state_survives_a_checkpoint(prepared):
    _, data = prepared
    model, method = build_method("bias", data)
    method.fit(data.splits["train"])
    _, fresh = build_method("bias", data)
    fresh.load_state_dict(method.state_dict())
    assert torch.equal(fresh.item_bias, method.item_bias) and torch.any(fresh.item_bias != 0)
    assert float(fresh.mean) == float(method.mean)


def test_floors_ignore_training_settings():
    from coldbench.training.trainer import make_spec

    plain = make_spec("bias", {}, device="cpu")
    tweaked = make_spec("bias", {"epochs": 3, "hidden": "8,4", "eval_batch_size": 7}, device="cpu")
    assert plain.config_id == tweaked.config_id
    assert tweaked.train.epochs == 20 and tweaked.train.eval_batch_size == 7
    assert make_spec("bias", {"item_shrinkage": 5}, device="cpu").config_id != plain.config_id
    assert (
        make_spec("melu", {"epochs": 3}, device="cpu").config_id
        != make_spec("melu", {}, device="cpu").config_id
    )


def test_train_says_a_floor_is_fitted_in_closed_form_and_shows_no_training_settings(cli, tmp_path):
    from coldbench.data.prepare import prepare as prepare_data
    from coldbench.testing import TINY_SYNTHETIC

    prepare_data("synthetic", options=TINY_SYNTHETIC, data_dir=tmp_path / "data")
    args = [
        "--dataset",
        "synthetic",
        "--data-dir",
        str(tmp_path / "data"),
        "--results-dir",
        str(tmp_path / "r"),
    ]
    code, out, err = cli("train", "bias", "--epochs", "3", *args)
    assert code == 0, err
    plan = out.splitlines()[0]
    assert "settings: all defaults" in plan and "epochs" not in plan
    assert "fitted in closed form" in out and "epoch selected on validation" not in out
    code, out, err = cli("train", "bias", "--set", "user_shrinkage=3", *args)
    assert code == 0 and "settings: user_shrinkage=3" in out.splitlines()[0]


def test_train_sweep_and_tune_take_threads(cli, tmp_path, monkeypatch):
    import torch

    from coldbench.data.prepare import prepare as prepare_data
    from coldbench.testing import TINY_SYNTHETIC

    prepare_data("synthetic", options=TINY_SYNTHETIC, data_dir=tmp_path / "data")
    calls = []
    monkeypatch.setattr(torch, "set_num_threads", calls.append)
    where = ["--data-dir", str(tmp_path / "data"), "--results-dir", str(tmp_path / "r")]
    code, _, err = cli("train", "bias", "--dataset", "synthetic", "--threads", "1", *where)
    assert code == 0 and calls == [1], err
    code, _, err = cli("sweep", "--methods", "constant", "--datasets", "synthetic", "--threads", "1", *where)
    assert code == 0 and calls == [1, 1], err
    for command in (["train", "bias"], ["sweep", "--methods", "bias"], ["tune", "bias", "--trials", "1"]):
        code, _, err = cli(
            *command,
            "--dataset" if command[0] != "sweep" else "--datasets",
            "synthetic",
            "--threads",
            "0",
            *where,
        )
        assert code == 1 and "--threads 0" in err, command
