"""Values of one preparation's runs: per-seed and per-user values, intervals, tests, formatting."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from coldbench.data.protocol import HEADLINE_STATE
from coldbench.report.runs import Runs
from coldbench.report.stats import paired_ttest_p, t_interval, ttest_p, wilcoxon_p
from coldbench.report.tables.base import CONFIDENCE, Cell


def _seed_values(table: pd.DataFrame, variant: str, column: str) -> np.ndarray:
    if column not in table:
        return np.array([])
    return table.loc[table["variant"] == variant, column].dropna().to_numpy(dtype=float)


def seed_column(metric: str, group: str = "overall", state: str = HEADLINE_STATE) -> str:
    """The runs table's column of a test metric: ``overall_mse``, or ``warm/overall_mse`` for a state."""
    return f"{group}_{metric}" if state == HEADLINE_STATE else f"{state}/{group}_{metric}"


class Measurements:
    """One preparation's runs: per-seed values, per-user values averaged over seeds, CIs and tests.

    ``state`` picks the evaluation set of the four-state protocol; the default, ``user-cold`` (new
    users, existing items), is every run's ``test``, the paper protocol's only state.
    """

    def __init__(self, table: pd.DataFrame, test: str) -> None:
        self.table = table
        self.test = test
        self._per_user: pd.DataFrame | None = None

    def seeds(
        self, variant: str, metric: str, group: str = "overall", state: str = HEADLINE_STATE
    ) -> np.ndarray:
        """The variant's test ``metric`` of ``group`` users, one value per seed (``metrics.json``)."""
        return _seed_values(self.table, variant, seed_column(metric, group, state))

    def mean(self, variant: str, metric: str, group: str = "overall", state: str = HEADLINE_STATE) -> float:
        values = self.seeds(variant, metric, group, state)
        return float(values.mean()) if len(values) else math.nan

    def users(
        self, variant: str, metric: str, group: str = "overall", state: str = HEADLINE_STATE
    ) -> pd.Series:
        """Each evaluated user's ``metric`` averaged over the variant's seeds (NaNs skipped), by user_id."""
        if self._per_user is None:
            self._per_user = Runs(self.table).per_user(state=None)
        frame = self._per_user
        if frame.empty or metric not in frame:
            return pd.Series(dtype=float)
        part = frame[(frame["variant"] == variant) & (frame["state"] == state)]
        if group != "overall":
            part = part[part["major"] == (group == "major")]
        return part.groupby("user_id")[metric].mean().dropna()

    def interval(
        self, variant: str, metric: str, group: str = "overall", state: str = HEADLINE_STATE
    ) -> tuple[float, float]:
        """95% t-interval of the mean: over users (paired, wilcoxon) or over seeds (seeds)."""
        if self.test == "seeds":
            return t_interval(self.seeds(variant, metric, group, state), CONFIDENCE)
        return t_interval(self.users(variant, metric, group, state).to_numpy(), CONFIDENCE)

    def p(self, a: str, b: str, metric: str, group: str = "overall", state: str = HEADLINE_STATE) -> float:
        """Two-tailed p-value of ``a`` against ``b`` on ``metric`` with this table's test."""
        if self.test == "seeds":
            return ttest_p(self.seeds(a, metric, group, state), self.seeds(b, metric, group, state))
        test = paired_ttest_p if self.test == "paired" else wilcoxon_p
        return test(self.users(a, metric, group, state), self.users(b, metric, group, state))


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
