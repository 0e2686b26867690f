"""Table 2: one row per method (its plainest variant), the floors below a rule."""

from __future__ import annotations

from collections.abc import Sequence

from coldbench.report.runs import Runs
from coldbench.report.tables.base import (
    FLOOR_REFERENCE,
    FLOORS,
    ReportTable,
    default_gammas,
    method_of,
    metric_label,
    plainest,
    resolve_metrics,
    rule_note,
    split_floors,
)
from coldbench.report.tables.compare import (
    Column,
    Comparison,
    floor_check,
    floor_note,
    ours_vs_best_baseline,
    tests_note,
    values_note,
)
from coldbench.report.tables.metric_table import metric_table
from coldbench.report.tables.paper import paper_for, paper_notes


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
    variants = plainest(
        runs.table.loc[runs.table["dataset"] == dataset, "variant"], default_gammas(runs.table)
    )
    paper = (paper_for(dataset, "main") or {}) if with_paper else None
    floor = FLOOR_REFERENCE["rating"]
    blocks = split_floors(variants)
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
    shown = [v for _, rows in blocks for v in rows]
    trained = any(method_of(v) not in FLOORS for v in shown)  # floors only: no star, no floor check
    report.caption = notes + [
        values_note(
            test, "; test users, epoch chosen on validation MSE; best in bold, second best in italics"
        ),
        *([_star_note(comparisons)] if trained else []),
        tests_note(test, correction, comparisons),
        *rule_note(report.groups),
        *([floor_note(floor, shown, columns, comparisons)] if trained else []),
    ]
    if with_paper:
        report.caption += paper_notes(paper, shown, "Table 2")
    return report


def _star_note(comparisons: list[Comparison]) -> str:
    """What the ``*`` marks, or would mark where the table lacks the PAML family or a baseline."""
    if any(c.kind == "star" for c in comparisons):
        return "* improvement of the best PAML-family method over the best baseline (floors are no baseline)"
    return "* would mark the best PAML-family method over the best baseline; the table lacks one of them"
