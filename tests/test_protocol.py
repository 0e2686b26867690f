"""The paper's cold-start protocol, step by step, on small hand-built datasets."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from coldbench.data.protocol import (
    ProtocolConfig,
    apply_protocol,
    cold_start_users,
    label_major,
    major_values,
    split_users,
    support_query_roles,
)
from coldbench.data.sources.base import Feature, RawDataset
from coldbench.errors import ColdbenchError

MISSING = object()  # marker: the user has no row in the users table at all


def interactions_for(counts: dict[str, int]) -> pd.DataFrame:
    """``counts[user]`` interactions per user, with items i1, i2, … and ratings cycling 1..5."""
    rows = [(user, f"i{j + 1}", float(j % 5 + 1)) for user, n in counts.items() for j in range(n)]
    return pd.DataFrame(rows, columns=["user_id", "item_id", "rating"])


def raw_dataset(counts: dict[str, int], features: dict[str, dict[str, object]]) -> RawDataset:
    """A RawDataset: ``features[user]`` maps feature name → value (None/NaN = missing)."""
    interactions = interactions_for(counts)
    names = sorted({name for values in features.values() for name in values})
    users = pd.DataFrame(
        [{"user_id": user, **values} for user, values in features.items()], columns=["user_id", *names]
    )
    n_items = max(counts.values())
    items = pd.DataFrame(
        {"item_id": [f"i{j + 1}" for j in range(n_items)], "kind": [f"k{j % 3}" for j in range(n_items)]}
    )
    return RawDataset(
        name="toy",
        interactions=interactions,
        users=users,
        items=items,
        user_features=[Feature(name) for name in names],
        item_features=[Feature("kind")],
        rating_scale=(1.0, 5.0),
    )


# ---------------------------------------------------------------- step 1: cold-start users


def test_cold_start_users_keeps_fewest_with_numeric_tie_break() -> None:
    counts = {"3": 5, "10": 1, "2": 3, "9": 1, "1": 2}
    interactions = interactions_for(counts)
    # round(0.8 * 5) = 4: the user with 5 interactions goes; "9" sorts before "10" (numerically).
    assert cold_start_users(interactions, 0.8).tolist() == ["9", "10", "1", "2"]
    assert cold_start_users(interactions, 0.4).tolist() == ["9", "10"]  # round(2.0) = 2
    assert cold_start_users(interactions, 0.5).tolist() == ["9", "10"]  # round(2.5) = 2
    assert cold_start_users(interactions, 0.3).tolist() == ["9", "10"]  # round(1.5) = 2
    assert cold_start_users(interactions, 0.1).tolist() == []  # round(0.5) = 0
    assert cold_start_users(interactions, 1.0).tolist() == ["9", "10", "1", "2", "3"]


def test_cold_start_users_text_ids_tie_break_as_text() -> None:
    counts = {"c9": 1, "b": 4, "c10": 1, "a": 1, "d": 2}
    # not every id is a number, so ties sort as text: "a" < "c10" < "c9"
    assert cold_start_users(interactions_for(counts), 0.8).tolist() == ["a", "c10", "c9", "d"]


def test_cold_start_users_counts_ten_users() -> None:
    counts = {str(u): u for u in range(1, 11)}  # user u has u interactions
    kept = cold_start_users(interactions_for(counts), 0.8)
    assert kept.tolist() == [str(u) for u in range(1, 9)]  # round(8.0): users 9 and 10 go


# ---------------------------------------------------------------- step 2: user split


@pytest.mark.parametrize(
    ("n", "expected"),
    [(100, (70, 10, 20)), (10, (7, 1, 2)), (1000, (700, 100, 200)), (37, (26, 4, 7))],
)
def test_split_users_counts(n: int, expected: tuple[int, int, int]) -> None:
    users = pd.Index([str(u) for u in range(n)])
    split = split_users(users, (0.7, 0.1, 0.2), seed=0)
    counts = split.value_counts()
    assert (counts.get("train", 0), counts.get("valid", 0), counts.get("test", 0)) == expected
    # every user exactly once
    assert len(split) == n
    assert split.index.is_unique
    assert set(split.index) == set(users)


def test_split_users_ratio_scale_does_not_matter_for_round_cases() -> None:
    users = pd.Index([str(u) for u in range(100)])
    a = split_users(users, (0.7, 0.1, 0.2), seed=3)
    b = split_users(users, (7.0, 1.0, 2.0), seed=3)
    pd.testing.assert_series_equal(a, b)


@pytest.mark.parametrize("n", [45, 85, 165])
def test_split_users_ratio_scale_does_not_matter(n: int) -> None:
    users = pd.Index([str(u) for u in range(n)])
    a = split_users(users, (0.7, 0.1, 0.2), seed=0).value_counts().to_dict()
    b = split_users(users, (7.0, 1.0, 2.0), seed=0).value_counts().to_dict()
    assert a == b


def test_split_users_seeded() -> None:
    users = pd.Index([str(u) for u in range(100)])
    first = split_users(users, (0.7, 0.1, 0.2), seed=0)
    again = split_users(users, (0.7, 0.1, 0.2), seed=0)
    other = split_users(users, (0.7, 0.1, 0.2), seed=1)
    pd.testing.assert_series_equal(first, again)
    assert not first.equals(other.reindex(first.index))
    assert (first != other.reindex(first.index)).sum() > 10
    # the order users are given in does not matter: they are sorted by id first
    shuffled = users[np.random.default_rng(5).permutation(len(users))]
    pd.testing.assert_series_equal(split_users(shuffled, (0.7, 0.1, 0.2), seed=0), first)


def test_split_users_zero_ratio_split_is_empty() -> None:
    users = pd.Index([str(u) for u in range(20)])
    counts = split_users(users, (3, 0, 1), seed=0).value_counts().to_dict()
    assert counts == {"train": 15, "test": 5}


# ---------------------------------------------------------------- step 4: support / query


def test_support_query_sizes_both_sides_non_empty() -> None:
    sizes = {0: 2, 1: 3, 2: 5, 3: 10}
    expected_support = {0: 1, 1: 2, 2: 4, 3: 8}  # clip(round(0.8 n), 1, n - 1)
    codes = np.repeat(list(sizes), list(sizes.values()))
    codes = codes[np.random.default_rng(0).permutation(len(codes))]  # rows in any order
    roles = support_query_roles(codes, 0.8, seed=0)
    assert len(roles) == len(codes)
    assert set(roles) == {"support", "query"}
    for user, n in sizes.items():
        mine = roles[codes == user]
        assert (mine == "support").sum() == expected_support[user]
        assert (mine == "query").sum() == n - expected_support[user]


@pytest.mark.parametrize(("fraction", "n", "support"), [(0.5, 2, 1), (0.99, 4, 3), (0.01, 4, 1), (0.5, 5, 2)])
def test_support_query_clipped(fraction: float, n: int, support: int) -> None:
    roles = support_query_roles(np.zeros(n, dtype=int), fraction, seed=0)
    assert (roles == "support").sum() == support
    assert (roles == "query").sum() == n - support


def test_support_query_seeded() -> None:
    codes = np.repeat(np.arange(20), 10)
    first = support_query_roles(codes, 0.8, seed=0)
    np.testing.assert_array_equal(first, support_query_roles(codes, 0.8, seed=0))
    other = support_query_roles(codes, 0.8, seed=1)
    assert (first != other).sum() > 10
    # per-user counts do not depend on the seed
    for user in range(20):
        assert (other[codes == user] == "support").sum() == 8


# ---------------------------------------------------------------- step 5: major / minor


def test_major_values_top_ceil_thirty_percent() -> None:
    # 7 distinct values -> ceil(2.1) = 3; the tie at count 2 goes to "b" and "c" (text order), not "d"
    values = pd.Series(["a"] * 4 + ["d"] * 2 + ["c"] * 2 + ["b"] * 2 + ["e", "f", "g"])
    assert major_values(values, 0.3) == ["a", "b", "c"]
    # 2 distinct values -> ceil(0.6) = 1; a tie goes to the smaller text
    assert major_values(pd.Series(["y", "x"]), 0.3) == ["x"]
    assert major_values(pd.Series(["y", "y", "x"]), 0.3) == ["y"]
    # 10 values -> 3, 11 values -> 4
    assert len(major_values(pd.Series([f"v{i:02d}" for i in range(10)]), 0.3)) == 3
    assert len(major_values(pd.Series([f"v{i:02d}" for i in range(11)]), 0.3)) == 4
    # ties compare as text, so "10" sorts before "9"
    assert major_values(pd.Series(["9", "10", "8"]), 0.3) == ["10"]
    assert major_values(pd.Series(["a", "b", "c", "d"]), 1.0) == ["a", "b", "c", "d"]


# Eight users, four features; hand-worked below.
#   f1: A A A B B C C D -> A3 B2 C2 D1, 4 values -> top 2: A, B (B beats C on text)
#   f2: P Q P Q R S P Q -> P3 Q3 R1 S1            -> top 2: P, Q
#   f3: X X Y Z W X Y Z -> X3 Y2 Z2 W1            -> top 2: X, Y (Y beats Z)
#   f4: M N M N O M O N -> M3 N3 O2, 3 values     -> top 1: M (M beats N)
# major features per user: u1 4, u2 3, u3 4, u4 2, u5 1, u6 2, u7 2, u8 1
FOUR = pd.DataFrame(
    {
        "user_id": [f"u{i}" for i in range(1, 9)],
        "f1": list("AAABBCCD"),
        "f2": list("PQPQRSPQ"),
        "f3": list("XXYZWXYZ"),
        "f4": list("MNMNOMON"),
    }
)
FEATURES = ["f1", "f2", "f3", "f4"]


def test_label_major_hand_worked() -> None:
    labelled, info = label_major(FOUR, FEATURES, ProtocolConfig())
    assert labelled["n_major_features"].tolist() == [4, 3, 4, 2, 1, 2, 2, 1]
    assert labelled["major"].tolist() == [True, True, True, False, False, False, False, False]
    assert info["n_major_values"] == {"f1": 2, "f2": 2, "f3": 2, "f4": 1}
    assert info["feature_share"] == {"f1": 5 / 8, "f2": 6 / 8, "f3": 5 / 8, "f4": 3 / 8}
    assert info["major_share"] == 3 / 8
    assert labelled["user_id"].tolist() == FOUR["user_id"].tolist()
    assert "major" not in FOUR.columns  # the input is not modified


def test_label_major_min_features_option() -> None:
    labelled, info = label_major(FOUR, FEATURES, ProtocolConfig(major_min_features=2))
    assert labelled["major"].tolist() == [True, True, True, True, False, True, True, False]
    assert info["major_share"] == 6 / 8
    labelled, _ = label_major(FOUR, FEATURES, ProtocolConfig(major_min_features=4))
    assert labelled["major"].tolist() == [True, False, True, False, False, False, False, False]


def test_label_major_value_fraction_option() -> None:
    # 0.5: f4 gets ceil(1.5) = 2 major values (M, N); f1-f3 keep ceil(2.0) = 2
    labelled, info = label_major(FOUR, FEATURES, ProtocolConfig(major_value_fraction=0.5))
    assert info["n_major_values"] == {"f1": 2, "f2": 2, "f3": 2, "f4": 2}
    assert labelled["n_major_features"].tolist() == [4, 4, 4, 3, 1, 2, 2, 2]
    assert labelled["major"].sum() == 4
    # 0.25: one major value each (A, P, X, M)
    labelled, info = label_major(FOUR, FEATURES, ProtocolConfig(major_value_fraction=0.25))
    assert info["n_major_values"] == {"f1": 1, "f2": 1, "f3": 1, "f4": 1}
    assert labelled["n_major_features"].tolist() == [4, 2, 3, 0, 0, 2, 1, 0]
    assert labelled["major"].tolist() == [True, False, True, False, False, False, False, False]


def test_label_major_counts_over_basis() -> None:
    # Three extra basis rows make N the top f4 value; f1-f3 keep their tops (A,B / P,Q / X,Y).
    extra = pd.DataFrame({"user_id": ["x1", "x2", "x3"], "f1": ["A"] * 3, "f2": ["P"] * 3,
                          "f3": ["X"] * 3, "f4": ["N"] * 3})  # fmt: skip
    basis = pd.concat([FOUR, extra], ignore_index=True)
    labelled, info = label_major(FOUR, FEATURES, ProtocolConfig(), basis=basis)
    assert len(labelled) == 8  # only the users are labelled, not the basis rows
    assert labelled["n_major_features"].tolist() == [3, 4, 3, 3, 1, 1, 2, 2]
    assert labelled["major"].tolist() == [True, True, True, True, False, False, False, False]
    assert info["feature_share"]["f4"] == 3 / 8  # u2, u4, u8 hold N


def test_label_major_missing_value_is_not_major() -> None:
    users = pd.DataFrame({"user_id": ["a", "b", "c"], "f": ["x", None, "x"]})
    labelled, info = label_major(users, ["f"], ProtocolConfig(major_min_features=1))
    assert labelled["major"].tolist() == [True, False, True]
    assert info["n_major_values"] == {"f": 1}


# ---------------------------------------------------------------- the whole protocol

# 20 users "1".."20"; user k has k interactions, except users 1 and 2 with one each.
# Cold cut: round(0.8 * 20) = 16 users with the fewest interactions: 1..16.
# Then users 1, 2 (one interaction) and 3, 4 (missing feature) are dropped: 12 kept (5..16).
# User 20 also misses its feature, but the cold cut removed it first, so it is not counted.
COUNTS = {str(k): (1 if k <= 2 else k) for k in range(1, 21)}
COLORS: dict[str, object] = {
    **{str(k): "green" for k in (1, 2)},
    "3": None,
    "4": np.nan,
    **{str(k): "red" for k in range(5, 10)},  # 5 prepared users
    **{str(k): "blue" for k in range(10, 14)},  # 4 prepared users
    **{str(k): "green" for k in range(14, 17)},  # 3 prepared users
    **{str(k): "blue" for k in range(17, 20)},  # cut: blue is the top value over all source users
    "20": None,
}


def toy(colors: dict[str, object] = COLORS, counts: dict[str, int] = COUNTS) -> RawDataset:
    return raw_dataset(counts, {user: {"color": color} for user, color in colors.items()})


def test_apply_protocol_drops_after_cold_cut_and_split() -> None:
    raw = toy()
    config = ProtocolConfig(major_min_features=1)
    tables = apply_protocol(raw, config)
    stats = tables.stats
    assert stats["users_in_source"] == 20
    assert stats["cold_start_users"] == 16
    assert stats["dropped_users"] == {"invalid_features": 2, "too_few_interactions": 2}
    assert stats["users"] == 12
    kept = [str(k) for k in range(5, 17)]
    assert tables.users["user_id"].tolist() == kept
    assert sorted(tables.interactions["user_id"].unique(), key=int) == kept
    assert stats["interactions"] == sum(range(5, 17)) == len(tables.interactions)
    # the split was drawn over all 16 cold-start users, before the filter
    cold = cold_start_users(raw.interactions, 0.8)
    expected = split_users(cold, (0.7, 0.1, 0.2), seed=0)
    assert tables.users.set_index("user_id")["split"].to_dict() == expected[kept].to_dict()
    users_per_split = {s: stats["splits"][s]["users"] for s in ("train", "valid", "test")}
    assert users_per_split == expected[kept].value_counts().to_dict()
    assert sum(users_per_split.values()) == 12


def test_apply_protocol_tables() -> None:
    tables = apply_protocol(toy(), ProtocolConfig(major_min_features=1))
    rows = tables.interactions
    assert rows.columns.tolist() == ["user_id", "item_id", "rating", "split", "role"]
    assert set(rows["role"]) == {"support", "query"}
    user_split = tables.users.set_index("user_id")["split"]
    assert (rows["split"] == rows["user_id"].map(user_split)).all()
    for user, group in rows.groupby("user_id"):
        n = int(user)  # user k has k interactions
        assert len(group) == n
        assert (group["role"] == "support").sum() == min(max(round(0.8 * n), 1), n - 1)
    for split in ("train", "valid", "test"):
        mine = rows[rows["split"] == split]
        counts = tables.stats["splits"][split]
        assert counts["interactions"] == len(mine)
        assert counts["support"] + counts["query"] == len(mine)
        assert counts["major_users"] + counts["minor_users"] == counts["users"]

    users = tables.users
    assert users.columns.tolist() == ["user_id", "split", "color", "n_major_features", "major"]
    # over the 12 prepared users: red 5, blue 4, green 3 -> 3 values, ceil(0.9) = 1 major value: red
    assert users.loc[users["major"], "user_id"].tolist() == ["5", "6", "7", "8", "9"]
    assert users["n_major_features"].tolist() == [1] * 5 + [0] * 7
    assert tables.stats["major"]["major_share"] == 5 / 12
    assert tables.stats["major"]["n_major_values"] == {"color": 1}

    items = tables.items
    # every raw item, even i17..i20 that only cut users rated; ids sorted as text ("i10" < "i2")
    assert items["item_id"].tolist() == sorted(f"i{j}" for j in range(1, 21))
    assert items.columns.tolist() == ["item_id", "kind"]


def test_apply_protocol_major_basis_source() -> None:
    # over every source user: blue 7, red 5, green 5 -> the one major value is blue
    tables = apply_protocol(toy(), ProtocolConfig(major_min_features=1, major_basis="source"))
    users = tables.users
    assert users.loc[users["major"], "user_id"].tolist() == ["10", "11", "12", "13"]
    assert tables.stats["major"]["major_share"] == 4 / 12
    assert tables.stats["major"]["basis"] == "source"
    prepared = apply_protocol(toy(), ProtocolConfig(major_min_features=1))
    assert prepared.stats["major"]["basis"] == "prepared"
    pd.testing.assert_frame_equal(prepared.interactions, tables.interactions)  # only labels change


def test_apply_protocol_user_without_profile_is_dropped() -> None:
    colors = {user: color for user, color in COLORS.items() if user != "7"}
    tables = apply_protocol(toy(colors), ProtocolConfig(major_min_features=1))
    assert tables.stats["dropped_users"] == {"invalid_features": 3, "too_few_interactions": 2}
    assert "7" not in set(tables.users["user_id"])
    assert "7" not in set(tables.interactions["user_id"])


def test_apply_protocol_min_interactions_option() -> None:
    tables = apply_protocol(toy(), ProtocolConfig(major_min_features=1, min_interactions=7))
    # among the 16 cold-start users: 1, 2 (one each) and 5, 6 (5 and 6 interactions) are too few
    assert tables.stats["dropped_users"] == {"invalid_features": 2, "too_few_interactions": 4}
    assert tables.users["user_id"].tolist() == [str(k) for k in range(7, 17)]


def test_apply_protocol_empty_split_raises() -> None:
    colors = {user: None for user in COLORS}
    with pytest.raises(
        ColdbenchError, match=r"the train split is empty after filtering \(0 users kept of 16\)"
    ):
        apply_protocol(toy(colors), ProtocolConfig(major_min_features=1))


def test_apply_protocol_empty_valid_split_names_it() -> None:
    # 10 clean users: 8 cold-start users split round(5.6)=6 / round(0.8)=1 / 1; dropping the
    # one validation user (too few interactions) empties that split.
    counts = {str(k): 3 for k in range(1, 11)}
    colors: dict[str, object] = {str(k): "c" for k in range(1, 11)}
    cold = cold_start_users(interactions_for(counts), 0.8)
    valid_user = split_users(cold, (0.7, 0.1, 0.2), seed=0).loc[lambda s: s == "valid"].index[0]
    counts[valid_user] = 1
    raw = toy(colors, counts)
    assert valid_user in cold_start_users(raw.interactions, 0.8)  # still a cold-start user
    with pytest.raises(ColdbenchError, match="the valid split is empty"):
        apply_protocol(raw, ProtocolConfig(major_min_features=1))


def test_apply_protocol_subset() -> None:
    counts = {str(k): 2 + k % 7 for k in range(1, 41)}
    colors: dict[str, object] = {str(k): f"c{k % 4}" for k in range(1, 41)}
    raw = toy(colors, counts)
    tables = apply_protocol(raw, ProtocolConfig(subset=20))
    assert tables.stats["users_in_source"] == 20
    assert tables.stats["cold_start_users"] == 16
    assert tables.stats["users"] == 16
    chosen = set(tables.users["user_id"])
    assert chosen < set(counts)
    again = apply_protocol(raw, ProtocolConfig(subset=20))
    pd.testing.assert_frame_equal(again.users, tables.users)
    other = apply_protocol(raw, ProtocolConfig(subset=20, seed=1))
    assert set(other.users["user_id"]) != chosen
    whole = apply_protocol(raw, ProtocolConfig(subset=40))  # a subset as large as the source: no-op
    pd.testing.assert_frame_equal(whole.interactions, apply_protocol(raw, ProtocolConfig()).interactions)


def test_apply_protocol_seeded() -> None:
    counts = {str(k): 2 + k % 9 for k in range(1, 61)}
    colors: dict[str, object] = {str(k): f"c{k % 5}" for k in range(1, 61)}
    raw = toy(colors, counts)
    first = apply_protocol(raw, ProtocolConfig())
    pd.testing.assert_frame_equal(apply_protocol(raw, ProtocolConfig()).interactions, first.interactions)
    other = apply_protocol(raw, ProtocolConfig(seed=1))
    assert set(other.users["user_id"]) == set(first.users["user_id"])  # same cold-start users
    assert not other.users["split"].equals(first.users["split"])
    assert not other.interactions["role"].equals(first.interactions["role"])


@pytest.mark.parametrize(
    ("kwargs", "words"),
    [
        ({"cold_fraction": 0.0}, "cold-fraction"),
        ({"split": (0.7, 0.3)}, "split"),
        ({"split": (1.0, -1.0, 1.0)}, "split"),
        ({"min_interactions": 1}, "min-interactions"),
        ({"support_fraction": 1.0}, "support-fraction"),
        ({"major_value_fraction": 0.0}, "major-fraction"),
        ({"major_min_features": 0}, "major-min-features"),
        ({"major_basis": "everyone"}, "major-basis"),
        ({"subset": 0}, "subset"),
    ],
)
def test_protocol_config_rejects(kwargs: dict, words: str) -> None:
    with pytest.raises(ColdbenchError, match=words):
        ProtocolConfig(**kwargs)


def test_protocol_config_to_dict() -> None:
    values = ProtocolConfig(seed=4, subset=9).to_dict()
    assert values["seed"] == 4
    assert values["subset"] == 9
    assert values["split"] == [0.7, 0.1, 0.2]
    assert values["version"] == 1
    assert math.isclose(values["cold_fraction"], 0.8)


def test_dataset_without_user_features_is_refused() -> None:
    from coldbench.data.sources.base import RawDataset

    raw = RawDataset(
        "bare",
        pd.DataFrame({"user_id": ["1", "1"], "item_id": ["a", "b"], "rating": [1.0, 2.0]}),
        pd.DataFrame({"user_id": []}),
        pd.DataFrame({"item_id": []}),
        [],
        [],
        (1.0, 5.0),
    )
    with pytest.raises(ColdbenchError, match="no user features"):
        apply_protocol(raw, ProtocolConfig())


def test_id_order_numeric_wherever_ids_are_numbers() -> None:
    """Integer ids sort by value; an odd id ('²', a huge number, text) goes after them as text
    and never turns the whole order into text order."""
    from coldbench.data.protocol import _id_order

    ids = pd.Index(["10", "9", "\u00b2", "100", "b", "1" * 30, "2", "a"])
    ordered = list(ids[_id_order(ids)])
    assert ordered == ["2", "9", "10", "100", "1" * 30, "a", "b", "\u00b2"]
    plain = pd.Index([str(i) for i in range(1, 48)])
    with_odd = plain.append(pd.Index(["\u00b2"]))
    assert list(with_odd[_id_order(with_odd)])[:47] == list(plain)


def test_paml_is_the_default_preset_and_describes_itself() -> None:
    config = ProtocolConfig()
    recorded = config.to_dict()
    assert recorded["name"] == "paml"
    assert (recorded["query_size"], recorded["max_interactions"], recorded["filter_before_split"]) == (
        None,
        None,
        False,
    )
    assert config.describe() == (
        "protocol paml: 0.8 of users with fewest ratings, 2+ ratings, support 0.8 of each user's "
        "ratings, users split 0.7:0.1:0.2, seed 0"
    )


def test_paml_refuses_a_query_size() -> None:
    with pytest.raises(ColdbenchError, match="query_size=10 conflicts with --protocol paml"):
        ProtocolConfig(query_size=10, support_fraction=None, min_interactions=13)


def test_a_repeated_user_item_pair_is_kept_once_with_its_last_rating() -> None:
    """Duplicate rows would put one pair in both support and query: the last row in source order
    stays, and the manifest's stats count what was dropped (clean data gets no such key)."""
    import dataclasses

    raw = toy()
    clean = apply_protocol(raw, ProtocolConfig(major_min_features=1))
    assert "repeated_pairs_dropped" not in clean.stats
    pairs = clean.interactions[["user_id", "item_id"]].iloc[[0, 7]]  # two pairs the protocol keeps
    extra = pd.concat([pairs.iloc[[0]], pairs.iloc[[1]], pairs.iloc[[1]]]).assign(rating=[2.0, 4.0, 1.0])
    doubled = dataclasses.replace(raw, interactions=pd.concat([raw.interactions, extra], ignore_index=True))
    tables = apply_protocol(doubled, ProtocolConfig(major_min_features=1))
    assert tables.stats["repeated_pairs_dropped"] == 3
    rows = tables.interactions
    assert len(rows) == len(clean.interactions) and not rows.duplicated(["user_id", "item_id"]).any()
    kept = rows.set_index(["user_id", "item_id"])["rating"]
    assert kept[tuple(pairs.iloc[0])] == 2.0 and kept[tuple(pairs.iloc[1])] == 1.0


@pytest.mark.parametrize("bad", [-1.0, 1e5, float("nan"), float("inf")])
def test_ratings_outside_the_scale_ndcg_can_score_are_refused(bad: float) -> None:
    import dataclasses

    raw = toy()
    ratings = raw.interactions["rating"].to_numpy(copy=True)
    ratings[3] = bad
    broken = dataclasses.replace(raw, interactions=raw.interactions.assign(rating=ratings))
    with pytest.raises(ColdbenchError, match=r"toy: rating .* must be finite and in \[0, 100\]"):
        apply_protocol(broken, ProtocolConfig(major_min_features=1))
