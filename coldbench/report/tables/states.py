"""MeLU's four cold-start states side by side: each method's test metric in warm, user-cold,
item-cold and user-item-cold, tested against the ``bias`` floor and against ``mf``."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pandas as pd

from coldbench.data.protocol import STATES
from coldbench.errors import ColdbenchError
from coldbench.report.runs import Runs
from coldbench.report.tables.base import (
    FLOORS,
    ReportTable,
    default_gammas,
    method_of,
    metric_label,
    one_dataset,
    ordered_variants,
    resolve_metrics,
    rule_note,
    split_floors,
)
from coldbench.report.tables.compare import Column, Comparison, against, floor_check, floor_note, tests_note
from coldbench.report.tables.metric_table import metric_table

REFERENCE = "bias"  # the floor every row is tested against
KNOWS_ITEMS = "mf"  # the baseline with item identity; a row marked * beats it


def has_states(table: pd.DataFrame) -> bool:
    """Whether runs of the four-state protocol (``metrics.json`` ``states``) are in ``table``."""
    return any(str(column).startswith(f"{STATES[0]}/") for column in table.columns)


def states_tests(
    runs: Runs,
    dataset: str,
    *,
    test: str = "paired",
    correction: str = "holm",
    metrics: str | Sequence[str] | None = None,
) -> pd.DataFrame:
    """The states table's comparisons, one row each: variant, state, metric, reference (``bias`` or
    ``mf``), both means, p and p adjusted over the table (what its marks and caption rest on)."""
    built = _build(runs, dataset, test, correction, metrics)
    return pd.DataFrame(
        [
            {
                "variant": built.variants[c.row],
                "state": built.columns[c.column].state,
                "metric": built.columns[c.column].metric,
                "reference": built.variants[c.ref],
                "mean": c.means[0],
                "reference_mean": c.means[1],
                "p": c.p,
                "p_adjusted": c.adjusted,
            }
            for c in built.comparisons
        ]
    )


@dataclass
class _Built:
    report: ReportTable
    comparisons: list[Comparison]
    columns: list[Column]
    variants: list[str]
    notes: list[str]


def _build(runs: Runs, dataset: str, test: str, correction: str, metrics) -> _Built:
    """The table with its comparisons, columns, row variants and notes (see ``states_table``)."""
    table, _ = one_dataset(runs, dataset)
    if not has_states(table):
        raise ColdbenchError(
            f"{dataset}: no runs of the four-state protocol (prepare the data with --item-split random, "
            "year or time)"
        )
    task = str(table["task"].iloc[0])
    chosen = resolve_metrics(metrics if metrics is not None else ["mse" if task == "rating" else "auc"], task)
    columns = [Column(f"{metric_label(m)} {state}", m, "overall", state) for m in chosen for state in STATES]
    blocks = split_floors(ordered_variants(table["variant"], default_gammas(table)))
    plans = [
        floor_check(REFERENCE),
        against(KNOWS_ITEMS, lambda v: method_of(v) not in (*FLOORS, KNOWS_ITEMS)),
    ]
    title = f"Four cold-start states — {dataset}"
    report, comparisons, notes = metric_table(
        runs, dataset, blocks, title, columns, plans, test=test, correction=correction
    )
    return _Built(report, comparisons, columns, [v for _, rows in blocks for v in rows], notes)


def states_table(
    runs: Runs,
    dataset: str,
    with_paper: bool = False,
    *,
    test: str = "paired",
    correction: str = "holm",
    metrics: str | Sequence[str] | None = None,
) -> ReportTable:
    """Rows: every variant, floors below a rule; columns: each metric in each of the four states.

    Every non-floor row is tested against ``bias`` (the caption names where it does not beat it)
    and, except ``mf`` itself, against ``mf`` (``*``: significantly better), in every column;
    all those tests are one family for the correction. Warm and item-cold are the training
    users scored on held-out existing items and on new items; user-cold and user-item-cold the
    test users.
    """
    built = _build(runs, dataset, test, correction, metrics)
    report, variants, comparisons = built.report, built.variants, built.comparisons
    mf_ran = any(method_of(v) == KNOWS_ITEMS for v in variants)
    report.caption = built.notes + [
        "mean over seeds [95% CI: "
        + (
            "t-interval over the per-seed values; – with one seed"
            if test == "seeds"
            else "t-interval over the state's users of each user's metric averaged over the variant's seeds"
        )
        + "]; best in bold, second best in italics",
        "warm: training users, held-out ratings of existing items; user-cold: test users, existing items; "
        "item-cold: training users, new items; user-item-cold: test users, new items. Every user adapts "
        "on existing items only (training users: the ratings meta-training saw; test users: their support)",
        "* significantly better than mf (biased matrix factorisation, which knows item identity)"
        if mf_ran
        else "no mf run on this preparation: no row is tested against it",
        tests_note(test, correction, comparisons).replace("over test users", "over the state's users"),
        *rule_note(report.groups),
        floor_note(REFERENCE, variants, built.columns, comparisons),
    ]
    if with_paper:
        report.caption.append("paper: the paper reports no four-state results")
    return report
