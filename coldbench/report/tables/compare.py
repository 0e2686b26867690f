"""Which rows a table tests against which (plans), the tests run as one family, and their captions."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from coldbench.data.protocol import HEADLINE_STATE
from coldbench.report.stats import TEST_NAMES, adjust
from coldbench.report.tables.base import ALPHA, FLOORS, OURS, higher_is_better, method_of
from coldbench.report.tables.measure import Measurements, better


@dataclass(frozen=True)
class Column:
    """A metric column: its header, metric and user group."""

    label: str
    metric: str
    group: str = "overall"
    state: str = HEADLINE_STATE  # the four-state protocol's evaluation set


@dataclass
class Comparison:
    """Row ``row`` tested against row ``ref`` in column ``column``; ``kind`` is ``star`` or ``floor``."""

    row: int
    ref: int
    column: int
    kind: str
    p: float = math.nan
    adjusted: float = math.nan
    means: tuple[float, float] = (math.nan, math.nan)  # the row's and the reference's

    def significant(self) -> bool:
        return not math.isnan(self.adjusted) and self.adjusted < ALPHA


# A plan picks the comparisons of a table: (variants, means per column, columns) -> comparisons.
Plan = Callable[[list[str], list[list[float]], list[Column]], list[Comparison]]


def _best(variants: list[str], means: list[float], higher: bool, allowed) -> int | None:
    pool = [(m if higher else -m, i) for i, (v, m) in enumerate(zip(variants, means)) if allowed(v)]
    pool = [(m, i) for m, i in pool if not math.isnan(m)]
    return max(pool)[1] if pool else None


def ours_vs_best_baseline(variants, means, columns) -> list[Comparison]:
    """Per column: the best PAML-family row against the best baseline (floors are no baseline)."""
    comparisons = []
    for j, column in enumerate(columns):
        higher = higher_is_better(column.metric)
        ours = _best(variants, means[j], higher, lambda v: method_of(v) in OURS)
        base = _best(variants, means[j], higher, lambda v: method_of(v) not in OURS + FLOORS)
        if ours is not None and base is not None:
            comparisons.append(Comparison(ours, base, j, "star"))
    return comparisons


def plain_row(variants: Sequence[str], method: str) -> int | None:
    """The row of ``method``'s plainest variant: its bare name, else the fewest settings shown."""
    rows = [i for i, variant in enumerate(variants) if method_of(variant) == method]
    if not rows:
        return None
    return min(rows, key=lambda i: (variants[i] != method, variants[i].count("="), len(variants[i])))


def against(reference: str, members: Callable[[str], bool]) -> Plan:
    """A plan testing every row that ``members`` accepts against the plain ``reference`` method's row."""

    def plan(variants, means, columns) -> list[Comparison]:
        ref = plain_row(variants, reference)
        if ref is None:
            return []
        return [
            Comparison(i, ref, j, "star")
            for j in range(len(columns))
            for i, variant in enumerate(variants)
            if i != ref and members(variant) and not math.isnan(means[j][i]) and not math.isnan(means[j][ref])
        ]

    return plan


def floor_check(floor: str, groups: Sequence[str] = ("overall",)) -> Plan:
    """A plan testing every non-floor row against the ``floor`` row, in the columns of ``groups``."""

    def plan(variants, means, columns) -> list[Comparison]:
        ref = plain_row(variants, floor)
        if ref is None:
            return []
        return [
            Comparison(i, ref, j, "floor")
            for j, column in enumerate(columns)
            if column.group in groups
            for i, variant in enumerate(variants)
            if method_of(variant) not in FLOORS
            and not math.isnan(means[j][i])
            and not math.isnan(means[j][ref])
        ]

    return plan


def floor_note(floor: str, variants, columns, comparisons: list[Comparison]) -> str:
    """The caption line naming every method that does not beat ``floor`` significantly."""
    checks = [c for c in comparisons if c.kind == "floor"]
    if not any(method_of(variant) == floor for variant in variants):
        return f"floor check: no {floor} run on this preparation, so no method is tested against it"
    failing: dict[str, list[str]] = {}
    for c in checks:
        column = columns[c.column]
        mean, ref = c.means
        if not (better(mean, ref, higher_is_better(column.metric)) and c.significant()):
            failing.setdefault(variants[c.row], []).append(column.label)
    if not checks:
        return f"floor check: nothing to test against {floor}"
    if not failing:
        return f"every method beats the {floor} floor significantly in every tested column"
    named = "; ".join(f"{variant} ({', '.join(labels)})" for variant, labels in failing.items())
    return f"does not beat the {floor} floor significantly: {named}"


def run_tests(
    measured: Measurements, variants, columns, means, comparisons: list[Comparison], correction: str
) -> None:
    """Fill in every comparison's p-value and its corrected p-value (one family: the whole table)."""
    for c in comparisons:
        column = columns[c.column]
        c.p = measured.p(variants[c.row], variants[c.ref], column.metric, column.group, column.state)
        c.means = (means[c.column][c.row], means[c.column][c.ref])
    for c, adjusted in zip(comparisons, adjust([c.p for c in comparisons], correction)):
        c.adjusted = float(adjusted)


def tests_note(test: str, correction: str, comparisons: list[Comparison]) -> str:
    tested = sum(not math.isnan(c.p) for c in comparisons)
    what = TEST_NAMES[test]
    if test != "seeds":
        what += " (users both variants have; each user's metric averaged over the variant's seeds)"
    if tested == 0:
        return f"tests: {what}; no pair of rows this table compares had values to test"
    count = "the 1 comparison" if tested == 1 else f"the {tested} comparisons"
    if correction == "holm":
        if tested == 1:
            return f"tests: {what}; one comparison, so no correction; significant: p < {ALPHA}"
        return (
            f"tests: {what}; Holm–Bonferroni correction over {count} of this table; "
            f"significant: adjusted p < {ALPHA}"
        )
    return f"tests: {what}; no correction for {count} of this table; significant: p < {ALPHA}"


def values_note(test: str, extra: str = "") -> str:
    if test == "seeds":
        where = "t-interval over the per-seed values; – with one seed"
    else:
        where = "t-interval over test users of each user's metric averaged over the variant's seeds"
    return f"mean over seeds [95% CI: {where}]{extra}"
