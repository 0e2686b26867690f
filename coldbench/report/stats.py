"""Significance tests, multiple-comparison correction and confidence intervals, via scipy.stats.

Every test returns a two-tailed p-value, or NaN when there is no test to do (too few values, or no
variance); a NaN p-value is not a comparison and is left out of a correction's family.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy import stats

from coldbench.choices import CORRECTIONS, TESTS  # noqa: F401  (TESTS re-exported)

TEST_NAMES = {
    "paired": "two-tailed paired t-test over test users",
    "seeds": "two-tailed Student's t-test over per-seed means",
    "wilcoxon": "two-tailed Wilcoxon signed-rank test over test users",
}


def no_spread(values: np.ndarray) -> bool:
    """Whether all values are equal up to floating-point rounding (a relative 1e-12)."""
    return len(values) == 0 or bool(np.ptp(values) <= 1e-12 * max(1.0, float(np.abs(values).max())))


def ttest_p(a: Sequence[float], b: Sequence[float], *, welch: bool = False) -> float:
    """Two-tailed p-value of an independent two-sample t-test (Student's, or Welch's).

    NaN values are dropped; fewer than two values on a side, or no variance at all, gives NaN.
    """
    a = np.asarray(a, dtype=float)
    b = np.asarray(b, dtype=float)
    a, b = a[~np.isnan(a)], b[~np.isnan(b)]
    if len(a) < 2 or len(b) < 2 or (no_spread(a) and no_spread(b)):
        return math.nan
    return float(stats.ttest_ind(a, b, equal_var=not welch, alternative="two-sided").pvalue)


def paired_values(a: pd.Series, b: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """The values of the keys (users) present in both series, with NaN pairs dropped."""
    both = pd.concat([a.rename("a"), b.rename("b")], axis=1, join="inner").dropna()
    return both["a"].to_numpy(dtype=float), both["b"].to_numpy(dtype=float)


def paired_ttest_p(a: pd.Series, b: pd.Series) -> float:
    """Two-tailed paired t-test (``ttest_rel``) over the keys of both series.

    Fewer than two pairs, or differences without variance (up to rounding), gives NaN.
    """
    x, y = paired_values(a, b)
    if len(x) < 2 or no_spread(x - y):
        return math.nan
    return float(stats.ttest_rel(x, y, alternative="two-sided").pvalue)


def wilcoxon_p(a: pd.Series, b: pd.Series) -> float:
    """Two-tailed Wilcoxon signed-rank test over the keys of both series (scipy's defaults).

    No pairs, or only zero differences (up to rounding), gives NaN.
    """
    x, y = paired_values(a, b)
    if len(x) == 0 or np.all(np.isclose(x, y, rtol=1e-12, atol=1e-12)):
        return math.nan
    return float(stats.wilcoxon(x, y, alternative="two-sided").pvalue)


def holm(pvalues: Sequence[float]) -> np.ndarray:
    """Holm–Bonferroni adjusted p-values, in the given order; NaNs stay NaN and are not counted.

    The i-th smallest of m p-values becomes max over j ≤ i of min(1, (m − j + 1) · p_(j)).
    """
    p = np.asarray(pvalues, dtype=float)
    adjusted = np.full(p.shape, np.nan)
    valid = np.flatnonzero(~np.isnan(p))
    order = valid[np.argsort(p[valid], kind="stable")]
    m = len(order)
    scaled = np.minimum(1.0, (m - np.arange(m)) * p[order])
    adjusted[order] = np.maximum.accumulate(scaled)
    return adjusted


def adjust(pvalues: Sequence[float], correction: str) -> np.ndarray:
    """``pvalues`` corrected for multiple comparisons: ``"holm"`` or ``"none"``."""
    if correction == "holm":
        return holm(pvalues)
    if correction == "none":
        return np.asarray(pvalues, dtype=float)
    raise ValueError(f"correction must be one of {CORRECTIONS}, not {correction!r}")


def t_interval(values: Sequence[float], confidence: float = 0.95) -> tuple[float, float]:
    """Student-t confidence interval of the mean: mean ± t_{(1+c)/2, n−1} · sd / √n (NaNs dropped).

    Fewer than two values gives (NaN, NaN); values without spread give (mean, mean).
    """
    x = np.asarray(values, dtype=float)
    x = x[~np.isnan(x)]
    if len(x) < 2:
        return math.nan, math.nan
    mean = float(x.mean())
    sem = float(stats.sem(x))
    if sem == 0:
        return mean, mean
    low, high = stats.t.interval(confidence, len(x) - 1, loc=mean, scale=sem)
    return float(low), float(high)


BOOTSTRAP_RESAMPLES = 2000


def nested_mean(splits: Sequence[Sequence[np.ndarray]]) -> float:
    """Mean over splits of the mean over seeds of the mean over users (NaNs dropped at each level)."""
    split_means = [
        np.nanmean([float(np.nanmean(users)) for users in seeds if np.isfinite(users).any()])
        for seeds in splits
    ]
    return float(np.nanmean(split_means)) if split_means else math.nan


def hierarchical_bootstrap(
    splits: Sequence[Sequence[np.ndarray]],
    confidence: float = 0.95,
    resamples: int = BOOTSTRAP_RESAMPLES,
    seed: int = 0,
) -> tuple[float, float]:
    """Percentile interval of ``nested_mean`` under a three-level bootstrap: resample the splits,
    then each drawn split's seeds, then each drawn seed's users (all with replacement).

    ``splits[s][k]`` holds the per-user values of seed ``k`` on split ``s`` (NaNs dropped). Each run's
    user-level resamples are drawn once (``resamples`` of them) and a drawn run takes one of them
    at random, so a run drawn twice in one resample gets two independent user draws. Fewer than
    two splits gives (NaN, NaN): the split level cannot be resampled.
    """
    rng = np.random.default_rng(seed)
    runs = [[u[np.isfinite(u)] for u in seeds] for seeds in splits]
    runs = [[u for u in seeds if len(u)] for seeds in runs]
    runs = [seeds for seeds in runs if seeds]
    if len(runs) < 2:
        return math.nan, math.nan
    user_means = [  # per split: (seeds, resamples) user-level bootstrap means
        np.stack(
            [users[rng.integers(0, len(users), size=(resamples, len(users)))].mean(axis=1) for users in seeds]
        )
        for seeds in runs
    ]
    n = len(runs)
    estimates = np.zeros(resamples)
    chosen = rng.integers(0, n, size=(resamples, n))
    for slot in range(n):
        for s in range(n):
            rows = np.flatnonzero(chosen[:, slot] == s)
            if not len(rows):
                continue
            k = len(user_means[s])
            seeds = rng.integers(0, k, size=(len(rows), k))
            draws = rng.integers(0, resamples, size=(len(rows), k))
            estimates[rows] += user_means[s][seeds, draws].mean(axis=1)
    estimates /= n
    tail = (1 - confidence) / 2
    low, high = np.quantile(estimates, [tail, 1 - tail])
    return float(low), float(high)


def one_sample_p(differences: Sequence[float]) -> float:
    """Two-tailed one-sample t-test of mean 0 (``ttest_1samp``): the paired t-test over units whose
    differences these are. Fewer than two values, or no spread, gives NaN."""
    x = np.asarray(differences, dtype=float)
    x = x[~np.isnan(x)]
    if len(x) < 2 or no_spread(x):
        return math.nan
    return float(stats.ttest_1samp(x, 0.0, alternative="two-sided").pvalue)
