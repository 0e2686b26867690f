"""coldbench.report.stats against scipy and against hand-worked cases."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from coldbench.report.stats import (
    adjust,
    holm,
    paired_ttest_p,
    paired_values,
    t_interval,
    ttest_p,
    wilcoxon_p,
)


def _series(values, users=None) -> pd.Series:
    return pd.Series(values, index=users or [f"u{i}" for i in range(len(values))], dtype=float)


def test_ttest_p_hand_case_and_edges():
    a, b = [1.0, 2.0, 3.0], [4.0, 5.0, 6.0]
    # means 2 and 5, both variances 1: t = -3 / sqrt(1 * (1/3 + 1/3)) = -3.674, df = 4
    t = -3 / math.sqrt(2 / 3)
    assert ttest_p(a, b) == pytest.approx(2 * stats.t.sf(abs(t), 4), rel=1e-12)
    assert math.isnan(ttest_p([1.0], [2.0, 3.0]))
    assert math.isnan(ttest_p([1.0, 1.0], [1.0, 1.0]))


def test_paired_ttest_hand_case():
    # differences 1, 2, 3: mean 2, sd 1, t = 2 / (1 / sqrt 3) = 2 sqrt 3, df = 2
    a, b = _series([2.0, 4.0, 6.0]), _series([1.0, 2.0, 3.0])
    assert paired_ttest_p(a, b) == pytest.approx(2 * stats.t.sf(2 * math.sqrt(3), 2), rel=1e-12)


def test_paired_ttest_joins_on_users_and_drops_nan_pairs():
    rng = np.random.default_rng(1)
    a = _series(rng.normal(1.0, 0.3, 12))
    b = _series(rng.normal(1.2, 0.3, 12))
    a.iloc[3] = np.nan  # user u3 drops out of both sides
    b = b.drop("u7")  # u7 is not in b: left out
    b["extra"] = 5.0  # a user only b has: left out
    keep = [u for u in a.index if u not in ("u3", "u7")]
    expected = stats.ttest_rel(a[keep], b[keep]).pvalue
    assert paired_ttest_p(a, b) == pytest.approx(expected, rel=1e-12)
    x, y = paired_values(a, b)
    assert len(x) == len(y) == 10
    # the order of users in b does not matter
    assert paired_ttest_p(a, b.sample(frac=1, random_state=0)) == pytest.approx(expected, rel=1e-12)


def test_paired_ttest_edges():
    assert math.isnan(paired_ttest_p(_series([1.0]), _series([2.0])))
    assert math.isnan(paired_ttest_p(_series([1.0, 2.0]), _series([0.5, 1.5])))  # constant difference
    assert math.isnan(paired_ttest_p(_series([1.0, 2.0]), _series([1.0, 2.0], users=["x", "y"])))


def test_wilcoxon_hand_case_and_scipy():
    # differences 1, 2, 3, 4, 5, 6 all positive: W- = 0; exact two-sided p = 2 / 2^6 = 0.03125
    a, b = _series(np.arange(1.0, 7.0) * 2), _series(np.arange(1.0, 7.0))
    assert wilcoxon_p(a, b) == pytest.approx(2 / 64, rel=1e-12)
    rng = np.random.default_rng(2)
    x, y = _series(rng.normal(0, 1, 30)), _series(rng.normal(0.3, 1, 30))
    assert wilcoxon_p(x, y) == pytest.approx(stats.wilcoxon(x, y).pvalue, rel=1e-12)


def test_wilcoxon_all_zero_differences_is_nan():
    a = _series([1.0, 2.0, 3.0])
    assert math.isnan(wilcoxon_p(a, a.copy()))
    assert math.isnan(wilcoxon_p(a, _series([1.0], users=["other"])))


def test_holm_hand_case():
    # sorted 0.01, 0.03, 0.04 times 3, 2, 1 = 0.03, 0.06, 0.04; running maximum 0.03, 0.06, 0.06
    assert holm([0.01, 0.04, 0.03]) == pytest.approx([0.03, 0.06, 0.06])
    # NaN is no comparison: m = 2 here
    adjusted = holm([0.02, math.nan, 0.5])
    assert adjusted[0] == pytest.approx(0.04) and math.isnan(adjusted[1]) and adjusted[2] == 0.5
    assert holm([0.6, 0.7]) == pytest.approx([1.0, 1.0])  # capped at 1
    assert len(holm([])) == 0


def test_holm_against_bonferroni_bounds():
    p = np.random.default_rng(3).uniform(0, 0.2, 8)
    adjusted = holm(p)
    assert np.all(adjusted >= p) and np.all(adjusted <= np.minimum(1, 8 * p) + 1e-15)
    assert adjusted[np.argmin(p)] == pytest.approx(8 * p.min())  # the smallest p is Bonferroni's
    assert list(adjust(p, "none")) == list(p)
    with pytest.raises(ValueError):
        adjust(p, "bh")


def test_t_interval_against_scipy_and_hand():
    values = [1.0, 2.0, 3.0, 4.0]
    # mean 2.5, sd sqrt(5/3), n 4: half-width t_{0.975,3} * sd / 2
    half = stats.t.ppf(0.975, 3) * math.sqrt(5 / 3) / 2
    assert t_interval(values) == pytest.approx((2.5 - half, 2.5 + half), rel=1e-12)
    low, high = stats.t.interval(0.95, 3, loc=2.5, scale=stats.sem(values))
    assert t_interval(values) == pytest.approx((low, high), rel=1e-12)
    assert t_interval([1.0, math.nan, 3.0]) == pytest.approx(stats.t.interval(0.95, 1, loc=2, scale=1))
    assert all(math.isnan(v) for v in t_interval([1.0]))
    assert t_interval([2.0, 2.0, 2.0]) == (2.0, 2.0)


def test_rounding_noise_is_no_spread():
    a = _series([0.1 + 0.2, 0.3, 0.7])
    b = _series([0.2, 0.2, 0.6])  # differences 0.1 up to rounding
    assert math.isnan(paired_ttest_p(a, b))
    assert math.isnan(wilcoxon_p(a, a + 1e-17))
    assert math.isnan(ttest_p([0.1 + 0.2, 0.3], [0.3, 0.1 + 0.2]))
