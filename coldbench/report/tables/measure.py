"""Values of one preparation's runs: per-seed and per-user values, intervals, tests, formatting."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from coldbench.report.runs import Runs
from coldbench.report.stats import paired_ttest_p, t_interval, ttest_p, wilcoxon_p
from coldbench.report.tables.base import CONFIDENCE, Cell


def _seed_values(table: pd.DataFrame, variant: str, column: str) -> np.ndarray:
    if column not in table:
        return np.array([])
    return table.loc[table["variant"] == variant, column].dropna().to_numpy(dtype=float)


class Measurements:
    """One preparation's runs: per-seed values, per-user values averaged over seeds, CIs and tests."""

    def __init__(self, table: pd.DataFrame, test: str) -> None:
        self.table = table
        self.test = test
        self._per_user: pd.DataFrame | None = None

    def seeds(self, variant: str, metric: str, group: str = "overall") -> np.ndarray:
        """The variant's test ``metric`` of ``group`` users, one value per seed (``metrics.json``)."""
        return _seed_values(self.table, variant, f"{group}_{metric}")

    def mean(self, variant: str, metric: str, group: str = "overall") -> float:
        values = self.seeds(variant, metric, group)
        return float(values.mean()) if len(values) else math.nan

    def users(self, variant: str, metric: str, group: str = "overall") -> pd.Series:
        """Each test user's ``metric`` averaged over the variant's seeds (NaNs skipped), by user_id."""
        if self._per_user is None:
            self._per_user = Runs(self.table).per_user()
        frame = self._per_user
        if frame.empty or metric not in frame:
            return pd.Series(dtype=float)
        part = frame[frame["variant"] == variant]
        if group != "overall":
            part = part[part["major"] == (group == "major")]
        return part.groupby("user_id")[metric].mean().dropna()

    def interval(self, variant: str, metric: str, group: str = "overall") -> tuple[float, float]:
        """95% t-interval of the mean: over users (paired, wilcoxon) or over seeds (seeds)."""
        if self.test == "seeds":
            return t_interval(self.seeds(variant, metric, group), CONFIDENCE)
        return t_interval(self.users(variant, metric, group).to_numpy(), CONFIDENCE)

    def p(self, a: str, b: str, metric: str, group: str = "overall") -> float:
        """Two-tailed p-value of ``a`` against ``b`` on ``metric`` with this table's test."""
        if self.test == "seeds":
            return ttest_p(self.seeds(a, metric, group), self.seeds(b, metric, group))
        test = paired_ttest_p if self.test == "paired" else wilcoxon_p
        return test(self.users(a, metric, group), self.users(b, metric, group))


def fmt_mean_std(mean: float, std: float, digits: int = 3) -> str:
    """``mean ± std`` (the paper's numbers)."""
    if math.isnan(mean):
        return "–"
    return f"{mean:.{digits}f} ± {std:.{digits}f}" if not math.isnan(std) else f"{mean:.{digits}f}"


def fmt_ci(mean: float, interval: tuple[float, float], digits: int, star: bool = False) -> str:
    """``1.003* [0.991, 1.015]``; ``1.003 [–]`` without an interval; ``–`` without a value."""
    if math.isnan(mean):
        return "–"
    low, high = interval
    bounds = "–" if math.isnan(low) else f"{low:.{digits}f}, {high:.{digits}f}"
    return f"{mean:.{digits}f}{'*' if star else ''} [{bounds}]"


def mark_ranks(cells: list[Cell], means: list[float], higher: bool) -> None:
    """Best bold, second best italic."""
    valid = [(m if higher else -m, i) for i, m in enumerate(means) if not math.isnan(m)]
    ranked = [i for _, i in sorted(valid, reverse=True)]
    if ranked:
        cells[ranked[0]].bold = True
    if len(ranked) > 1:
        cells[ranked[1]].italic = True


def better(a: float, b: float, higher: bool) -> bool:
    return a > b if higher else a < b


def fmt_p(p: float) -> str:
    return "–" if math.isnan(p) else f"{p:.3g}"
