"""k-shot curves as a table: each variant's test metric with its users' support cut to k ratings.

Rows: variants (floors below a rule); columns: the support sizes k that every row was scored at
(``coldbench evaluate``). At each k the users are every test user with at least k support
ratings (``users="all"``), or only those with at least the largest k, the same users at every k
(``users="fixed"``). Each cell is the mean over seeds with a 95% t-interval over users (each
user's value averaged over seeds first); every non-floor row is tested against ``bias`` at each k
with a paired t-test over users, Holm over the table; ``*`` marks a significant improvement.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import pandas as pd

from coldbench.errors import ColdbenchError
from coldbench.report.runs import Runs
from coldbench.report.stats import adjust, paired_ttest_p, t_interval
from coldbench.report.tables.base import (
    ALPHA,
    CONFIDENCE,
    FLOORS,
    Cell,
    ReportTable,
    check_options,
    default_gammas,
    higher_is_better,
    method_of,
    metric_label,
    one_dataset,
    ordered_variants,
    resolve_metrics,
    rule_note,
    split_floors,
)
from coldbench.report.tables.compare import plain_row
from coldbench.report.tables.measure import better, fmt_ci, mark_ranks

REFERENCE = "bias"
USER_SETS = ("all", "fixed")


def shot_users(frame: pd.DataFrame, users: str) -> pd.DataFrame:
    """The rows of one user set: every user scored at each k (``all``), or the users whose support
    holds at least the largest k scored (``fixed``: the same users at every k)."""
    if users not in USER_SETS:
        raise ColdbenchError(f"--users {users!r}: expected one of {', '.join(USER_SETS)}")
    if users == "all":
        return frame
    largest = int(frame.loc[frame["k"] >= 0, "k"].max())
    return frame[frame["n_support_full"] >= largest]


def per_user_at_k(frame: pd.DataFrame, variant: str, k: int, metric: str) -> pd.Series:
    """Each user's ``metric`` at ``k``, averaged over the variant's seeds, by user_id."""
    part = frame[(frame["variant"] == variant) & (frame["k"] == k)]
    return part.groupby("user_id")[metric].mean().dropna()


def shots_table(
    runs: Runs,
    dataset: str,
    with_paper: bool = False,
    *,
    test: str = "paired",
    correction: str = "holm",
    metrics: str | Sequence[str] | None = None,
    users: str = "all",
) -> ReportTable:
    """The k-shot table of ``dataset`` (see the module's docstring)."""
    check_options(test, correction)
    if test != "paired":
        raise ColdbenchError(f"--test {test}: the shots table tests paired over users only")
    table, notes = one_dataset(runs, dataset)
    frame = Runs(table).shots()
    if frame.empty:
        raise ColdbenchError(
            f"{dataset}: no k-shot results; score the runs first: coldbench evaluate <results>/{dataset}"
        )
    task = str(table["task"].iloc[0])
    metric = resolve_metrics(metrics if metrics is not None else ["mse" if task == "rating" else "auc"], task)
    if len(metric) != 1:
        raise ColdbenchError("--metrics: the shots table shows one metric (its columns are the k)")
    metric = metric[0]
    frame = shot_users(frame, users)
    variants = ordered_variants(frame["variant"], default_gammas(table))
    ks = sorted(set.intersection(*(set(frame.loc[frame["variant"] == v, "k"]) for v in variants)) - {-1})
    blocks = split_floors(variants)
    variants = [v for _, rows in blocks for v in rows]
    higher = higher_is_better(metric)
    values = {(v, k): per_user_at_k(frame, v, k, metric) for v in variants for k in ks}
    seed_means = frame[frame["k"].isin(ks)].groupby(["variant", "k", "seed"])[metric].mean()
    means = {
        (v, k): float(seed_means.loc[(v, k)].mean()) if (v, k) in seed_means.index else math.nan
        for v in variants
        for k in ks
    }
    tests, cells = [], {}
    row = plain_row(variants, REFERENCE)
    reference = variants[row] if row is not None else None
    for k in ks:
        for v in variants:
            if reference and method_of(v) not in FLOORS:
                tests.append((v, k, paired_ttest_p(values[(v, k)], values[(reference, k)])))
    adjusted = dict(zip([(v, k) for v, k, _ in tests], adjust([p for *_, p in tests], correction)))
    for k in ks:
        column = []
        for v in variants:
            star = (
                (v, k) in adjusted
                and adjusted[(v, k)] < ALPHA
                and better(means[(v, k)], means[(reference, k)], higher)
            )
            column.append(
                Cell(fmt_ci(means[(v, k)], t_interval(values[(v, k)].to_numpy(), CONFIDENCE), 3, star))
            )
        mark_ranks(column, [means[(v, k)] for v in variants], higher)
        cells[k] = column
    sizes = {
        k: frame.loc[(frame["k"] == k) & (frame["variant"] == variants[0]), "user_id"].nunique() for k in ks
    }
    report = ReportTable(
        f"{metric_label(metric)} at k support ratings — {dataset}",
        ["method", "seeds", *(f"k={k} (n={sizes[k]})" for k in ks)],
        groups=[name for name, rows in blocks for _ in rows],
    )
    seeds = frame.groupby("variant")["seed"].nunique()
    report.rows = [
        [Cell(v), Cell(str(int(seeds.get(v, 0)))), *(cells[k][i] for k in ks)] for i, v in enumerate(variants)
    ]
    failing = sorted(
        {
            v
            for v, k, _ in tests
            if not (adjusted[(v, k)] < ALPHA and better(means[(v, k)], means[(reference, k)], higher))
        }
    )
    who = (
        "every test user with at least k support ratings (n per column)"
        if users == "all"
        else f"the test users with at least {max(ks)} support ratings, the same at every k"
    )
    report.caption = notes + [
        f"users: {who}; each user's support is cut to a seeded random k of its ratings, nested "
        "(the k ratings are among the 2k), the query unchanged; k = 0: no adaptation",
        "mean over seeds [95% CI: t-interval over users of each user's metric averaged over the seeds]; "
        "best in bold, second best in italics",
        (
            f"* significantly better than {REFERENCE}: two-tailed paired t-test over users at each k, "
            f"{'Holm–Bonferroni over' if correction == 'holm' else 'no correction for'} the {len(tests)} "
            f"tests of this table; significant: {'adjusted ' if correction == 'holm' else ''}p < {ALPHA}"
            if reference
            else f"no {REFERENCE} run with k-shot results: no row is tested"
        ),
        *rule_note(report.groups),
    ]
    if reference and failing:
        report.caption.append(f"not significantly better than {REFERENCE} at some k: {', '.join(failing)}")
    if with_paper:
        report.caption.append("paper: the paper reports no k-shot results")
    return report
