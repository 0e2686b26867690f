"""The click-through-rate table: AUC and NEL of all, major and minor users; floors below a rule."""

from __future__ import annotations

from collections.abc import Sequence

from coldbench.errors import ColdbenchError
from coldbench.report.runs import Runs
from coldbench.report.tables.base import (
    FLOOR_REFERENCE,
    FLOORS,
    GROUP_LABELS,
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
from coldbench.report.tables.compare import Column, floor_check, floor_note, tests_note, values_note
from coldbench.report.tables.metric_table import metric_table


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
    blocks = split_floors(
        ordered_variants(table.loc[table["overall_auc"].notna(), "variant"], default_gammas(table))
    )
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
        values_note(test, "; NEL is the weighted negative-entropy loss (lower is better)"),
        tests_note(test, correction, comparisons),
        *rule_note(
            report.groups,
            "below the rule: floors (constant: the training click rate; user-mean: the user's support "
            "click rate)",
        ),
    ]
    shown = [v for _, rows in blocks for v in rows]
    if any(method_of(v) not in FLOORS for v in shown):  # floors only: nothing to check against a floor
        report.caption.append(floor_note(floor, shown, columns, comparisons) + " (all users)")
    if with_paper:
        report.caption.append(
            "paper: its CTR results (Fig. 3) come from private Taobao data and are not comparable"
        )
    return report
