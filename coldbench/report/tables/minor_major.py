"""Tables 4/5: the MSE of major and of minor users and the t-test between them."""

from __future__ import annotations

import math

from coldbench.report.runs import Runs
from coldbench.report.stats import adjust, ttest_p
from coldbench.report.tables.base import (
    Cell,
    ReportTable,
    check_options,
    default_gammas,
    one_dataset,
    ordered_variants,
    rule_note,
    split_floors,
)
from coldbench.report.tables.compare import values_note
from coldbench.report.tables.measure import Measurements, fmt_ci, fmt_mean_std, fmt_p
from coldbench.report.tables.paper import paper_for, paper_match, paper_notes


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
    paper = paper_for(dataset, "minor-major") if with_paper else None
    columns = ["method", "seeds", "MSE major", "MSE minor", "p-value"]
    columns += ["p Holm"] if correction == "holm" else []
    columns += ["major / minor users"]
    if with_paper:
        columns += ["paper major", "paper minor", "paper p"]
    blocks = split_floors(ordered_variants(table["variant"], default_gammas(table)))
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
                    fmt_ci(
                        measured.mean(variant, "mse", "major"), measured.interval(variant, "mse", "major"), 3
                    )
                ),
                Cell(
                    fmt_ci(
                        measured.mean(variant, "mse", "minor"), measured.interval(variant, "mse", "minor"), 3
                    )
                ),
            ]
        )
        report.rows[-1].append(Cell(fmt_p(pvalues[-1])))
        report.rows[-1].append(Cell(f"{len(major)} / {len(minor)}"))
    if correction == "holm":
        for row, adjusted in zip(report.rows, adjust(pvalues, "holm")):
            row.insert(5, Cell(fmt_p(adjusted)))
    if with_paper:
        for row, variant in zip(report.rows, variants):
            match = paper_match(paper, variant)
            entry = paper[match.key] if match else None
            row += (
                [
                    Cell(fmt_mean_std(*entry["major_mse"]) + match.mark()),
                    Cell(fmt_mean_std(*entry["minor_mse"]) + match.mark()),
                    Cell(f"{entry['p']:.3g}"),
                ]
                if entry
                else [Cell("–")] * 3
            )
    kind = "Welch's" if welch else "Student's"
    tested = sum(not math.isnan(p) for p in pvalues)
    report.caption = notes + [
        values_note(test, " of the test MSE of major and of minor users"),
        f"p: two-tailed {kind} t-test between the per-user test MSEs of minor and major users of the same "
        "method; each user's MSE is first averaged over seeds; a low p means the two groups fare differently",
    ]
    if correction == "holm" and tested > 1:
        report.caption.append(f"p Holm: Holm–Bonferroni adjusted over the {tested} tests of this table")
    elif correction == "holm" and tested == 1:
        report.caption.append("p Holm: one test in this table, so not adjusted")
    report.caption += rule_note(report.groups)
    if with_paper:
        report.caption += paper_notes(paper, variants, "Tables 4/5")
    return report
