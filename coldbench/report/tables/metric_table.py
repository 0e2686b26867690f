"""The builder the metric tables share: rows of variants, a column per metric, tests and stars."""

from __future__ import annotations

from collections.abc import Sequence

from coldbench.report.runs import Runs
from coldbench.report.tables.base import Cell, ReportTable, check_options, higher_is_better, one_dataset
from coldbench.report.tables.compare import Column, Comparison, Plan, run_tests
from coldbench.report.tables.measure import Measurements, better, fmt_ci, mark_ranks
from coldbench.report.tables.paper import paper_cells
from coldbench.report.tables.sanity import sanity_notes


def seed_count(measured: Measurements, table, variant: str, columns) -> str:
    """The seeds a row averages: ``3``, or ``2 of 3`` when a seed has no finite value in one of
    ``columns`` (those the table has any value for)."""
    total = int((table["variant"] == variant).sum())
    counted = min((len(measured.seeds(variant, c.metric, c.group, c.state)) for c in columns), default=total)
    return str(total) if counted == total else f"{counted} of {total}"


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
    table, notes = one_dataset(runs, dataset, shown=[v for _, rows in blocks for v in rows])
    measured = Measurements(table, test)
    variants = [v for _, rows in blocks for v in rows]
    header = ["method", "seeds"]
    for column in columns:
        header += [column.label] + (["paper", "Δ"] if paper is not None else [])
    report = ReportTable(title, header, groups=[name for name, rows in blocks for _ in rows])
    means = [[measured.mean(v, c.metric, c.group, c.state) for v in variants] for c in columns]
    comparisons = [c for plan in plans for c in plan(variants, means, columns)]
    run_tests(measured, variants, columns, means, comparisons, correction)
    stars = {
        (c.row, c.column)
        for c in comparisons
        if c.kind == "star"
        and c.significant()
        and better(*c.means, higher_is_better(columns[c.column].metric))
    }
    filled = [c for c in columns if any(len(measured.seeds(v, c.metric, c.group, c.state)) for v in variants)]
    counts = {v: seed_count(measured, table, v, filled) for v in variants}
    report.rows = [[Cell(v), Cell(counts[v])] for v in variants]
    notes = [*notes, *sanity_notes(measured, variants)]
    short = [f"{v} ({count})" for v, count in counts.items() if " of " in count]
    if short:
        notes = [*notes, f"seeds without a finite test value are left out of the means: {'; '.join(short)}"]
    for j, column in enumerate(columns):
        cells = [
            Cell(
                fmt_ci(
                    means[j][i],
                    measured.interval(v, column.metric, column.group, column.state),
                    digits,
                    (i, j) in stars,
                )
            )
            for i, v in enumerate(variants)
        ]
        mark_ranks(cells, means[j], higher_is_better(column.metric))
        for i, (row, cell) in enumerate(zip(report.rows, cells)):
            row.append(cell)
            if paper is not None:
                row.extend(paper_cells(paper, variants[i], column.metric, means[j][i]))
    return report, comparisons, notes
