"""Table 3: the PAML family against PAML, Meta-SGD and MeLU variants against their plain rows."""

from __future__ import annotations

from collections.abc import Sequence

from coldbench.report.runs import Runs
from coldbench.report.tables.base import (
    FLOORS,
    OURS,
    NothingToShow,
    ReportTable,
    default_gammas,
    method_of,
    metric_label,
    ordered_variants,
    plainest,
    resolve_metrics,
)
from coldbench.report.tables.compare import Column, against, plain_row, tests_note, values_note
from coldbench.report.tables.metric_table import metric_table
from coldbench.report.tables.paper import paper_for, paper_notes


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
    gammas = default_gammas(runs.table)
    in_dataset = ordered_variants(runs.table.loc[runs.table["dataset"] == dataset, "variant"], gammas)
    family = [v for v in in_dataset if method_of(v) in OURS]
    if not family:
        raise NothingToShow("the ablation table needs paml / reg-paml / at-paml runs")
    blocks = [("PAML family", family), ("Meta-SGD", [v for v in in_dataset if method_of(v) == "meta-sgd"])]
    melu = [v for v in in_dataset if method_of(v) == "melu"]
    if len(melu) > 1:  # first-order and last-layer (ANIL) readings of MAML beside plain MeLU
        blocks.append(("MeLU", melu))
    blocks.append(("floors", plainest((v for v in in_dataset if method_of(v) in FLOORS), gammas)))
    blocks = [(name, rows) for name, rows in blocks if rows]
    paper = (paper_for(dataset, "ablation") or {}) if with_paper else None
    plans = [
        against("paml", lambda v: method_of(v) in OURS),
        against("meta-sgd", lambda v: method_of(v) == "meta-sgd"),
        against("melu", lambda v: method_of(v) == "melu"),
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
        values_note(
            test, "; test users, epoch chosen on validation MSE; best in bold, second best in italics"
        ),
        *(
            []  # the plain paml row alone: nothing to test against it
            if len(family) == 1 and plain_row(family, "paml") is not None
            else [
                "* improvement over PAML (the plain paml row)"
                + ("" if plain_row(family, "paml") is not None else ": no paml run, so no test")
            ]
        ),
        *(
            ["in the Meta-SGD block, * improvement over unbounded Meta-SGD (the plain meta-sgd row)"]
            if any(name == "Meta-SGD" and len(rows) > 1 for name, rows in blocks)  # one row: no star possible
            else []
        ),
        *(["in the MeLU block, * improvement over plain MeLU"] if len(melu) > 1 else []),
        tests_note(test, correction, comparisons),
        "rules separate "
        + ", ".join(name for name, _ in blocks)
        + "; floors are shown for reference, untested",
    ]
    if with_paper:
        report.caption += paper_notes(paper, [v for _, rows in blocks for v in rows], "Table 3")
    return report
