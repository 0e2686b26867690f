"""Tests for coldbench.training.metrics against independent computations (sklearn, hand-worked cases)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import (
    log_loss,
    mean_absolute_error,
    mean_squared_error,
    ndcg_score,
    roc_auc_score,
)

from coldbench.errors import ColdbenchError
from coldbench.training.metrics import (
    METRICS,
    Metric,
    aggregate,
    auc,
    mae,
    metric_names,
    mse,
    ndcg_at_k,
    per_user_metrics,
    tie_break_keys,
    weighted_nel,
)

LOG2_3 = math.log2(3)  # discount of rank 2: log2(1 + 2) = 1.5849625...


# --------------------------------------------------------------------------- registry


def test_metric_registry_directions_and_tasks() -> None:
    expected = {
        "mse": (False, "rating"),
        "mae": (False, "rating"),
        "ndcg@3": (True, "rating"),
        "ndcg@5": (True, "rating"),
        "ndcg_lin@3": (True, "rating"),
        "ndcg_lin@5": (True, "rating"),
        "auc": (True, "ctr"),
        "nel": (False, "ctr"),
    }
    assert {name: (m.higher_is_better, m.task) for name, m in METRICS.items()} == expected
    assert all(m.name == name for name, m in METRICS.items())


def test_metric_rejects_unknown_task() -> None:
    with pytest.raises(ValueError, match="task"):
        Metric("x", higher_is_better=True, task="ranking")


@pytest.mark.parametrize("task", ["rating", "ctr"])
def test_default_columns_are_the_registered_metrics_of_the_task(task: str) -> None:
    registered = {name for name, m in METRICS.items() if m.task == task}
    assert set(metric_names(task)) == registered


def test_unknown_task_is_a_coldbench_error() -> None:
    frame = pd.DataFrame({"user": [1], "target": [1.0], "prediction": [1.0]})
    with pytest.raises(ColdbenchError, match="ranking"):
        per_user_metrics(frame, task="ranking")


# --------------------------------------------------------------------------- mse / mae

SIZES = [1, 2, 4, 7, 30]


@pytest.mark.parametrize("n", SIZES)
def test_mse_mae_match_sklearn(n: int) -> None:
    rng = np.random.default_rng(100 + n)
    y = rng.integers(1, 6, n).astype(float)
    p = rng.normal(3.0, 1.5, n)
    assert mse(y, p) == pytest.approx(mean_squared_error(y, p), rel=1e-12)
    assert mae(y, p) == pytest.approx(mean_absolute_error(y, p), rel=1e-12)


def test_mse_mae_hand_case() -> None:
    # errors: +1, -2, +0.5 -> squares 1, 4, 0.25 (mean 5.25/3 = 1.75); abs 1, 2, 0.5 (mean 3.5/3)
    assert mse([1, 4, 2], [2, 2, 2.5]) == pytest.approx(1.75)
    assert mae([1, 4, 2], [2, 2, 2.5]) == pytest.approx(3.5 / 3)


def test_scalar_metrics_reject_bad_input() -> None:
    with pytest.raises(ValueError, match="length"):
        mse([1, 2], [1])
    with pytest.raises(ValueError, match="at least one"):
        mae([], [])
    with pytest.raises(ValueError, match="positive integer"):
        ndcg_at_k([1, 2], [1, 2], 0)
    with pytest.raises(ValueError, match="0 or 1"):
        auc([0, 2], [0.1, 0.2])
    with pytest.raises(ValueError, match="0 or 1"):
        weighted_nel([0, 0.5], [0.1, 0.2])


# --------------------------------------------------------------------------- nDCG


@pytest.mark.parametrize("k", [3, 5])
@pytest.mark.parametrize("n", [2, 3, 4, 7, 30])
def test_ndcg_matches_sklearn_with_exponential_gains(n: int, k: int) -> None:
    # sklearn uses linear gains and a log2(1 + rank) discount, so relevance 2**y - 1 gives ours.
    # Continuous random predictions are tie-free (sklearn averages over ties, we do not).
    rng = np.random.default_rng(10 * n + k)
    for _ in range(20):
        y = rng.integers(0, 6, n).astype(float)
        y[rng.integers(n)] = rng.integers(1, 6)  # at least one positive gain
        p = rng.normal(size=n)
        expected = ndcg_score([2.0**y - 1.0], [p], k=k)
        assert ndcg_at_k(y, p, k) == pytest.approx(expected, rel=1e-12)


def test_ndcg_hand_worked() -> None:
    # y = [3, 1, 2, 0], p = [0.1, 0.9, 0.5, 0.3], k = 3.
    # Ranked by p: item1 (y=1, gain 1), item2 (y=2, gain 3), item3 (y=0, gain 0).
    #   DCG@3  = 1/log2(2) + 3/log2(3) + 0/log2(4) = 1 + 1.8927893 + 0 = 2.8927893
    # Ideal order: y = 3, 2, 1 -> gains 7, 3, 1.
    #   IDCG@3 = 7/1 + 3/log2(3) + 1/log2(4) = 7 + 1.8927893 + 0.5 = 9.3927893
    # nDCG@3 = 2.8927893 / 9.3927893 = 0.3079798
    value = ndcg_at_k([3, 1, 2, 0], [0.1, 0.9, 0.5, 0.3], 3)
    assert value == pytest.approx((1 + 3 / LOG2_3) / (7 + 3 / LOG2_3 + 0.5), rel=1e-12)
    assert value == pytest.approx(0.3079798, abs=1e-7)


def test_ndcg_ties_keep_original_order() -> None:
    # All predictions equal: the ranking is the original order, y = [0, 2, 1] -> gains 0, 3, 1.
    #   DCG@2  = 0/1 + 3/log2(3) = 1.8927893
    #   IDCG@2 = 3/1 + 1/log2(3) = 3 + 0.6309298 = 3.6309298
    #   nDCG@2 = 1.8927893 / 3.6309298 = 0.5212960
    value = ndcg_at_k([0, 2, 1], [0.4, 0.4, 0.4], 2)
    assert value == pytest.approx((3 / LOG2_3) / (3 + 1 / LOG2_3), rel=1e-12)
    assert value == pytest.approx(0.5212960, abs=1e-7)
    # Reversed order would rank the gain-1 item first: 1 + 3/log2(3), a different value.
    assert ndcg_at_k([1, 2, 0], [0.4, 0.4, 0.4], 2) != pytest.approx(value)
    # Repeated calls are deterministic.
    assert all(ndcg_at_k([0, 2, 1], [0.4, 0.4, 0.4], 2) == value for _ in range(5))


def test_ndcg_partial_tie_earlier_item_first() -> None:
    # p = [0.5, 0.9, 0.5]: item1 first, then the tie item0 before item2.
    # y = [2, 0, 1] -> ranked gains 0, 3, 1; DCG@2 = 0 + 3/log2(3); IDCG@2 = 3 + 1/log2(3)
    value = ndcg_at_k([2, 0, 1], [0.5, 0.9, 0.5], 2)
    assert value == pytest.approx((3 / LOG2_3) / (3 + 1 / LOG2_3), rel=1e-12)


def test_ndcg_fewer_items_than_k_uses_all() -> None:
    # Two items, k = 5: the cutoff is 2. Ranked gains (p desc): 1, 3 -> DCG = 1 + 3/log2(3);
    # ideal 3, 1 -> IDCG = 3 + 1/log2(3).
    value = ndcg_at_k([1, 2], [0.9, 0.1], 5)
    assert value == pytest.approx((1 + 3 / LOG2_3) / (3 + 1 / LOG2_3), rel=1e-12)
    assert value == ndcg_at_k([1, 2], [0.9, 0.1], 2)


def test_ndcg_single_item_and_all_zero_ratings() -> None:
    assert ndcg_at_k([4], [0.2], 3) == 1.0
    assert math.isnan(ndcg_at_k([0], [0.2], 3))
    assert math.isnan(ndcg_at_k([0, 0, 0], [0.3, 0.1, 0.2], 3))
    # One positive rating anywhere gives a defined value.
    assert ndcg_at_k([0, 0, 1], [0.3, 0.2, 0.1], 3) == pytest.approx(1 / 2.0)


def test_ndcg_perfect_ranking_is_one() -> None:
    assert ndcg_at_k([5, 3, 1, 0, 2], [0.9, 0.7, 0.3, 0.1, 0.5], 3) == pytest.approx(1.0)


# --------------------------------------------------------------------------- AUC


@pytest.mark.parametrize("n", [2, 3, 4, 7, 30])
def test_auc_matches_sklearn_with_ties(n: int) -> None:
    rng = np.random.default_rng(300 + n)
    for _ in range(20):
        y = rng.integers(0, 2, n)
        y[0], y[1] = 1, 0  # both classes present
        y = rng.permutation(y)
        p = rng.integers(0, 4, n) / 4.0  # a coarse grid: many ties
        assert auc(y, p) == pytest.approx(roc_auc_score(y, p), rel=1e-12)


def test_auc_hand_case_with_tie() -> None:
    # positives score 0.8, 0.5; negatives 0.5, 0.2. Pairs: (0.8>0.5)=1, (0.8>0.2)=1,
    # (0.5=0.5)=1/2, (0.5>0.2)=1 -> 3.5 / 4 = 0.875
    assert auc([1, 1, 0, 0], [0.8, 0.5, 0.5, 0.2]) == pytest.approx(0.875)


def test_auc_single_class_is_nan() -> None:
    assert math.isnan(auc([1], [0.3]))
    assert math.isnan(auc([0, 0, 0], [0.3, 0.2, 0.1]))
    assert math.isnan(auc([1, 1], [0.3, 0.2]))


# --------------------------------------------------------------------------- weighted NEL


def test_weighted_nel_hand_case() -> None:
    # click, p=0.8:     -0.9 * log(0.8) = 0.9 * 0.2231436 = 0.2008292
    # non-click, p=0.4: -0.1 * log(0.6) = 0.1 * 0.5108256 = 0.0510826
    # mean over the 2 items: (0.2008292 + 0.0510826) / 2 = 0.1259559
    assert weighted_nel([1, 0], [0.8, 0.4]) == pytest.approx(0.1259559, abs=1e-7)
    # Custom weights: (-1*log(0.8) - 1*log(0.6)) / 2
    expected = (-math.log(0.8) - math.log(0.6)) / 2
    assert weighted_nel([1, 0], [0.8, 0.4], w_click=1.0, w_nonclick=1.0) == pytest.approx(expected)


def test_weighted_nel_clips_probabilities() -> None:
    # p = 0 for a click is clipped to eps = 1e-7: -0.9 * log(1e-7) = 0.9 * 16.1180957 = 14.5062861
    assert weighted_nel([1], [0.0]) == pytest.approx(-0.9 * math.log(1e-7), rel=1e-9)
    assert weighted_nel([0], [1.0]) == pytest.approx(-0.1 * math.log(1e-7), rel=1e-6)
    assert weighted_nel([1], [0.0], eps=1e-3) == pytest.approx(-0.9 * math.log(1e-3), rel=1e-9)


@pytest.mark.parametrize("n", SIZES)
def test_weighted_nel_matches_weighted_log_loss(n: int) -> None:
    # log_loss with sample weights is sum(w * l) / sum(w); ours is sum(w * l) / n.
    rng = np.random.default_rng(500 + n)
    y = rng.integers(0, 2, n)
    p = rng.uniform(0.01, 0.99, n)
    w = np.where(y == 1, 0.9, 0.1)
    expected = log_loss(y, p, sample_weight=w, labels=[0, 1]) * w.sum() / n
    assert weighted_nel(y, p) == pytest.approx(expected, rel=1e-10)


# --------------------------------------------------------------------------- per-user metrics


def _random_frame(rng: np.random.Generator, task: str, n_users: int, user_kind: str) -> pd.DataFrame:
    """Interleaved users with 1..12 rows each; coarse predictions so that ties occur."""
    sizes = rng.integers(1, 13, n_users)
    sizes[:3] = [1, 2, 4]
    ids = np.arange(n_users) * 7 % 101  # not contiguous, not in order
    users = np.repeat(ids, sizes)
    n = users.size
    if task == "rating":
        target = rng.integers(0, 6, n).astype(float)
        target[users == ids[3]] = 0.0  # a user whose nDCG is undefined
        prediction = np.round(rng.normal(3, 1, n), 1)
    else:
        target = rng.integers(0, 2, n).astype(float)
        target[users == ids[3]] = 1.0  # one class only: AUC undefined
        prediction = rng.integers(1, 10, n) / 10.0
    frame = pd.DataFrame({"user": users, "target": target, "prediction": prediction})
    frame = frame.iloc[rng.permutation(n)].reset_index(drop=True)
    if user_kind == "str":
        frame["user"] = [f"u{u:03d}" for u in frame["user"]]
    return frame


def _loop_reference(
    frame: pd.DataFrame, task: str, ks: tuple[int, ...], seed: int | None = 0
) -> pd.DataFrame:
    keys = tie_break_keys(len(frame), seed)
    rows = {}
    for user in sorted(frame["user"].unique()):
        mask = (frame["user"] == user).to_numpy()
        sub = frame[mask]
        y, p, key = sub["target"].to_numpy(), sub["prediction"].to_numpy(), keys[mask]
        if task == "rating":
            row = {"mse": mse(y, p), "mae": mae(y, p)}
            row.update({f"ndcg@{k}": ndcg_at_k(y, p, k, tie_break=key) for k in ks})
            row.update({f"ndcg_lin@{k}": ndcg_at_k(y, p, k, "linear", tie_break=key) for k in ks})
        else:
            row = {"auc": auc(y, p), "nel": weighted_nel(y, p)}
        row["n_query"] = len(sub)
        rows[user] = row
    out = pd.DataFrame.from_dict(rows, orient="index")
    out.index.name = "user"
    out["n_query"] = out["n_query"].astype(np.int64)
    return out


@pytest.mark.filterwarnings("error")
@pytest.mark.parametrize("user_kind", ["int", "str"])
@pytest.mark.parametrize("task", ["rating", "ctr"])
def test_per_user_metrics_match_scalar_loop(task: str, user_kind: str) -> None:
    rng = np.random.default_rng(7 if task == "rating" else 8)
    frame = _random_frame(rng, task, n_users=60, user_kind=user_kind)
    got = per_user_metrics(frame, task=task)
    expected = _loop_reference(frame, task, (3, 5))
    assert list(got.columns) == [*metric_names(task), "n_query"]
    assert got.index.is_monotonic_increasing
    assert got.isna().to_numpy().sum() >= 1  # the undefined user is NaN, not dropped
    pd.testing.assert_frame_equal(
        got, expected, check_exact=False, rtol=1e-12, atol=1e-14, check_index_type=False
    )


@pytest.mark.parametrize("task", ["rating", "ctr"])
def test_per_user_metrics_nan_predictions_match_scalar_loop(task: str) -> None:
    # A diverged model: NaN scores give NaN mse/mae/auc/nel, and rank last for nDCG.
    frame = _random_frame(np.random.default_rng(13), task, n_users=15, user_kind="int")
    nan_rows = frame.index[frame["user"] == frame["user"].iloc[0]][:2]
    frame.loc[nan_rows, "prediction"] = np.nan
    got = per_user_metrics(frame, task=task)
    expected = _loop_reference(frame, task, (3, 5))
    pd.testing.assert_frame_equal(got, expected, check_exact=False, rtol=1e-12, atol=1e-14)
    # The affected user's mse (rating) or auc (ctr) is NaN.
    assert math.isnan(got.loc[frame["user"].iloc[0], metric_names(task)[0]])


def test_nan_scores() -> None:
    assert math.isnan(auc([1, 0, 1], [0.2, np.nan, 0.4]))
    # NaN ranks last: y = [1, 3] with p = [nan, 0.5] ranks item1 first -> perfect ranking.
    assert ndcg_at_k([1, 3], [np.nan, 0.5], 2) == pytest.approx(1.0)


def test_per_user_metrics_custom_cutoffs() -> None:
    frame = _random_frame(np.random.default_rng(9), "rating", n_users=20, user_kind="int")
    got = per_user_metrics(frame, ks=(1, 10))
    expected = _loop_reference(frame, "rating", (1, 10))
    assert list(got.columns) == ["mse", "mae", "ndcg@1", "ndcg@10", "ndcg_lin@1", "ndcg_lin@10", "n_query"]
    pd.testing.assert_frame_equal(got, expected, check_exact=False, rtol=1e-12, atol=1e-14)


def test_per_user_metrics_ties_follow_row_order() -> None:
    # Both users' predictions tie completely; user "a" rows in order y = 0, 2, 1 (as in the
    # scalar tie test: 0.5212960 at k=2), user "b" rows y = 1, 2, 0, interleaved with "a".
    frame = pd.DataFrame(
        {
            "user": ["b", "a", "a", "b", "a", "b"],
            "target": [1.0, 0.0, 2.0, 2.0, 1.0, 0.0],
            "prediction": [0.4] * 6,
        }
    )
    got = per_user_metrics(frame, ks=(2,), seed=None)
    assert list(got.index) == ["a", "b"]
    assert got.loc["a", "ndcg@2"] == pytest.approx((3 / LOG2_3) / (3 + 1 / LOG2_3), rel=1e-12)
    # b ranked in row order: gains 1, 3 -> (1 + 3/log2(3)) / (3 + 1/log2(3))
    assert got.loc["b", "ndcg@2"] == pytest.approx((1 + 3 / LOG2_3) / (3 + 1 / LOG2_3), rel=1e-12)
    assert list(got["n_query"]) == [3, 3]


def test_per_user_metrics_input_checks() -> None:
    with pytest.raises(ValueError, match="prediction"):
        per_user_metrics(pd.DataFrame({"user": [1], "target": [1.0]}))
    frame = pd.DataFrame({"user": [1, 1], "target": [1.0, 0.5], "prediction": [0.2, 0.3]})
    with pytest.raises(ValueError, match="0 or 1"):
        per_user_metrics(frame, task="ctr")
    with pytest.raises(ValueError, match="duplicate"):
        per_user_metrics(frame, ks=(3, 3))


# --------------------------------------------------------------------------- aggregate


def _hand_per_user() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "mse": [1.0, 3.0, 2.0, 6.0],
            "ndcg@3": [0.5, np.nan, 0.2, 0.4],
            "n_query": [5, 10, 3, 4],
        },
        index=pd.Index(["a", "b", "c", "d"], name="user"),
    )


def test_aggregate_overall_only() -> None:
    result = aggregate(_hand_per_user())
    # mse: (1 + 3 + 2 + 6) / 4 = 3.0; ndcg@3 skips b's NaN: (0.5 + 0.2 + 0.4) / 3 = 1.1 / 3
    assert set(result) == {"overall"}
    assert result["overall"]["mse"] == pytest.approx(3.0)
    assert result["overall"]["ndcg@3"] == pytest.approx(1.1 / 3)
    assert result["overall"]["n_users"] == 4
    assert "n_query" not in result["overall"]


@pytest.mark.filterwarnings("error")
def test_aggregate_major_minor() -> None:
    # Flags given in another order than the frame: major = {a, b}, minor = {c, d}.
    major = pd.Series({"d": False, "b": True, "c": False, "a": True})
    result = aggregate(_hand_per_user(), major)
    assert set(result) == {"overall", "major", "minor"}
    # major: mse (1 + 3) / 2 = 2.0; ndcg@3 only a has a value: 0.5
    assert result["major"] == pytest.approx({"mse": 2.0, "ndcg@3": 0.5, "n_users": 2})
    # minor: mse (2 + 6) / 2 = 4.0; ndcg@3 (0.2 + 0.4) / 2 = 0.3
    assert result["minor"] == pytest.approx({"mse": 4.0, "ndcg@3": 0.3, "n_users": 2})
    assert result["overall"]["n_users"] == 4


@pytest.mark.filterwarnings("error")
def test_aggregate_all_nan_group_and_empty_group() -> None:
    per_user = _hand_per_user()
    # major = {b} only: its ndcg@3 is NaN (no value, no warning); minor = the other three.
    result = aggregate(per_user, pd.Series([False, True, False, False], index=per_user.index))
    assert math.isnan(result["major"]["ndcg@3"])
    assert result["major"]["mse"] == pytest.approx(3.0)
    assert result["minor"]["n_users"] == 3
    # Nobody major: an empty group has NaN metrics and 0 users.
    result = aggregate(per_user, pd.Series(False, index=per_user.index))
    assert result["major"]["n_users"] == 0
    assert math.isnan(result["major"]["mse"])
    assert result["minor"]["mse"] == pytest.approx(3.0)


def test_aggregate_rejects_missing_or_non_boolean_flags() -> None:
    per_user = _hand_per_user()
    with pytest.raises(ValueError, match="missing"):
        aggregate(per_user, pd.Series({"a": True, "b": False, "c": True}))
    with pytest.raises(ValueError, match="boolean"):
        aggregate(per_user, pd.Series([1, 0, 1, 0], index=per_user.index))


def test_aggregate_of_per_user_metrics_end_to_end() -> None:
    frame = _random_frame(np.random.default_rng(12), "rating", n_users=30, user_kind="int")
    per_user = per_user_metrics(frame)
    major = pd.Series(per_user["n_query"] > 6, index=per_user.index)
    result = aggregate(per_user, major)
    for group, mask in (("overall", np.ones(len(per_user), bool)), ("major", major), ("minor", ~major)):
        sub = per_user[np.asarray(mask)]
        assert result[group]["n_users"] == len(sub)
        for name in metric_names("rating"):
            assert result[group][name] == pytest.approx(float(np.nanmean(sub[name])), rel=1e-12)


@pytest.mark.parametrize(("n", "k"), [(5, 3), (12, 5), (3, 5)])
def test_linear_ndcg_matches_sklearn(n: int, k: int) -> None:
    rng = np.random.default_rng(n * 31 + k)
    for _ in range(20):
        y = rng.integers(0, 6, n).astype(float)
        if y.sum() == 0:
            continue
        p = rng.normal(size=n)  # tie-free
        assert ndcg_at_k(y, p, k, "linear") == pytest.approx(ndcg_score([y], [p], k=k), rel=1e-12)


def test_linear_ndcg_hand_worked() -> None:
    # y = [3, 1, 2], ranked by p: item0 (3), item2 (2) at k=2: dcg = 3 + 2/log2(3); ideal the same
    assert ndcg_at_k([3, 1, 2], [0.9, 0.1, 0.5], 2, "linear") == pytest.approx(1.0)
    # ranked item1 (1), item2 (2): dcg = 1 + 2/log2(3), ideal = 3 + 2/log2(3)
    value = ndcg_at_k([3, 1, 2], [0.1, 0.9, 0.5], 2, "linear")
    assert value == pytest.approx((1 + 2 / LOG2_3) / (3 + 2 / LOG2_3))
    with pytest.raises(ValueError, match="gain"):
        ndcg_at_k([1, 2], [1, 2], 1, "cubic")


def test_tied_predictions_rank_in_a_seeded_random_order() -> None:
    """A constant predictor's nDCG averages, over tie-break seeds, to sklearn's tie-averaged value."""
    rng = np.random.default_rng(3)
    frame = pd.DataFrame(
        {"user": np.repeat(np.arange(40), 8), "target": rng.integers(1, 6, 320).astype(float)}
    )
    frame["prediction"] = 3.5
    values = [per_user_metrics(frame, ks=(3,), seed=s)["ndcg_lin@3"].mean() for s in range(200)]
    # scikit-learn averages the gains of tied items: the expected value under a random order.
    groups = [g for _, g in frame.groupby("user")]
    expected = np.mean([ndcg_score([g["target"]], [g["prediction"]], k=3) for g in groups])
    assert np.mean(values) == pytest.approx(expected, abs=3e-3)
    same = per_user_metrics(frame, ks=(3,), seed=5)
    pd.testing.assert_frame_equal(same, per_user_metrics(frame, ks=(3,), seed=5))
    assert not same.equals(per_user_metrics(frame, ks=(3,), seed=6))
    # Row order keeps the earlier item first: differs from a random order for some user.
    assert not same.equals(per_user_metrics(frame, ks=(3,), seed=None))
