"""MeLU's four cold-start states (``--item-split``): where every rating lands, and what each set sees."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import torch

from coldbench.data.features import encode
from coldbench.data.prepare import prepare
from coldbench.data.prepared import load_prepared
from coldbench.data.protocol import STATES, ProtocolConfig, protocol_config
from coldbench.errors import ColdbenchError
from coldbench.studies.tune import without_test
from coldbench.testing import TINY_SYNTHETIC

STATE_OF = {  # (split, role) → the states a row may have
    ("train", "support"): {"train"},
    ("train", "query"): {"train", "warm", "item-cold"},
    ("valid", "support"): {"support"},
    ("valid", "query"): {"user-cold", "user-item-cold"},
    ("test", "support"): {"support"},
    ("test", "query"): {"user-cold", "user-item-cold"},
}


@pytest.fixture(scope="module")
def prepared(tmp_path_factory):
    home = tmp_path_factory.mktemp("states")
    config = ProtocolConfig(item_split="random", new_item_fraction=0.25, warm_fraction=0.3)
    result = prepare("synthetic", config=config, options=TINY_SYNTHETIC, data_dir=home)
    return load_prepared(result.path.name, home)


def _rows(split) -> pd.DataFrame:
    """(user position, item, role) of every row of an encoded split."""
    frames = []
    for role in ("support", "query"):
        rows = getattr(split, role)
        users = np.repeat(np.arange(len(split.users)), rows.sizes())
        frames.append(pd.DataFrame({"user": split.user_ids[users], "item": rows.items, "role": role}))
    return pd.concat(frames, ignore_index=True)


def test_every_rating_lands_in_exactly_one_place(prepared):
    rows, items = prepared.interactions, prepared.items
    new = set(items.loc[items["new"], "item_id"])
    assert len(new) == round(0.25 * prepared.interactions["item_id"].nunique())
    is_new = rows["item_id"].isin(new)
    assert rows["state"].notna().all() and not rows.duplicated(["user_id", "item_id"]).any()
    for (split, role), allowed in STATE_OF.items():
        part = rows[(rows["split"] == split) & (rows["role"] == role)]
        assert set(part["state"]) <= allowed, (split, role, set(part["state"]))
    # new items only in item-cold and user-item-cold; existing items never there
    assert set(rows.loc[is_new, "state"]) == {"item-cold", "user-item-cold"}
    assert not rows.loc[~is_new, "state"].isin(["item-cold", "user-item-cold"]).any()
    # warm and item-cold are training users'; user-cold and user-item-cold are the others'
    training = rows["split"] == "train"
    assert set(rows.loc[training, "state"]) == {"train", "warm", "item-cold"}
    assert set(rows.loc[~training, "state"]) == {"support", "user-cold", "user-item-cold"}
    # the manifest counts each state as the table holds it
    counts = prepared.manifest["stats"]["states"]
    for state in ("train", "support", *STATES):
        part = rows[rows["state"] == state]
        assert counts[state] == {"users": part["user_id"].nunique(), "interactions": len(part)}
    assert sum(counts[s]["interactions"] for s in ("train", "support", *STATES)) == len(rows)


def test_warm_holdout_takes_its_share_and_leaves_two_rows_to_meta_train(prepared):
    rows = prepared.interactions
    existing = rows[(rows["split"] == "train") & rows["state"].isin(["train", "warm"])]
    per_user = existing.groupby("user_id")["state"].agg(n="size", warm=lambda s: int((s == "warm").sum()))
    expected = np.clip(np.rint(per_user["n"] * 0.3).astype(int), 0, per_user["n"] - 2)
    assert (per_user["warm"] == expected).all()
    assert ((per_user["n"] - per_user["warm"]) >= 2).all()


def test_no_new_item_and_no_evaluation_query_reaches_meta_training(prepared):
    data = encode(prepared)
    rows, items = prepared.interactions, prepared.items
    new = set(items.loc[items["new"], "item_id"])
    train = _rows(data.splits["train"]).assign(item=lambda f: data.item_ids[f["item"]])
    assert not train["item"].isin(new).any()
    held = rows[rows["state"].isin(["warm", "item-cold"])]
    seen = set(zip(train["user"], train["item"]))
    assert not seen & set(zip(held["user_id"], held["item_id"]))
    assert len(train) == (rows["state"] == "train").sum()


@pytest.mark.parametrize("state", STATES)
def test_each_state_set_adapts_on_existing_items_and_scores_its_own_rows(prepared, state):
    data = encode(prepared)
    rows, items = prepared.interactions, prepared.items
    new = set(items.loc[items["new"], "item_id"])
    part = _rows(data.splits[state]).assign(item=lambda f: data.item_ids[f["item"]])
    support, query = part[part["role"] == "support"], part[part["role"] == "query"]
    assert not support["item"].isin(new).any()  # adaptation sees existing items only
    want = rows[(rows["state"] == state) & ((rows["split"] == "test") | (state in ("warm", "item-cold")))]
    assert sorted(zip(query["user"], query["item"])) == sorted(zip(want["user_id"], want["item_id"]))
    support_state = "train" if state in ("warm", "item-cold") else "support"
    users = rows[rows["user_id"].isin(set(query["user"])) & (rows["state"] == support_state)]
    assert sorted(zip(support["user"], support["item"])) == sorted(zip(users["user_id"], users["item_id"]))


def test_validation_covers_user_cold_and_user_item_cold_and_tuning_reads_neither_test_nor_states(prepared):
    data = encode(prepared)
    rows = prepared.interactions
    valid = _rows(data.splits["valid"])
    want = rows[(rows["split"] == "valid") & (rows["role"] == "query")]
    assert set(want["state"]) == {"user-cold", "user-item-cold"}
    assert (valid["role"] == "query").sum() == len(want)
    assert set(without_test(data).splits) == {"train", "valid"}


def test_the_split_is_seeded_and_the_paper_protocol_is_unchanged(tmp_path):
    config = ProtocolConfig(item_split="random")
    first = prepare("synthetic", config=config, options=TINY_SYNTHETIC, data_dir=tmp_path / "a")
    again = prepare("synthetic", config=config, options=TINY_SYNTHETIC, data_dir=tmp_path / "b")
    other = prepare(
        "synthetic",
        config=ProtocolConfig(item_split="random", seed=1),
        options=TINY_SYNTHETIC,
        data_dir=tmp_path,
    )
    assert first.manifest["content_hash"] == again.manifest["content_hash"] != other.manifest["content_hash"]
    assert first.path.name == "synthetic-states-random"
    paper = prepare("synthetic", config=ProtocolConfig(), options=TINY_SYNTHETIC, data_dir=tmp_path / "a")
    assert "state" not in load_prepared(paper.path.name, tmp_path / "a").interactions
    assert "states" not in paper.manifest["stats"]
    recorded = json.loads((first.path / "manifest.json").read_text())["protocol"]
    assert (recorded["item_split"], recorded["new_item_fraction"], recorded["warm_fraction"]) == (
        "random",
        0.2,
        0.2,
    )


def test_year_split_needs_years_and_options_are_checked(tmp_path):
    with pytest.raises(
        ColdbenchError,
        match="--item-split year: synthetic records no release years of its items; use --item-split random",
    ):
        prepare(
            "synthetic", config=ProtocolConfig(item_split="year"), options=TINY_SYNTHETIC, data_dir=tmp_path
        )
    with pytest.raises(ColdbenchError, match="--item-split must be one of random, year, time"):
        protocol_config("paml", item_split="month")
    with pytest.raises(ColdbenchError, match="--new-items"):
        protocol_config("paml", item_split="random", new_item_fraction=1.0)


def test_year_split_on_ml100k_takes_the_latest_releases(shared_data, tmp_path):
    source = shared_data / "recbole-ml-100k"
    if not source.is_dir():
        pytest.skip("no ML-100K copy in shared data")
    config = ProtocolConfig(item_split="year")
    result = prepare("atomic", config=config, source=source, data_dir=tmp_path)
    prepared = load_prepared(result.path.name, tmp_path)
    years = pd.read_csv(
        source / "ml-100k.item", sep="\t", usecols=[0, 2], names=["item_id", "year"], header=0
    )
    years = pd.to_numeric(years.astype({"item_id": str}).set_index("item_id")["year"], errors="coerce")
    items = prepared.items.set_index("item_id")
    new_years = years.reindex(items.index[items["new"]])
    old_years = years.reindex(items.index[~items["new"]]).dropna()
    assert new_years.min() >= old_years.max()  # every new item is at least as recent as every existing one
    stats = result.manifest["stats"]["states"]
    assert all(stats[state]["interactions"] > 0 for state in STATES)


SMALL = {"embedding_dim": "4", "hidden": "[8]", "batch_size": "16", "epochs": "1", "outer_lr": "1e-3"}


@pytest.mark.parametrize("method", ["melu", "bias"])
def test_a_run_scores_every_state_and_reports_user_cold_as_its_test(prepared, tmp_path, method):
    from coldbench.training.metrics import aggregate
    from coldbench.training.trainer import train

    overrides = SMALL if method == "melu" else {}
    result = train(method, prepared, [0], overrides, device="cpu", results_dir=tmp_path)[0]
    metrics = result.metrics
    per_user = pd.read_parquet(result.path / "per_user.parquet")
    data = encode(prepared)
    assert list(per_user["state"].unique()) == list(STATES)
    for state in STATES:
        part = per_user[per_user["state"] == state].set_index("user_id")
        assert sorted(part.index) == sorted(data.splits[state].user_ids)
        want = aggregate(part[["mse", "mae"]], part["major"])
        assert metrics["states"][state]["overall"]["mse"] == pytest.approx(want["overall"]["mse"], rel=1e-12)
    assert metrics["test"] == metrics["states"]["user-cold"]
    predictions = pd.read_parquet(result.path / "predictions.parquet")
    new = set(prepared.items.loc[prepared.items["new"], "item_id"])
    assert (
        predictions.loc[predictions["item_id"].isin(new), "state"].isin(["item-cold", "user-item-cold"]).all()
    )


def test_bias_gives_a_new_item_no_item_bias(prepared):
    from coldbench.testing import build_method

    data = encode(prepared)
    _, method = build_method("bias", data)
    method.fit(data.splits["train"])
    new = torch.from_numpy(prepared.items["new"].to_numpy(dtype=bool).copy())
    assert (method.item_bias[new] == 0).all() and (method.item_bias[~new] != 0).any()


def test_a_paper_protocol_run_labels_its_users_user_cold(tmp_path):
    from coldbench.training.trainer import train

    result = prepare("synthetic", config=ProtocolConfig(), options=TINY_SYNTHETIC, data_dir=tmp_path)
    run = train(
        "bias", load_prepared(result.path.name, tmp_path), [0], {}, device="cpu", results_dir=tmp_path
    )[0]
    per_user = pd.read_parquet(run.path / "per_user.parquet")
    assert set(per_user["state"]) == {"user-cold"} and "states" not in run.metrics


def test_item_id_gives_a_new_item_the_unknown_zero_vector(prepared):
    from coldbench.config import TrainConfig
    from coldbench.data.features import item_id_table
    from coldbench.testing import build_method

    data = encode(prepared)
    table = item_id_table(data)
    new = prepared.items["new"].to_numpy(dtype=bool).copy()
    codes = table.codes[:, 0].numpy()
    assert (codes[new] == 0).all()
    train = data.splits["train"]
    trained = np.unique(np.r_[train.support.items, train.query.items])
    assert sorted(codes[trained]) == list(range(1, len(trained) + 1))  # one ID each, 1..K
    assert table.vocab_size == len(trained)
    model, _ = build_method("melu", data, train=TrainConfig(hidden=(8,), embedding_dim=4, item_id=True))
    vectors = model.item_embedding(torch.arange(len(codes)))
    id_part = vectors[:, -4:]  # the item-ID embedding comes last
    assert torch.count_nonzero(id_part[torch.from_numpy(new)]) == 0
    assert (id_part[torch.from_numpy(trained)].abs().sum(1) > 0).all()
    plain, _ = build_method("melu", data, train=TrainConfig(hidden=(8,), embedding_dim=4))
    assert vectors.shape[1] == plain.item_embedding(torch.arange(2)).shape[1] + 4


def test_clicks_get_the_four_states_too(tmp_path):
    from coldbench.training.trainer import train

    config = ProtocolConfig(task="ctr", item_split="random")
    result = prepare("synthetic", config=config, options=TINY_SYNTHETIC, data_dir=tmp_path)
    prepared = load_prepared(result.path.name, tmp_path)
    assert result.path.name == "synthetic-ctr-states-random"
    assert set(prepared.interactions["state"]) == {"train", "support", *STATES}
    run = train("user-mean", prepared, [0], {}, device="cpu", results_dir=tmp_path / "r")[0]
    assert set(run.metrics["states"]) == set(STATES) and "auc" in run.metrics["states"]["warm"]["overall"]


def test_time_split_on_ml100k_takes_the_latest_first_rated(shared_data, tmp_path):
    source = shared_data / "recbole-ml-100k"
    if not source.is_dir():
        pytest.skip("no ML-100K copy in shared data")
    result = prepare("atomic", config=ProtocolConfig(item_split="time"), source=source, data_dir=tmp_path)
    prepared = load_prepared(result.path.name, tmp_path)
    inter = pd.read_csv(
        source / "ml-100k.inter", sep="\t", header=0, names=["user", "item", "rating", "time"]
    )
    first = inter.astype({"item": str}).groupby("item")["time"].min()
    items = prepared.items.set_index("item_id")
    assert first.reindex(items.index[items["new"]]).min() >= first.reindex(items.index[~items["new"]]).max()


def test_bias_with_feature_item_bias_matches_a_direct_ridge_solve_for_new_items(prepared):
    """new_item_bias=features: a new item's b_i is x_i·β, β the ridge fit of the rated items' b_i on
    their multi-hot features (each value of a multi-valued feature weighted 1/count); checked
    against numpy's dense solve of (XᵀX + λI)β = Xᵀb. Rated items keep their own b_i."""
    from coldbench.testing import build_method

    data = encode(prepared)
    _, zero = build_method("bias", data)
    zero.fit(data.splits["train"])
    model, method = build_method("bias", data, new_item_bias="features", feature_ridge=3.0)
    method.fit(data.splits["train"])
    b = zero.item_bias.numpy()
    new = prepared.items["new"].to_numpy(dtype=bool)
    seen = b != 0  # every rated item of the tiny data has a non-zero bias
    assert seen[~new].any() and not seen[new].any()
    columns = []
    for index, table in enumerate(model.item_embedding.tables):
        codes = getattr(model.item_embedding, f"codes_{index}").numpy()
        onehot = np.zeros((codes.shape[0], table.num_embeddings))
        for row, values in enumerate(codes):
            picked = values[values > 0]
            onehot[row, picked] += 1.0 / max(len(picked), 1)
        columns.append(onehot)
    x = np.hstack(columns)
    beta = np.linalg.solve(x[seen].T @ x[seen] + 3.0 * np.eye(x.shape[1]), x[seen].T @ b[seen])
    got = method.item_bias.numpy()
    np.testing.assert_allclose(got[new], (x @ beta)[new], atol=1e-6)
    np.testing.assert_allclose(got[~new], b[~new])
    assert np.abs(got[new]).max() > 1e-3  # features say something about the new items
