"""The paper's tables from finished runs: main (Table 2), ablation (3), minor-major (4/5), ctr.

Each builder returns a ``ReportTable`` (cells with bold/italic marks, row groups and a caption);
renderers turn it into a rich table, Markdown, LaTeX or CSV. A value is the mean over seeds with
its 95% confidence interval (over test users, or over seeds with ``test="seeds"``). Tests
(``coldbench.report.stats``) compare variants; every comparison of one table is one family for the
multiple-comparison correction. The paper's reported numbers (``--paper``) come from
``paper_numbers.json`` and are labelled as such.
"""

from __future__ import annotations

import csv
import io
import json
import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd
from rich.markup import escape
from rich.table import Table

from coldbench.data.protocol import describe_recorded
from coldbench.errors import ColdbenchError
from coldbench.method_catalog import config_defaults
from coldbench.report.runs import Runs
from coldbench.report.stats import (
    CORRECTIONS,
    TEST_NAMES,
    TESTS,
    adjust,
    paired_ttest_p,
    t_interval,
    ttest_p,
    wilcoxon_p,
)
from coldbench.training.metrics import METRICS
from coldbench.training.stopping import still_improving

FLOORS = ("constant", "user-mean", "bias")  # no meta-training: what any method has to beat
METHOD_ORDER = (
    *("global", "transfer", "melu", "meta-sgd", "paml", "reg-paml", "at-paml"),
    *("mamo", "tanp"),  # beyond the paper (issue 13): baselines from later work
    *FLOORS,
)
OURS = ("paml", "reg-paml", "at-paml")  # the paper's methods; the rest (floors aside) are baselines
FLOOR_REFERENCE = {"rating": "bias", "ctr": "user-mean"}  # the floor every method is tested against
DEFAULT_METRICS = {"rating": ("mse", "ndcg@3", "ndcg@5"), "ctr": ("auc", "nel")}
NEWER_METRICS = {"rating": ("ndcg_lin@3", "ndcg_lin@5"), "ctr": ()}  # known even where METRICS lacks them
LABELS = {"mse": "MSE", "mae": "MAE", "auc": "AUC", "nel": "NEL"}
GROUP_LABELS = {"overall": "all", "major": "major", "minor": "minor"}
ALPHA = 0.05
CONFIDENCE = 0.95


@dataclass
class Cell:
    text: str
    bold: bool = False
    italic: bool = False


@dataclass
class ReportTable:
    title: str
    columns: list[str]
    rows: list[list[Cell]] = field(default_factory=list)
    caption: list[str] = field(default_factory=list)
    groups: list[str] = field(default_factory=list)  # one per row; a rule separates two groups


def paper_numbers() -> dict:
    """The paper's reported numbers, shipped with the package."""
    return json.loads(resources.files("coldbench.report").joinpath("paper_numbers.json").read_text())


# ------------------------------------------------------------------ options


def check_options(test: str, correction: str) -> None:
    """One-line errors for an unknown ``--test`` or ``--correction``."""
    if test not in TESTS:
        raise ColdbenchError(f"--test {test!r}: expected one of {', '.join(TESTS)}")
    if correction not in CORRECTIONS:
        raise ColdbenchError(f"--correction {correction!r}: expected one of {', '.join(CORRECTIONS)}")


def known_metrics(task: str) -> list[str]:
    """Metric names a table of ``task`` (``rating`` or ``ctr``) can show."""
    names = [name for name, metric in METRICS.items() if metric.task == task]
    return names + [name for name in NEWER_METRICS[task] if name not in names]


def resolve_metrics(metrics: str | Sequence[str] | None, task: str) -> list[str]:
    """The metrics to show: ``None`` for the task's default, else a list or a comma-separated string."""
    if metrics is None:
        return list(DEFAULT_METRICS[task])
    if isinstance(metrics, str):
        metrics = [m.strip() for m in metrics.split(",")]
    metrics = [m for m in metrics if m]
    known = known_metrics(task)
    unknown = [m for m in metrics if m not in known]
    if unknown or not metrics:
        name = repr(unknown[0]) if unknown else "(none)"
        raise ColdbenchError(f"--metrics {name}: unknown for {task} tables; known: {', '.join(known)}")
    return list(dict.fromkeys(metrics))


