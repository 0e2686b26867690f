"""Evaluation metrics for the rating and CTR tasks, per query and aggregated over users.

Every metric is a pure numpy function of one query's true targets and predictions. ``METRICS``
records each metric's task and whether higher is better. ``per_user_metrics`` computes all
metrics of a task for every user of a prediction frame in a few vectorised passes, and
``aggregate`` averages them over users (overall, and for major/minor users when given).

A metric that is undefined for a query (nDCG when all true ratings are 0, AUC when only one
class is present) is NaN; ``aggregate`` skips NaNs (a nanmean) and the per-user frame keeps
them, so callers can count the skipped users.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray

from coldbench.errors import ColdbenchError

TASKS = ("rating", "ctr")


@dataclass(frozen=True)
class Metric:
    """A metric's name, its direction, and the task (``"rating"`` or ``"ctr"``) it belongs to."""

    name: str
    higher_is_better: bool
    task: str

    def __post_init__(self) -> None:
        if self.task not in TASKS:
            raise ValueError(f"metric {self.name!r}: task must be one of {TASKS}, not {self.task!r}")


METRICS: dict[str, Metric] = {
    m.name: m
    for m in (
        Metric("mse", higher_is_better=False, task="rating"),
        Metric("mae", higher_is_better=False, task="rating"),
        Metric("ndcg@3", higher_is_better=True, task="rating"),
        Metric("ndcg@5", higher_is_better=True, task="rating"),
        Metric("ndcg_lin@3", higher_is_better=True, task="rating"),
        Metric("ndcg_lin@5", higher_is_better=True, task="rating"),
        Metric("auc", higher_is_better=True, task="ctr"),
        Metric("nel", higher_is_better=False, task="ctr"),
    )
}

USER_COLUMNS = ("user", "target", "prediction")


# --------------------------------------------------------------------------- scalar metrics


