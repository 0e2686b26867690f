"""Data splits as replicates: each method's test metric pooled over splits × seeds × users, with a
hierarchical bootstrap interval, and its comparison with ``bias`` tested at the split level (the
unit a conclusion about the method, not about one split's users, rests on) beside the user level.

A study's splits are the datasets ``sweep --splits N`` prepared: ``<dataset>`` and
``<dataset>-seed<k>`` (``coldbench.data.splits``); each split's runs come from its most-used
preparation, as in every table.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from coldbench.data.splits import split_base
from coldbench.errors import ColdbenchError
from coldbench.report.runs import Runs
from coldbench.report.stats import (
    BOOTSTRAP_RESAMPLES,
    adjust,
    hierarchical_bootstrap,
    nested_mean,
    one_sample_p,
    paired_ttest_p,
)
from coldbench.report.tables.base import (
    ALPHA,
    CONFIDENCE,
    FLOOR_REFERENCE,
    Cell,
    ReportTable,
    check_options,
    default_gammas,
    higher_is_better,
    method_of,
    metric_label,
    one_dataset,
    plainest,
    resolve_metrics,
    rule_note,
    split_floors,
)
from coldbench.report.tables.measure import better, fmt_ci, fmt_p, mark_ranks

REFERENCE = FLOOR_REFERENCE["rating"]


def study_splits(runs: Runs, dataset: str) -> dict[int, str]:
    """split (protocol seed) → dataset name, for every split of study ``dataset`` among ``runs``."""
    found: dict[int, str] = {}
    for name, protocol in runs.table[["dataset", "protocol"]].drop_duplicates().itertuples(index=False):
        recorded = json.loads(protocol) if isinstance(protocol, str) else None
        seed = recorded.get("seed") if isinstance(recorded, dict) else None
        base, split = split_base(name, seed)
        if base == dataset:
            found[split] = name
    return dict(sorted(found.items()))


def split_studies(runs: Runs) -> list[str]:
    """The studies with runs on at least two splits."""
    bases = {split_base(name, None)[0] for name in runs.datasets()}
    return sorted(base for base in bases if len(study_splits(runs, base)) >= 2)


@dataclass
class _Split:
    name: str
    table: pd.DataFrame  # the split's runs (its most-used preparation)
    users: pd.DataFrame  # their per-user scores (test users)
    notes: list[str]


@dataclass
class SplitTest:
    variant: str
    metric: str
    mean: float
    reference_mean: float
    by_split: list[float]
    p_splits: float
    p_users: float
    p_splits_adjusted: float = math.nan
    p_users_adjusted: float = math.nan


def _load(runs: Runs, dataset: str) -> dict[int, _Split]:
    splits = study_splits(runs, dataset)
    if len(splits) < 2:
        raise ColdbenchError(
            f"--dataset {dataset}: runs on {len(splits)} data split(s); the splits table needs at least 2 "
            f"(`coldbench sweep --datasets {dataset} --splits 3 …`)"
        )
    out = {}
    for split, name in splits.items():
        table, notes = one_dataset(runs, name)
        out[split] = _Split(name, table, Runs(table).per_user(), notes)
    return out


def _values(split: _Split, variant: str, metric: str) -> list[np.ndarray]:
    """One array of per-user values per seed of ``variant`` on ``split``."""
    part = split.users[split.users["variant"] == variant]
    if metric not in part:
        return []
    return [seed[metric].to_numpy(dtype=float) for _, seed in part.groupby("seed")]


def _user_means(split: _Split, variant: str, metric: str) -> pd.Series:
    part = split.users[split.users["variant"] == variant]
    if metric not in part:
        return pd.Series(dtype=float)
    return part.groupby("user_id")[metric].mean().dropna()


def _split_mean(split: _Split, variant: str, metric: str) -> float:
    seeds = _values(split, variant, metric)
    return nested_mean([seeds]) if seeds else math.nan


def _test(splits: dict[int, _Split], variant: str, reference: str, metric: str) -> SplitTest:
    by_split = [_split_mean(s, variant, metric) for s in splits.values()]
    floor = [_split_mean(s, reference, metric) for s in splits.values()]
    pooled = [
        pd.concat([_user_means(s, v, metric).rename(lambda u, k=k: f"{k}:{u}") for k, s in splits.items()])
        for v in (variant, reference)
    ]
    return SplitTest(
        variant,
        metric,
        float(np.nanmean(by_split)),
        float(np.nanmean(floor)),
        by_split,
        one_sample_p(np.subtract(by_split, floor)),
        paired_ttest_p(*pooled),
    )


def _variants(splits: dict[int, _Split]) -> tuple[list[str], list[str]]:
    """The plainest variant of each method found on every split, and those missing from some."""
    tables = [s.table for s in splits.values()]
    everywhere = set.intersection(*(set(t["variant"]) for t in tables))
    anywhere = set().union(*(set(t["variant"]) for t in tables))
    gammas = default_gammas(pd.concat(tables))
    return plainest(everywhere, gammas), sorted(anywhere - everywhere)


def _build(runs: Runs, dataset: str, metrics, correction: str):
    splits = _load(runs, dataset)
    variants, missing = _variants(splits)
    reference = next((v for v in variants if method_of(v) == REFERENCE), None)
    if reference is None:
        raise ColdbenchError(
            f"--dataset {dataset}: the splits table tests against {REFERENCE}; run it on every split"
        )
    tests = [_test(splits, v, reference, m) for m in metrics for v in variants if v != reference]
    for unit in ("splits", "users"):
        adjusted = adjust([getattr(t, f"p_{unit}") for t in tests], correction)
        for t, p in zip(tests, adjusted):
            setattr(t, f"p_{unit}_adjusted", float(p))
    return splits, variants, missing, tests


def splits_tests(
    runs: Runs, dataset: str, *, correction: str = "holm", metrics: str | Sequence[str] | None = None
) -> pd.DataFrame:
    """The splits table's comparisons with ``bias``, one row each (what its marks rest on)."""
    check_options("paired", correction)
    _, _, _, tests = _build(runs, dataset, resolve_metrics(metrics, "rating"), correction)
    return pd.DataFrame([t.__dict__ for t in tests])