def metric_label(metric: str) -> str:
    """``MSE``, ``nDCG@3``, ``nDCG_lin@3``, ``AUC``..."""
    if metric.startswith("ndcg"):
        return "nDCG" + metric[len("ndcg") :]
    return LABELS.get(metric, metric)


def higher_is_better(metric: str) -> bool:
    if metric in METRICS:
        return METRICS[metric].higher_is_better
    return metric.startswith("ndcg") or metric == "auc"


# ------------------------------------------------------------------ rows and their order


def _order_key(variant: str) -> tuple:
    """Methods in METHOD_ORDER; a method's variants by γ (the default γ in its place), then by label."""
    method = _method(variant)
    rank = METHOD_ORDER.index(method) if method in METHOD_ORDER else len(METHOD_ORDER)
    return (rank, method, _gamma(variant, method), 0 if variant == method else 1, variant)


def _method(variant: str) -> str:
    return variant.split(" ")[0]


def _gamma(variant: str, method: str) -> float:
    """The variant's γ (REG-PAML), its method's default when not named, 0 for methods without one."""
    if "gamma=" in variant:
        return float(variant.split("gamma=")[1].split(",")[0].rstrip(")"))
    try:
        return float(config_defaults(method).get("gamma", 0.0))
    except ColdbenchError:
        return 0.0


def ordered_variants(variants) -> list[str]:
    return sorted(set(variants), key=_order_key)


def _split_floors(variants: list[str]) -> list[tuple[str, list[str]]]:
    """``[("methods", ...), ("floors", ...)]``, empty groups left out."""
    blocks = [
        ("methods", [v for v in variants if _method(v) not in FLOORS]),
        ("floors", [v for v in variants if _method(v) in FLOORS]),
    ]
    return [(name, rows) for name, rows in blocks if rows]


def _plainest(variants) -> list[str]:
    """Per method, the variant with the fewest non-default settings (its default, when it ran)."""
    chosen: dict[str, str] = {}
    for variant in ordered_variants(variants):
        method = _method(variant)
        if method not in chosen or variant.count("=") < chosen[method].count("="):
            chosen[method] = variant
    return ordered_variants(chosen.values())