def _pair(y: ArrayLike, p: ArrayLike) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Both inputs as 1-D float arrays of the same, non-zero length."""
    y_arr = np.asarray(y, dtype=np.float64).reshape(-1)
    p_arr = np.asarray(p, dtype=np.float64).reshape(-1)
    if y_arr.shape != p_arr.shape:
        raise ValueError(f"targets and predictions differ in length: {y_arr.size} vs {p_arr.size}")
    if y_arr.size == 0:
        raise ValueError("a metric needs at least one item")
    return y_arr, p_arr


def _check_clicks(clicks: NDArray[np.float64]) -> None:
    if not np.isin(clicks, (0.0, 1.0)).all():
        raise ValueError("click labels must be 0 or 1")


def _check_k(k: int) -> None:
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise ValueError(f"the nDCG cutoff k must be a positive integer, not {k!r}")


def mse(y: ArrayLike, p: ArrayLike) -> float:
    """Mean squared error between true ratings ``y`` and predictions ``p``."""
    y_arr, p_arr = _pair(y, p)
    return float(np.mean((p_arr - y_arr) ** 2))


def mae(y: ArrayLike, p: ArrayLike) -> float:
    """Mean absolute error between true ratings ``y`` and predictions ``p``."""
    y_arr, p_arr = _pair(y, p)
    return float(np.mean(np.abs(p_arr - y_arr)))


def _discounts(n: int) -> NDArray[np.float64]:
    """``1 / log2(1 + rank)`` for ranks 1..n."""
    return 1.0 / np.log2(np.arange(2, n + 2, dtype=np.float64))


GAINS = ("exponential", "linear")


def _gains(y: NDArray[np.float64], gain: str) -> NDArray[np.float64]:
    """``2**r - 1`` (the paper's App. D.6) or ``r`` (scikit-learn's ``ndcg_score``)."""
    if gain == "exponential":
        return np.exp2(y) - 1.0
    if gain == "linear":
        return y.copy()
    raise ValueError(f"nDCG gain must be one of {GAINS}, not {gain!r}")


def ndcg_at_k(
    y: ArrayLike, p: ArrayLike, k: int, gain: str = "exponential", tie_break: ArrayLike | None = None
) -> float:
    """nDCG@k of one query: true ratings ``y`` ranked by predicted scores ``p``.

    Items are ranked by ``p`` descending. Tied predictions are ordered by ``tie_break``
    ascending (one key per item, e.g. seeded uniform draws: a random order), or keep the items'
    original order when ``tie_break`` is None. The gain of an item is ``2**rating - 1``
    (``gain="exponential"``, the paper's) or the rating itself (``"linear"``), and the item at
    rank r (from 1) is discounted by ``log2(1 + r)``. The DCG of the top ``min(k, len(y))`` items
    is divided by the ideal DCG (true ratings sorted descending) at the same cutoff.

    Returns NaN when the ideal DCG is 0 (every rating is 0): the query has nothing to rank.
    Callers average with a nanmean and count the skipped queries. Ratings are assumed >= 0.
    NaN predictions rank last.
    """
    _check_k(k)
    y_arr, p_arr = _pair(y, p)
    gains = _gains(y_arr, gain)
    cut = min(int(k), y_arr.size)
    disc = _discounts(cut)
    keys = np.arange(y_arr.size) if tie_break is None else np.asarray(tie_break, dtype=np.float64)
    order = np.lexsort((keys, -p_arr))[:cut]
    dcg = float(np.sum(gains[order] * disc))
    ideal = float(np.sum(np.sort(gains)[::-1][:cut] * disc))
    if ideal <= 0.0:
        return float("nan")
    return dcg / ideal


def auc(clicks: ArrayLike, p: ArrayLike) -> float:
    """ROC AUC of 0/1 ``clicks`` against scores ``p`` (Mann-Whitney U over average ranks).

    Tied scores get their average rank, so a tie between a click and a non-click counts 1/2.
    Returns NaN when only one class is present or any score is NaN.
    """
    y_arr, p_arr = _pair(clicks, p)
    _check_clicks(y_arr)
    n_pos = float(y_arr.sum())
    n_neg = y_arr.size - n_pos
    if n_pos == 0 or n_neg == 0 or np.isnan(p_arr).any():
        return float("nan")
    from scipy.stats import rankdata  # here, not at the top: training computes AUC per group without it

    ranks = rankdata(p_arr, method="average")
    rank_sum = float(ranks[y_arr == 1.0].sum())
    return (rank_sum - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg)


def _nel_terms(
    y: NDArray[np.float64], p: NDArray[np.float64], w_click: float, w_nonclick: float, eps: float
) -> NDArray[np.float64]:
    """Per-item weighted negative log-likelihood ``-w * [y log p + (1 - y) log(1 - p)]``."""
    q = np.clip(p, eps, 1.0 - eps)
    weights = np.where(y == 1.0, w_click, w_nonclick)
    return -weights * (y * np.log(q) + (1.0 - y) * np.log1p(-q))


def weighted_nel(
    clicks: ArrayLike,
    p: ArrayLike,
    w_click: float = 0.9,
    w_nonclick: float = 0.1,
    eps: float = 1e-7,
) -> float:
    """Weighted negative-entropy loss (the paper's App. D.6); lower is better.

    The mean over items of ``-w_j * [y_j log p_j + (1 - y_j) log(1 - p_j)]`` where ``w_j`` is
    ``w_click`` for a click and ``w_nonclick`` otherwise, and ``p`` (click probabilities) is
    clipped to ``[eps, 1 - eps]``. Note: it is a mean over items, not normalised by the sum of
    weights. The paper plots this quantity with its sign flipped (as a negative number, where
    higher looks better); here it is the non-negative loss.
    """
    y_arr, p_arr = _pair(clicks, p)
    _check_clicks(y_arr)
    return float(np.mean(_nel_terms(y_arr, p_arr, w_click, w_nonclick, eps)))


# --------------------------------------------------------------------------- per-user metrics


def metric_names(task: str, ks: Sequence[int] = (3, 5)) -> list[str]:
    """The per-user metric columns of ``task``, in the order ``per_user_metrics`` returns them."""
    if task == "rating":
        return ["mse", "mae", *(f"ndcg@{k}" for k in ks), *(f"ndcg_lin@{k}" for k in ks)]
    if task == "ctr":
        return ["auc", "nel"]
    raise ColdbenchError(f"Unknown task {task!r}. Available: {', '.join(TASKS)}")


def _group_sum(codes: NDArray[np.intp], values: NDArray[np.float64], n_groups: int) -> NDArray[np.float64]:
    return np.bincount(codes, weights=values, minlength=n_groups)


def _safe_ratio(num: NDArray[np.float64], den: NDArray[np.float64], valid: NDArray[np.bool_]) -> NDArray:
    """``num / den`` where ``valid``, NaN elsewhere, without warnings."""
    out = np.full(num.shape, np.nan)
    np.divide(num, den, out=out, where=valid)
    return out


def _rank_within_group(codes_sorted: NDArray[np.intp], starts: NDArray[np.intp]) -> NDArray[np.intp]:
    """0-based position of each row inside its group, for rows sorted by group."""
    return np.arange(codes_sorted.size) - starts[codes_sorted]


def tie_break_keys(n_rows: int, seed: int | None) -> NDArray[np.float64]:
    """One key per row that orders tied predictions: seeded uniform draws, or row order (None)."""
    if seed is None:
        return np.arange(n_rows, dtype=np.float64)
    return np.random.default_rng(seed).random(n_rows)


def _grouped_ndcg(
    codes: NDArray[np.intp],
    y: NDArray[np.float64],
    p: NDArray[np.float64],
    keys: NDArray[np.float64],
    starts: NDArray[np.intp],
    n_groups: int,
    ks: Sequence[int],
    gain: str,
) -> dict[int, NDArray[np.float64]]:
    """``ndcg_at_k`` for every group and every k, in two global sorts."""
    gains = _gains(y, gain)
    # Primary key: user; then prediction descending; then the tie-break key.
    by_pred = np.lexsort((keys, -p, codes))
    by_true = np.lexsort((-gains, codes))
    rank_pred = _rank_within_group(codes[by_pred], starts)
    rank_true = _rank_within_group(codes[by_true], starts)
    disc = _discounts(y.size)
    out: dict[int, NDArray[np.float64]] = {}
    for k in ks:
        top_pred = rank_pred < k
        top_true = rank_true < k
        sel_pred = by_pred[top_pred]
        sel_true = by_true[top_true]
        dcg = _group_sum(codes[sel_pred], gains[sel_pred] * disc[rank_pred[top_pred]], n_groups)
        ideal = _group_sum(codes[sel_true], gains[sel_true] * disc[rank_true[top_true]], n_groups)
        out[k] = _safe_ratio(dcg, ideal, ideal > 0.0)
    return out


def _grouped_auc(
    codes: NDArray[np.intp],
    y: NDArray[np.float64],
    p: NDArray[np.float64],
    starts: NDArray[np.intp],
    counts: NDArray[np.intp],
    n_groups: int,
) -> NDArray[np.float64]:
    """``auc`` for every group: average ranks of tied scores within each group, in one sort."""
    order = np.lexsort((p, codes))
    c_s, p_s, y_s = codes[order], p[order], y[order]
    n = y.size
    new_block = np.ones(n, dtype=bool)
    new_block[1:] = (c_s[1:] != c_s[:-1]) | (p_s[1:] != p_s[:-1])
    block_start = np.flatnonzero(new_block)
    block_end = np.append(block_start[1:], n) - 1
    block_of = np.cumsum(new_block) - 1
    # Average 1-based rank of a tie block inside its group.
    avg_rank = (block_start + block_end)[block_of] / 2.0 - starts[c_s] + 1.0
    rank_sum = _group_sum(c_s, avg_rank * y_s, n_groups)
    n_pos = _group_sum(c_s, y_s, n_groups)
    n_neg = counts - n_pos
    has_nan = _group_sum(codes, np.isnan(p).astype(np.float64), n_groups) > 0
    valid = (n_pos > 0) & (n_neg > 0) & ~has_nan
    return _safe_ratio(rank_sum - n_pos * (n_pos + 1) / 2.0, n_pos * n_neg, valid)


def per_user_metrics(
    frame: pd.DataFrame, task: str = "rating", ks: Sequence[int] = (3, 5), seed: int | None = 0
) -> pd.DataFrame:
    """Every metric of ``task`` for each user's query.

    ``frame`` has columns ``user``, ``target`` (a rating, or a 0/1 click for ``ctr``) and
    ``prediction`` (a score; for ``ctr`` the click probability). Users' rows may be interleaved.
    Tied predictions are ranked for nDCG in a random order drawn from ``seed`` over the frame's
    rows (``tie_break_keys``), so a constant predictor scores the random-ranking level; with
    ``seed=None`` ties keep the frame's row order.

    Returns one row per user (index ``user``, sorted) with the columns of
    ``metric_names(task, ks)`` plus ``n_query`` (the user's number of query items). Equal to
    calling the scalar functions user by user, but vectorised over all users.
    """
    names = metric_names(task, ks)
    missing = [c for c in USER_COLUMNS if c not in frame.columns]
    if missing:
        raise ValueError(f"prediction frame lacks column(s) {missing}; it has {list(frame.columns)}")
    for k in ks:
        _check_k(k)
    if len(set(ks)) != len(ks):
        raise ValueError(f"duplicate nDCG cutoffs in {list(ks)}")

    codes, users = pd.factorize(frame["user"], sort=True)
    if (codes < 0).any():
        raise ValueError("prediction frame has missing user ids")
    y = frame["target"].to_numpy(dtype=np.float64)
    p = frame["prediction"].to_numpy(dtype=np.float64)
    n_groups = len(users)
    counts = np.bincount(codes, minlength=n_groups)
    starts = np.concatenate(([0], np.cumsum(counts)[:-1])).astype(np.intp)

    columns: dict[str, NDArray] = {}
    if task == "rating":
        err = p - y
        columns["mse"] = _group_sum(codes, err**2, n_groups) / counts
        columns["mae"] = _group_sum(codes, np.abs(err), n_groups) / counts
        keys = tie_break_keys(y.size, seed)
        for gain, prefix in (("exponential", "ndcg"), ("linear", "ndcg_lin")):
            ndcg = _grouped_ndcg(codes, y, p, keys, starts, n_groups, ks, gain)
            for k in ks:
                columns[f"{prefix}@{k}"] = ndcg[k]
    else:
        _check_clicks(y)
        columns["auc"] = _grouped_auc(codes, y, p, starts, counts, n_groups)
        columns["nel"] = _group_sum(codes, _nel_terms(y, p, 0.9, 0.1, 1e-7), n_groups) / counts
    columns["n_query"] = counts.astype(np.int64)

    index = pd.Index(users, name="user")
    return pd.DataFrame(columns, index=index, columns=[*names, "n_query"])


# --------------------------------------------------------------------------- aggregation


def _group_summary(per_user: pd.DataFrame, metrics: list[str]) -> dict[str, float]:
    summary: dict[str, float] = {}
    for name in metrics:
        values = per_user[name].to_numpy(dtype=np.float64)
        values = values[~np.isnan(values)]
        summary[name] = float(values.mean()) if values.size else float("nan")
    summary["n_users"] = int(len(per_user))
    return summary


def aggregate(per_user: pd.DataFrame, major: pd.Series | None = None) -> dict[str, dict[str, float]]:
    """Mean over users of every metric column of ``per_user`` (NaNs skipped).

    Returns ``{"overall": {...}}`` and, when ``major`` (a boolean Series indexed by user) is
    given, also ``"major"`` (users where it is True) and ``"minor"`` (False). Each group maps
    metric name to its nanmean (NaN when no user has a value) and ``"n_users"`` to its size.
    Every column except ``n_query`` is treated as a metric.
    """
    metrics = [c for c in per_user.columns if c != "n_query"]
    result = {"overall": _group_summary(per_user, metrics)}
    if major is not None:
        aligned = major.reindex(per_user.index)
        if aligned.isna().any():
            absent = list(per_user.index[aligned.isna().to_numpy()][:5])
            raise ValueError(f"major/minor flag missing for user(s) {absent}")
        if pd.api.types.infer_dtype(aligned, skipna=False) != "boolean":
            raise ValueError(f"major flags must be booleans, not {aligned.dtype}")
        mask = aligned.to_numpy(dtype=bool)
        result["major"] = _group_summary(per_user[mask], metrics)
        result["minor"] = _group_summary(per_user[~mask], metrics)
    return result