def pair_test(runs: Runs, dataset: str, a: str, b: str, metric: str = "mse") -> SplitTest:
    """Variant ``a`` against ``b`` over the splits of ``dataset`` (unadjusted: one comparison),
    at the split level and at the user level, as the table tests each row against ``bias``."""
    return _test(_load(runs, dataset), a, b, metric)


def splits_table(
    runs: Runs,
    dataset: str,
    with_paper: bool = False,
    *,
    test: str = "paired",
    correction: str = "holm",
    metrics: str | Sequence[str] | None = None,
) -> ReportTable:
    """Rows = methods (their plainest variant on every split), floors below a rule; per metric the
    pooled mean with its hierarchical bootstrap CI and the p-values against ``bias`` at the split
    and at the user level; the first metric's per-split means last."""
    check_options(test, correction)
    if test != "paired":
        raise ColdbenchError(
            "--test: the splits table has its own tests (over splits and over users); leave it out"
        )
    metrics = resolve_metrics(metrics, "rating")
    splits, variants, missing, tests = _build(runs, dataset, metrics, correction)
    found = {(t.variant, t.metric): t for t in tests}
    blocks = split_floors(variants)
    ordered = [v for _, rows in blocks for v in rows]
    header = ["method", "splits × seeds"]
    for metric in metrics:
        header += [metric_label(metric), "p vs bias (splits / users)"]
    header.append(f"{metric_label(metrics[0])} by split")
    report = ReportTable(
        f"Over data splits — {dataset}", header, groups=[name for name, rows in blocks for _ in rows]
    )
    report.rows = [[Cell(v), Cell(_counts(splits, v))] for v in ordered]
    for metric in metrics:
        higher = higher_is_better(metric)
        means, cells, p_cells = [], [], []
        for v in ordered:
            values = [_values(s, v, metric) for s in splits.values()]
            mean = nested_mean([seeds for seeds in values if seeds])
            t = found.get((v, metric))
            star = bool(t and t.p_splits_adjusted < ALPHA and better(t.mean, t.reference_mean, higher))
            interval = hierarchical_bootstrap(values, CONFIDENCE)
            means.append(mean)
            cells.append(Cell(fmt_ci(mean, interval, 3, star)))
            p_cells.append(Cell(f"{fmt_p(t.p_splits_adjusted)} / {fmt_p(t.p_users_adjusted)}" if t else "—"))
        mark_ranks(cells, means, higher)
        for row, cell, p_cell in zip(report.rows, cells, p_cells):
            row += [cell, p_cell]
    for row, v in zip(report.rows, ordered):
        by_split = [_split_mean(s, v, metrics[0]) for s in splits.values()]
        row.append(Cell(" / ".join("—" if math.isnan(x) else f"{x:.3f}" for x in by_split)))
    report.caption = _caption(dataset, splits, missing, tests, correction, report.groups)
    return report


def _counts(splits: dict[int, _Split], variant: str) -> str:
    seeds = [int((s.table["variant"] == variant).sum()) for s in splits.values()]
    return f"{len(seeds)} × {seeds[0]}" if len(set(seeds)) == 1 else " + ".join(map(str, seeds))


def _caption(dataset, splits, missing, tests, correction, groups) -> list[str]:
    n = len(splits)
    names = ", ".join(f"{s.name} (protocol seed {k})" for k, s in splits.items())
    family = "Holm-adjusted" if correction == "holm" else "unadjusted"
    significant = [t for t in tests if t.p_splits_adjusted < ALPHA]
    lines = [
        f"{dataset}: {n} data splits: {names}; each split's runs on its most-used preparation",
        *next(iter(splits.values())).notes[1:2],  # the protocol (its seed is split 0's)
        "value: mean over splits of the mean over seeds of the mean over test users; "
        f"[95% CI]: hierarchical bootstrap (resample splits, then seeds, then users; "
        f"{BOOTSTRAP_RESAMPLES} resamples, seed 0)",
        f"p vs bias, {family} within each unit over the table's {len(tests)} comparisons: splits = "
        f"two-tailed paired t-test over the {n} per-split means (unit: data split, n = {n}); users = "
        "two-tailed paired t-test over the test users of every split pooled (unit: user)",
        "* beats bias at the split level (adjusted p < 0.05)"
        if any(better(t.mean, t.reference_mean, higher_is_better(t.metric)) for t in significant)
        else "no method beats bias at the split level (adjusted p < 0.05)",
        *rule_note(groups),
    ]
    if missing:
        lines.append(f"left out (not run on every split): {', '.join(missing)}")
    return lines
