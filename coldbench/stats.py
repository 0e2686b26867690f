"""Significance tests, via scipy.stats."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from scipy import stats


def ttest_p(a: Sequence[float], b: Sequence[float], *, welch: bool = False) -> float:
    """Two-tailed p-value of an independent two-sample t-test (Student's, or Welch's).

    NaN values are dropped; fewer than two values on a side, or no variance at all, gives NaN.
    """
    a = np.asarray(a, dtype=float)
    b = np.asarray(b, dtype=float)
    a, b = a[~np.isnan(a)], b[~np.isnan(b)]
    if len(a) < 2 or len(b) < 2 or (np.var(a) == 0 and np.var(b) == 0):
        return math.nan
    return float(stats.ttest_ind(a, b, equal_var=not welch, alternative="two-sided").pvalue)