def _recorded_protocol(table: pd.DataFrame) -> dict | None:
    """The prepared data's protocol as the first run records it (``None`` for runs that predate it)."""
    try:
        config = json.loads((Path(table["path"].iloc[0]) / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    protocol = config.get("dataset_protocol")
    return protocol if isinstance(protocol, dict) else None


def one_dataset(runs: Runs, dataset: str) -> tuple[pd.DataFrame, list[str]]:
    """The runs of ``dataset`` on its most-used prepared data (one manifest hash), and notes."""
    table = runs.table[runs.table["dataset"] == dataset]
    if table.empty:
        raise ColdbenchError(f"--dataset {dataset}: no finished runs (found: {', '.join(runs.datasets())})")
    counts = table["dataset_hash"].value_counts()
    chosen = counts.index[0]
    notes = [f"{dataset}: prepared data {chosen[:12]} ({counts.iloc[0]} runs)"]
    protocol = _recorded_protocol(table[table["dataset_hash"] == chosen])
    if protocol is not None:
        notes.append(f"{dataset}: {describe_recorded(protocol)}")
    if len(counts) > 1:
        others = ", ".join(f"{h[:12]} ({n} runs)" for h, n in counts.iloc[1:].items())
        notes.append(f"runs on other preparations of {dataset} are left out: {others}")
    table = table[table["dataset_hash"] == chosen]
    return table, notes + _convergence_notes(table)


def _convergence_notes(table: pd.DataFrame) -> list[str]:
    """Warn about runs still improving at their last epoch; state the tuning budget of tuned runs."""
    notes = []
    improving = [
        row.variant
        for row in table.itertuples()
        if pd.notna(getattr(row, "epochs_run", None))
        and pd.notna(row.selected_epoch)
        and still_improving(int(row.selected_epoch), int(row.epochs_run), getattr(row, "stopped", "maximum"))
    ]
    if improving:
        names = ", ".join(ordered_variants(improving))
        notes.append(
            f"WARNING: still improving when stopped (best validation epoch = last epoch, at the maximum) "
            f"in some seeds of: {names}; their numbers may change with more epochs"
        )
    if "tuned_trials" in table and table["tuned_trials"].notna().any():
        tuned = table[table["tuned_trials"].notna()].drop_duplicates("variant")
        budgets = ", ".join(
            f"{row.variant}: {int(row.tuned_trials)} trials, {row.tuned_pruner} pruner"
            for row in tuned.itertuples()
        )
        notes.append(f"[tuned]: settings chosen by Optuna TPE on validation users ({budgets})")
    return notes


# ------------------------------------------------------------------ values, intervals, tests


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


def _fmt(mean: float, std: float, digits: int = 3) -> str:
    """``mean ± std`` (the paper's numbers)."""
    if math.isnan(mean):
        return "–"
    return f"{mean:.{digits}f} ± {std:.{digits}f}" if not math.isnan(std) else f"{mean:.{digits}f}"


def _fmt_ci(mean: float, interval: tuple[float, float], digits: int, star: bool = False) -> str:
    """``1.003* [0.991, 1.015]``; ``1.003 [–]`` without an interval; ``–`` without a value."""
    if math.isnan(mean):
        return "–"
    low, high = interval
    bounds = "–" if math.isnan(low) else f"{low:.{digits}f}, {high:.{digits}f}"
    return f"{mean:.{digits}f}{'*' if star else ''} [{bounds}]"


def _mark_ranks(cells: list[Cell], means: list[float], higher: bool) -> None:
    """Best bold, second best italic."""
    valid = [(m if higher else -m, i) for i, m in enumerate(means) if not math.isnan(m)]
    ranked = [i for _, i in sorted(valid, reverse=True)]
    if ranked:
        cells[ranked[0]].bold = True
    if len(ranked) > 1:
        cells[ranked[1]].italic = True


def _better(a: float, b: float, higher: bool) -> bool:
    return a > b if higher else a < b


# ------------------------------------------------------------------ comparisons


@dataclass(frozen=True)
class Column:
    """A metric column: its header, metric and user group."""

    label: str
    metric: str
    group: str = "overall"


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
        ours = _best(variants, means[j], higher, lambda v: _method(v) in OURS)
        base = _best(variants, means[j], higher, lambda v: _method(v) not in OURS + FLOORS)
        if ours is not None and base is not None:
            comparisons.append(Comparison(ours, base, j, "star"))
    return comparisons


def plain_row(variants: Sequence[str], method: str) -> int | None:
    """The row of ``method``'s plainest variant: its bare name, else the fewest settings shown."""
    rows = [i for i, variant in enumerate(variants) if _method(variant) == method]
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
            if _method(variant) not in FLOORS
            and not math.isnan(means[j][i])
            and not math.isnan(means[j][ref])
        ]

    return plan


def _floor_note(floor: str, variants, columns, comparisons: list[Comparison]) -> str:
    """The caption line naming every method that does not beat ``floor`` significantly."""
    checks = [c for c in comparisons if c.kind == "floor"]
    if not any(_method(variant) == floor for variant in variants):
        return f"floor check: no {floor} run on this preparation, so no method is tested against it"
    failing: dict[str, list[str]] = {}
    for c in checks:
        column = columns[c.column]
        mean, ref = c.means
        if not (_better(mean, ref, higher_is_better(column.metric)) and c.significant()):
            failing.setdefault(variants[c.row], []).append(column.label)
    if not checks:
        return f"floor check: nothing to test against {floor}"
    if not failing:
        return f"every method beats the {floor} floor significantly in every tested column"
    named = "; ".join(f"{variant} ({', '.join(labels)})" for variant, labels in failing.items())
    return f"does not beat the {floor} floor significantly: {named}"


def _run_tests(
    measured: Measurements, variants, columns, means, comparisons: list[Comparison], correction: str
) -> None:
    """Fill in every comparison's p-value and its corrected p-value (one family: the whole table)."""
    for c in comparisons:
        column = columns[c.column]
        c.p = measured.p(variants[c.row], variants[c.ref], column.metric, column.group)
        c.means = (means[c.column][c.row], means[c.column][c.ref])
    for c, adjusted in zip(comparisons, adjust([c.p for c in comparisons], correction)):
        c.adjusted = float(adjusted)


def _tests_note(test: str, correction: str, comparisons: list[Comparison]) -> str:
    tested = sum(not math.isnan(c.p) for c in comparisons)
    what = TEST_NAMES[test]
    if test != "seeds":
        what += " (users both variants have; each user's metric averaged over the variant's seeds)"
    if correction == "holm":
        return (
            f"tests: {what}; Holm–Bonferroni correction over the {tested} comparisons of this table; "
            f"significant: adjusted p < {ALPHA}"
        )
    return (
        f"tests: {what}; no correction for the {tested} comparisons of this table; significant: p < {ALPHA}"
    )


def _values_note(test: str, extra: str = "") -> str:
    if test == "seeds":
        where = "t-interval over the per-seed values; – with one seed"
    else:
        where = "t-interval over test users of each user's metric averaged over the variant's seeds"
    return f"mean over seeds [95% CI: {where}]{extra}"


# ------------------------------------------------------------------ the paper's numbers


_SETTING = re.compile(r", (?=[A-Za-z_][\w@.]*=)")  # splits "a=1, b=[2, 3]" at ", b="


def _settings(variant: str) -> dict[str, str]:
    """``{"gamma": "0.01", "epochs": "2"}`` from ``reg-paml (epochs=2, gamma=0.01)``."""
    _, _, inner = variant.partition(" (")
    pairs = (part.partition("=") for part in _SETTING.split(inner.rstrip(")")) if part)
    return {key: value for key, _, value in pairs}


@dataclass(frozen=True)
class PaperMatch:
    """The paper's entry for a row: its key, and the row's settings that differ from the paper's."""

    key: str
    differ: tuple[str, ...] = ()

    def mark(self) -> str:
        return " †" if self.differ else ""


def paper_match(paper: dict | None, variant: str) -> PaperMatch | None:
    """The paper entry of ``variant``'s method whose named settings the variant shares most.

    An exact label wins; otherwise the entry of the same method whose settings all appear in the
    variant (``reg-paml (epochs=2, gamma=0.01)`` → ``reg-paml (gamma=0.01)``), else the method's
    plain entry. ``differ`` lists the variant's settings the paper's entry does not name.
    """
    if not paper:
        return None
    if variant in paper:
        return PaperMatch(variant)
    mine = _settings(variant)
    candidates = []
    for key in paper:
        if _method(key) != _method(variant):
            continue
        theirs = _settings(key)
        if all(mine.get(k) == v for k, v in theirs.items()):
            candidates.append((len(theirs), key))
    if not candidates:
        plain = _method(variant)
        if plain not in paper:
            return None
        candidates = [(0, plain)]
    key = max(candidates)[1]
    named = _settings(key)
    return PaperMatch(key, tuple(f"{k}={v}" for k, v in mine.items() if k not in named))


def _paper_cells(paper: dict | None, variant: str, metric: str, mean: float) -> list[Cell]:
    """The paper's ``mean ± std`` (``†`` when this row's settings differ) and Δ = ours − paper."""
    match = paper_match(paper, variant)
    entry = paper[match.key].get(metric) if match else None
    if entry is None:
        return [Cell("–"), Cell("–")]
    value = entry[0] if isinstance(entry, list) else entry
    std = entry[1] if isinstance(entry, list) else math.nan
    diff = "–" if math.isnan(mean) else f"{mean - value:+.3f}"
    return [Cell(_fmt(value, std) + match.mark()), Cell(diff)]


def _paper_notes(paper: dict | None, variants: Sequence[str], what: str) -> list[str]:
    """Caption lines: where the numbers come from, what a dash and what a † mean."""
    if not paper:
        return ["paper: no reported numbers for this dataset"]
    notes = [f"paper: {what}, reported by Yu et al. (AAAI 2021), not measured here; Δ = ours − paper"]
    matches = {v: paper_match(paper, v) for v in variants}
    absent = [v for v, m in matches.items() if m is None]
    if absent:
        notes.append(f"paper –: the paper reports no number for {', '.join(absent)} in this table")
    differ = [
        f"{v} (paper: {m.key}; differs in {', '.join(m.differ)})"
        for v, m in matches.items()
        if m and m.differ
    ]
    if differ:
        notes.append(
            "paper †: the paper's number for the method at the paper's own settings (coldbench's defaults, "
            "from its Table 7); this row's settings differ, so Δ compares different settings: "
            + "; ".join(differ)
        )
    return notes


def _paper_for(dataset: str, table_name: str) -> dict | None:
    numbers = paper_numbers()
    for prefix, name in numbers["datasets"].items():
        if dataset == prefix or dataset.startswith(prefix + "-"):
            return numbers[table_name].get(name)
    return None


# ------------------------------------------------------------------ the tables


def metric_table(
    runs: Runs,
    dataset: str,
    blocks: list[tuple[str, list[str]]],
    title: str,
    columns: list[Column],
    plans: Sequence[Plan] = (),
    *,
    test: str = "paired",
    correction: str = "holm",
    paper: dict | None = None,
    digits: int = 3,
) -> tuple[ReportTable, list[Comparison], list[str]]:
    """Rows = ``blocks`` of variants (a rule between blocks), one column per ``Column``.

    Runs every comparison the ``plans`` pick, corrects them as one family, stars the significant
    improvements (``kind == "star"``) and returns the table, the comparisons and the notes.
    """
    check_options(test, correction)
    table, notes = one_dataset(runs, dataset)
    measured = Measurements(table, test)
    variants = [v for _, rows in blocks for v in rows]
    header = ["method", "seeds"]
    for column in columns:
        header += [column.label] + (["paper", "Δ"] if paper is not None else [])
    report = ReportTable(title, header, groups=[name for name, rows in blocks for _ in rows])
    means = [[measured.mean(v, c.metric, c.group) for v in variants] for c in columns]
    comparisons = [c for plan in plans for c in plan(variants, means, columns)]
    _run_tests(measured, variants, columns, means, comparisons, correction)
    stars = {
        (c.row, c.column)
        for c in comparisons
        if c.kind == "star"
        and c.significant()
        and _better(*c.means, higher_is_better(columns[c.column].metric))
    }
    report.rows = [[Cell(v), Cell(str(int((table["variant"] == v).sum())))] for v in variants]
    for j, column in enumerate(columns):
        cells = [
            Cell(
                _fmt_ci(
                    means[j][i], measured.interval(v, column.metric, column.group), digits, (i, j) in stars
                )
            )
            for i, v in enumerate(variants)
        ]
        _mark_ranks(cells, means[j], higher_is_better(column.metric))
        for i, (row, cell) in enumerate(zip(report.rows, cells)):
            row.append(cell)
            if paper is not None:
                row.extend(_paper_cells(paper, variants[i], column.metric, means[j][i]))
    return report, comparisons, notes


def main_table(
    runs: Runs,
    dataset: str,
    with_paper: bool = False,
    *,
    test: str = "paired",
    correction: str = "holm",
    metrics: str | Sequence[str] | None = None,
) -> ReportTable:
    """Paper Table 2: one row per method (its default settings where those ran); floors below a rule."""
    columns = [Column(metric_label(m), m) for m in resolve_metrics(metrics, "rating")]
    variants = _plainest(runs.table.loc[runs.table["dataset"] == dataset, "variant"])
    paper = (_paper_for(dataset, "main") or {}) if with_paper else None
    floor = FLOOR_REFERENCE["rating"]
    blocks = _split_floors(variants)
    report, comparisons, notes = metric_table(
        runs,
        dataset,
        blocks,
        f"Main results — {dataset}",
        columns,
        [ours_vs_best_baseline, floor_check(floor)],
        test=test,
        correction=correction,
        paper=paper,
    )
    report.caption = notes + [
        _values_note(
            test, "; test users, epoch chosen on validation MSE; best in bold, second best in italics"
        ),
        "* improvement of the best PAML-family method over the best baseline (floors are no baseline)",
        _tests_note(test, correction, comparisons),
        "below the rule: floors (no meta-training)",
        _floor_note(floor, [v for _, rows in blocks for v in rows], columns, comparisons),
    ]
    if with_paper:
        report.caption += _paper_notes(paper, [v for _, rows in blocks for v in rows], "Table 2")
    return report


def ablation_table(
    runs: Runs,
    dataset: str,
    with_paper: bool = False,
    *,
    test: str = "paired",
    correction: str = "holm",
    metrics: str | Sequence[str] | None = None,
) -> ReportTable:
    """Paper Table 3: the PAML family (REG-PAML over γ, AT-PAML...) against PAML; Meta-SGD variants
    against unbounded Meta-SGD; the floors for reference."""
    columns = [Column(metric_label(m), m) for m in resolve_metrics(metrics, "rating")]
    in_dataset = ordered_variants(runs.table.loc[runs.table["dataset"] == dataset, "variant"])
    family = [v for v in in_dataset if _method(v) in OURS]
    if not family:
        raise ColdbenchError("the ablation table needs paml / reg-paml / at-paml runs")
    blocks = [("PAML family", family), ("Meta-SGD", [v for v in in_dataset if _method(v) == "meta-sgd"])]
    melu = [v for v in in_dataset if _method(v) == "melu"]
    if len(melu) > 1:  # first-order and last-layer (ANIL) readings of MAML beside plain MeLU
        blocks.append(("MeLU", melu))
    blocks.append(("floors", _plainest(v for v in in_dataset if _method(v) in FLOORS)))
    blocks = [(name, rows) for name, rows in blocks if rows]
    paper = (_paper_for(dataset, "ablation") or {}) if with_paper else None
    plans = [
        against("paml", lambda v: _method(v) in OURS),
        against("meta-sgd", lambda v: _method(v) == "meta-sgd"),
        against("melu", lambda v: _method(v) == "melu"),
    ]
    report, comparisons, notes = metric_table(
        runs,
        dataset,
        blocks,
        f"Ablation — {dataset}",
        columns,
        plans,
        test=test,
        correction=correction,
        paper=paper,
    )
    report.caption = notes + [
        _values_note(
            test, "; test users, epoch chosen on validation MSE; best in bold, second best in italics"
        ),
        "* improvement over PAML (the plain paml row)"
        + ("" if plain_row(family, "paml") is not None else ": no paml run, so no test"),
        "in the Meta-SGD block, * improvement over unbounded Meta-SGD (the plain meta-sgd row)",
        *(["in the MeLU block, * improvement over plain MeLU"] if len(melu) > 1 else []),
        _tests_note(test, correction, comparisons),
        "rules separate "
        + ", ".join(name for name, _ in blocks)
        + "; floors are shown for reference, untested",
    ]
    if with_paper:
        report.caption += _paper_notes(paper, [v for _, rows in blocks for v in rows], "Table 3")
    return report


def minor_major_table(
    runs: Runs,
    dataset: str,
    with_paper: bool = False,
    welch: bool = False,
    *,
    test: str = "paired",
    correction: str = "holm",
) -> ReportTable:
    """Paper Tables 4/5: MSE of major and minor users and the t-test between them.

    ``test`` only chooses the intervals (over users, or over seeds with ``seeds``); the p-value is
    always a two-sample t-test between users, corrected over the table's rows with ``correction``.
    """
    check_options(test, correction)
    table, notes = one_dataset(runs, dataset)
    measured = Measurements(table, test)
    paper = _paper_for(dataset, "minor-major") if with_paper else None
    columns = ["method", "seeds", "MSE major", "MSE minor", "p-value"]
    columns += ["p Holm"] if correction == "holm" else []
    columns += ["major / minor users"]
    if with_paper:
        columns += ["paper major", "paper minor", "paper p"]
    blocks = _split_floors(ordered_variants(table["variant"]))
    variants = [v for _, rows in blocks for v in rows]
    report = ReportTable(
        f"Major vs minor users — {dataset}", columns, groups=[n for n, rows in blocks for _ in rows]
    )
    pvalues = []
    for variant in variants:
        major, minor = measured.users(variant, "mse", "major"), measured.users(variant, "mse", "minor")
        pvalues.append(ttest_p(minor, major, welch=welch))
        report.rows.append(
            [
                Cell(variant),
                Cell(str(int((table["variant"] == variant).sum()))),
                Cell(
                    _fmt_ci(
                        measured.mean(variant, "mse", "major"), measured.interval(variant, "mse", "major"), 3
                    )
                ),
                Cell(
                    _fmt_ci(
                        measured.mean(variant, "mse", "minor"), measured.interval(variant, "mse", "minor"), 3
                    )
                ),
            ]
        )
        report.rows[-1].append(Cell(_fmt_p(pvalues[-1])))
        report.rows[-1].append(Cell(f"{len(major)} / {len(minor)}"))
    if correction == "holm":
        for row, adjusted in zip(report.rows, adjust(pvalues, "holm")):
            row.insert(5, Cell(_fmt_p(adjusted)))
    if with_paper:
        for row, variant in zip(report.rows, variants):
            match = paper_match(paper, variant)
            entry = paper[match.key] if match else None
            row += (
                [
                    Cell(_fmt(*entry["major_mse"]) + match.mark()),
                    Cell(_fmt(*entry["minor_mse"]) + match.mark()),
                    Cell(f"{entry['p']:.3g}"),
                ]
                if entry
                else [Cell("–")] * 3
            )
    kind = "Welch's" if welch else "Student's"
    tested = sum(not math.isnan(p) for p in pvalues)
    report.caption = notes + [
        _values_note(test, " of the test MSE of major and of minor users"),
        f"p: two-tailed {kind} t-test between the per-user test MSEs of minor and major users of the same "
        "method; each user's MSE is first averaged over seeds; a low p means the two groups fare differently",
    ]
    if correction == "holm":
        report.caption.append(f"p Holm: Holm–Bonferroni adjusted over the {tested} tests of this table")
    if len(blocks) > 1:
        report.caption.append("below the rule: floors (no meta-training)")
    if with_paper:
        report.caption += _paper_notes(paper, variants, "Tables 4/5")
    return report


def _fmt_p(p: float) -> str:
    return "–" if math.isnan(p) else f"{p:.3g}"


def ctr_table(
    runs: Runs,
    dataset: str,
    with_paper: bool = False,
    *,
    test: str = "paired",
    correction: str = "holm",
    metrics: str | Sequence[str] | None = None,
) -> ReportTable:
    """AUC and NEL per method, all / major / minor users; the floors below a rule."""
    table, _ = one_dataset(runs, dataset)
    if "overall_auc" not in table or table["overall_auc"].isna().all():
        raise ColdbenchError(f"{dataset}: no click-through-rate runs (prepare the data with --task ctr)")
    columns = [
        Column(f"{metric_label(m)} {GROUP_LABELS[g]}", m, g)
        for m in resolve_metrics(metrics, "ctr")
        for g in GROUP_LABELS
    ]
    blocks = _split_floors(ordered_variants(table.loc[table["overall_auc"].notna(), "variant"]))
    floor = FLOOR_REFERENCE["ctr"]
    report, comparisons, notes = metric_table(
        runs,
        dataset,
        blocks,
        f"Click-through rate — {dataset}",
        columns,
        [floor_check(floor)],
        test=test,
        correction=correction,
        digits=4,
    )
    report.caption = notes + [
        _values_note(test, "; NEL is the weighted negative-entropy loss (lower is better)"),
        _tests_note(test, correction, comparisons),
        "below the rule: floors (constant: the training click rate; user-mean: the user's support "
        "click rate)",
        _floor_note(floor, [v for _, rows in blocks for v in rows], columns, comparisons) + " (all users)",
    ]
    if with_paper:
        report.caption.append(
            "paper: its CTR results (Fig. 3) come from private Taobao data and are not comparable"
        )
    return report


TABLES = {"main": main_table, "ablation": ablation_table, "minor-major": minor_major_table, "ctr": ctr_table}


# ------------------------------------------------------------------ renderers


def _group_starts(report: ReportTable) -> set[int]:
    """Indices of rows that start a new group (after the first)."""
    groups = report.groups
    return {i for i in range(1, len(groups)) if groups[i] != groups[i - 1]}


_MARKDOWN_BOLD = re.compile(r"\*\*(.+?)\*\*")


def _rich_text(text: str) -> str:
    """Plain text as rich markup: brackets escaped, Markdown ``**bold**`` turned into bold."""
    return _MARKDOWN_BOLD.sub(r"[bold]\1[/bold]", escape(text))


def _rich_label(text: str) -> str:
    """A row label: the method on its line, each of its settings dimmed on a line below it."""
    method, sep, rest = text.partition(" (")
    if not sep:
        return escape(text)
    settings = _SETTING.split("(" + rest)
    lines = [
        f"[dim]{escape(part)}{',' if i < len(settings) - 1 else ''}[/dim]" for i, part in enumerate(settings)
    ]
    return "\n".join([escape(method), *lines])


def to_rich(report: ReportTable) -> Table:
    """A rich table that never cuts a cell: the label column keeps its width, other cells wrap.

    Labels never wrap (``no_wrap``): a variant's settings stand one per line below its method, so
    the column stays narrow. Other cells wrap at spaces and fold rather than end in an ellipsis.
    """
    caption = "\n".join(_rich_text(line) for line in report.caption)
    table = Table(title=_rich_text(report.title), caption=caption, caption_justify="left")
    for index, column in enumerate(report.columns):
        first = index == 0
        table.add_column(
            _rich_text(column), justify="left" if first else "right", no_wrap=first, overflow="fold"
        )
    starts = _group_starts(report)
    for i, row in enumerate(report.rows):
        cells = []
        for index, c in enumerate(row):
            text = _rich_label(c.text) if index == 0 else escape(c.text)
            cells.append(f"[bold]{text}[/]" if c.bold else f"[italic]{text}[/]" if c.italic else text)
        table.add_row(*cells, end_section=i + 1 in starts)
    return table


def to_markdown(report: ReportTable) -> str:
    """A Markdown table; a row with the group's name in italics starts each group after the first."""

    def cell(c: Cell) -> str:
        return f"**{c.text}**" if c.bold else f"*{c.text}*" if c.italic else c.text

    lines = [
        f"**{report.title}**",
        "",
        "| " + " | ".join(report.columns) + " |",
        "|" + "|".join(["---"] + ["---:"] * (len(report.columns) - 1)) + "|",
    ]
    starts = _group_starts(report)
    for i, row in enumerate(report.rows):
        if i in starts:
            lines.append(f"| *{report.groups[i]}* |" + " |" * (len(report.columns) - 1))
        lines.append("| " + " | ".join(cell(c) for c in row) + " |")
    lines += [""] + [f"- {note}" for note in report.caption]
    return "\n".join(lines) + "\n"


def _latex_escape(text: str) -> str:
    for old, new in (("\\", r"\textbackslash{}"), ("&", r"\&"), ("%", r"\%"), ("_", r"\_"), ("#", r"\#")):
        text = text.replace(old, new)
    return text.replace("±", r"$\pm$").replace("Δ", r"$\Delta$").replace("γ", r"$\gamma$").replace("–", "--")


def to_latex(report: ReportTable) -> str:
    """A booktabs ``table``; ``\\midrule`` between groups."""

    def cell(c: Cell) -> str:
        text = _latex_escape(c.text)
        return rf"\textbf{{{text}}}" if c.bold else rf"\textit{{{text}}}" if c.italic else text

    spec = "l" + "r" * (len(report.columns) - 1)
    lines = [
        r"\begin{table}[t]",
        r"\centering",
        rf"\begin{{tabular}}{{{spec}}}",
        r"\toprule",
        " & ".join(_latex_escape(c) for c in report.columns) + r" \\",
        r"\midrule",
    ]
    starts = _group_starts(report)
    for i, row in enumerate(report.rows):
        if i in starts:
            lines.append(r"\midrule")
        lines.append(" & ".join(cell(c) for c in row) + r" \\")
    lines += [
        r"\bottomrule",
        r"\end{tabular}",
        rf"\caption{{{_latex_escape(report.title)}. {_latex_escape('; '.join(report.caption))}}}",
        r"\end{table}",
    ]
    return "\n".join(lines) + "\n"


def to_csv(report: ReportTable) -> str:
    """Cell text, plus a last column ``group`` naming each row's group (``methods``, ``floors``...)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    groups = report.groups or [""] * len(report.rows)
    writer.writerow([*report.columns, "group"])
    writer.writerows([*(c.text for c in row), group] for row, group in zip(report.rows, groups))
    return buffer.getvalue()


RENDERERS = {"markdown": to_markdown, "latex": to_latex, "csv": to_csv}
