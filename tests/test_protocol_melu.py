"""MeLU's protocol preset (``--protocol melu``) on small invented datasets, and on ML-100K when present."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from coldbench.data.prepare import prepare
from coldbench.data.protocol import (
    PRESETS,
    ProtocolConfig,
    apply_protocol,
    describe_recorded,
    protocol_config,
    recorded_config,
)
from coldbench.data.sources.base import Feature, RawDataset
from coldbench.errors import ColdbenchError
from coldbench.report.runs import load_runs
from coldbench.report.tables import one_dataset
from coldbench.testing import write_fake_run

SYNTHETIC = {"users": "120", "items": "80", "mean_interactions": "25"}


def raw_with_counts(counts: dict[str, int], missing: tuple[str, ...] = ()) -> RawDataset:
    """User ``u`` rates ``counts[u]`` distinct items; users in ``missing`` lack their feature."""
    rows = [(user, f"i{j}", float(j % 5 + 1)) for user, n in counts.items() for j in range(n)]
    interactions = pd.DataFrame(rows, columns=["user_id", "item_id", "rating"])
    users = pd.DataFrame(
        {
            "user_id": list(counts),
            "color": [None if user in missing else f"c{k % 3}" for k, user in enumerate(counts)],
        }
    )
    n_items = max(counts.values())
    items = pd.DataFrame({"item_id": [f"i{j}" for j in range(n_items)], "kind": ["k"] * n_items})
    return RawDataset(
        name="toy",
        interactions=interactions,
        users=users,
        items=items,
        user_features=[Feature("color")],
        item_features=[Feature("kind")],
        rating_scale=(1.0, 5.0),
    )


# 20 users inside the bounds (13..100, both ends included) and two just outside each bound
INSIDE = {f"in{k}": 13 + (k * 87) // 19 for k in range(20)}
BOUNDS = {"few12": 12, "few2": 2, "many101": 101, "many150": 150, **INSIDE}


def melu_tables(counts: dict[str, int] = BOUNDS, seed: int = 0, **given: object):
    return apply_protocol(raw_with_counts(counts), protocol_config("melu", seed=seed, **given))


# ---------------------------------------------------------------- the preset


def test_preset_values_and_paml_default_unchanged() -> None:
    config = protocol_config("melu")
    assert (config.name, config.cold_fraction, config.min_interactions, config.max_interactions) == (
        "melu",
        1.0,
        13,
        100,
    )
    assert (config.query_size, config.support_fraction, config.filter_before_split) == (10, None, True)
    assert config.split == (0.8, 0.1, 0.1)
    assert protocol_config() == protocol_config("paml") == ProtocolConfig()
    assert ProtocolConfig().name == "paml" and ProtocolConfig().query_size is None


def test_user_filter_bounds_are_inclusive() -> None:
    assert min(INSIDE.values()) == 13 and max(INSIDE.values()) == 100
    tables = melu_tables()
    kept = set(tables.users["user_id"])
    assert kept == set(INSIDE)
    assert tables.stats["dropped_users"] == {
        "invalid_features": 0,
        "too_few_interactions": 2,
        "too_many_interactions": 2,
    }
    per_user = tables.interactions.groupby("user_id").size()
    assert per_user.to_dict() == INSIDE  # a kept user keeps every interaction


def test_no_cold_start_cut() -> None:
    stats = melu_tables().stats
    assert stats["cold_start_users"] == stats["users_in_source"] == len(BOUNDS)


def test_exactly_ten_query_items_the_rest_support() -> None:
    rows = melu_tables().interactions
    roles = rows.groupby("user_id")["role"].value_counts().unstack(fill_value=0)
    assert (roles["query"] == 10).all()
    assert (roles["support"] == pd.Series(INSIDE).reindex(roles.index) - 10).all()
    assert roles.loc["in0", "support"] == 3  # 13 ratings: 3 support, 10 query


def test_query_items_are_drawn_at_random_by_the_seed() -> None:
    def query_items(seed: int) -> set[tuple[str, str]]:
        rows = melu_tables(seed=seed).interactions
        return set(map(tuple, rows.loc[rows["role"] == "query", ["user_id", "item_id"]].to_numpy()))

    assert query_items(0) == query_items(0)
    assert query_items(0) != query_items(1)
    rows = melu_tables(seed=0).interactions
    last_ten = rows.groupby("user_id")["item_id"].apply(lambda items: set(items.iloc[-10:]))
    chosen = rows[rows["role"] == "query"].groupby("user_id")["item_id"].apply(set)
    assert not (last_ten == chosen).all()  # not simply the last ten rows of the file


def test_users_are_filtered_before_an_8_1_1_split() -> None:
    stats = melu_tables().stats
    sizes = [stats["splits"][name]["users"] for name in ("train", "valid", "test")]
    assert sizes == [16, 2, 2]  # 8:1:1 of the 20 kept users, not of all 24


def test_split_may_be_overridden() -> None:
    stats = melu_tables(split=(7, 1, 2)).stats
    assert [stats["splits"][name]["users"] for name in ("train", "valid", "test")] == [14, 2, 4]


def test_missing_features_are_dropped() -> None:
    tables = apply_protocol(raw_with_counts(INSIDE, missing=("in3",)), protocol_config("melu"))
    assert "in3" not in set(tables.users["user_id"])
    assert tables.stats["dropped_users"]["invalid_features"] == 1


# ---------------------------------------------------------------- conflicts


@pytest.mark.parametrize(
    ("field", "value", "option"),
    [
        ("support_fraction", 0.5, "--support-fraction"),
        ("cold_fraction", 0.8, "--cold-fraction"),
        ("min_interactions", 2, "--min-interactions"),
        ("support_fraction", 0.8, "--support-fraction"),  # even the paml default, when given
    ],
)
def test_conflicting_options_are_refused(field: str, value: object, option: str) -> None:
    with pytest.raises(ColdbenchError, match=f"{option} conflicts with --protocol melu"):
        protocol_config("melu", **{field: value})


def test_a_config_cannot_be_mislabelled() -> None:
    with pytest.raises(ColdbenchError, match="conflicts with --protocol melu"):
        ProtocolConfig(name="melu")  # the paml values under melu's name
    with pytest.raises(ColdbenchError, match="conflicts with --protocol paml"):
        ProtocolConfig(query_size=10, support_fraction=None, min_interactions=13)
    with pytest.raises(ColdbenchError, match="--protocol 'nosuch'"):
        protocol_config("nosuch")
    assert set(PRESETS) == {"paml", "melu"}


# ---------------------------------------------------------------- manifest, names, reuse


def test_manifest_records_every_parameter_and_the_name_is_distinct(tmp_path) -> None:
    melu = prepare("synthetic", config=protocol_config("melu"), options=SYNTHETIC, data_dir=tmp_path)
    assert melu.path.name == "synthetic-melu"
    recorded = melu.manifest["protocol"]
    assert recorded["name"] == "melu"
    expected = {
        "cold_fraction": 1.0,
        "min_interactions": 13,
        "max_interactions": 100,
        "query_size": 10,
        "support_fraction": None,
        "filter_before_split": True,
        "split": [0.8, 0.1, 0.1],
        "seed": 0,
        "version": 1,
    }
    assert {key: recorded[key] for key in expected} == expected
    assert set(recorded) == {*ProtocolConfig().to_dict()}
    assert recorded_config(recorded) == protocol_config("melu")

    paml = prepare("synthetic", options=SYNTHETIC, data_dir=tmp_path)
    assert paml.path.name == "synthetic" and paml.manifest["protocol"]["name"] == "paml"
    assert paml.manifest["protocol"]["query_size"] is None
    again = prepare("synthetic", config=protocol_config("melu"), options=SYNTHETIC, data_dir=tmp_path)
    assert again.reused
    seeded = prepare(
        "synthetic", config=protocol_config("melu", seed=2), options=SYNTHETIC, data_dir=tmp_path
    )
    assert seeded.path.name == "synthetic-melu-seed2"


def test_older_manifests_read_as_paml() -> None:
    old = {k: v for k, v in ProtocolConfig().to_dict().items()}
    for key in ("name", "max_interactions", "query_size", "filter_before_split"):
        old.pop(key)
    assert recorded_config(old) == ProtocolConfig()
    assert describe_recorded(old).startswith("protocol paml: 0.8 of users")
    assert "unreadable" in describe_recorded({"name": "melu", "seed": "x"})


# ---------------------------------------------------------------- CLI


def test_cli_prepare_melu_and_conflicts(cli, tmp_path) -> None:
    options = [f"-o{key}={value}" for key, value in SYNTHETIC.items()]
    home = ["--data-dir", str(tmp_path)]
    code, out, err = cli("prepare", "synthetic", "--protocol", "melu", *options, *home)
    assert code == 0, err
    assert "synthetic-melu" in out and "protocol melu: users with 13–100 ratings, 10 query items" in out
    for extra in (["--support-fraction", "0.5"], ["--cold-fraction", "0.8"], ["--min-interactions", "5"]):
        code, _, err = cli("prepare", "synthetic", "--protocol", "melu", *extra, *options, *home)
        assert code == 1
        assert err.strip().count("\n") == 0 and f"{extra[0]} conflicts with --protocol melu" in err
    code, _, err = cli("prepare", "synthetic", "--protocol", "MeLU", *options, *home)
    assert code == 1 and "expected one of paml, melu" in err
    code, out, err = cli("prepare", "synthetic", "--support-fraction", "0.5", *options, *home, "--name", "p")
    assert code == 0, err
    assert "protocol paml" in out and "support 0.5" in out


# ---------------------------------------------------------------- report captions


def test_caption_shows_the_protocol(tmp_path) -> None:
    per_user = pd.DataFrame(
        {
            "user_id": ["a", "b"],
            "major": [True, False],
            "n_support": [5, 7],
            "n_query": [10, 10],
            "inner_lr": [1e-5, 1e-5],
            "mse": [1.0, 2.0],
            "mae": [1.0, 1.2],
            "ndcg@3": [0.8, 0.7],
            "ndcg@5": [0.8, 0.7],
        }
    )
    folder = write_fake_run(tmp_path, "melu", 0, per_user, dataset="ml-100k-melu")
    config = json.loads((folder / "config.json").read_text())
    config["dataset_protocol"] = protocol_config("melu").to_dict()
    (folder / "config.json").write_text(json.dumps(config))
    write_fake_run(tmp_path, "melu", 0, per_user, dataset="old")  # recorded no protocol
    _, notes = one_dataset(load_runs(tmp_path), "ml-100k-melu")
    assert any(
        "protocol melu: users with 13–100 ratings, 10 query items each, the rest support, "
        "users split 0.8:0.1:0.1" in note
        for note in notes
    )
    _, notes = one_dataset(load_runs(tmp_path), "old")
    assert not any("protocol" in note for note in notes)


# ---------------------------------------------------------------- real data


def test_ml100k_under_melu(shared_data, tmp_path) -> None:
    folder = shared_data / "recbole-ml-100k"
    if not folder.is_dir():
        pytest.skip(f"{folder} not found")
    result = prepare("atomic", source=folder, config=protocol_config("melu"), data_dir=tmp_path)
    assert result.path.name == "ml-100k-melu"
    rows = pd.read_parquet(result.path / "interactions.parquet")
    raw = pd.read_csv(folder / "ml-100k.inter", sep="\t", usecols=[0], dtype=str)
    counts = raw.iloc[:, 0].value_counts()
    expected = set(counts[(counts >= 13) & (counts <= 100)].index)
    users = set(rows["user_id"])
    assert (
        users <= expected
        and len(expected - users) == result.manifest["stats"]["dropped_users"]["invalid_features"]
    )
    query = rows[rows["role"] == "query"].groupby("user_id").size()
    assert (query == 10).all() and len(query) == len(users)
    sizes = [result.manifest["stats"]["splits"][s]["users"] for s in ("train", "valid", "test")]
    assert sizes == [
        round(0.8 * len(users)),
        round(0.1 * len(users)),
        len(users) - sum([round(0.8 * len(users)), round(0.1 * len(users))]),
    ]
    assert np.isclose(result.manifest["stats"]["cold_start_users"], counts.size)
