"""``coldbench report`` (``coldbench reproduce`` lives beside ``train`` in cli/train.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from coldbench.atomic_io import atomic_path
from coldbench.choices import CORRECTIONS, TESTS
from coldbench.choices import TABLE_NAMES as TABLES
from coldbench.cli import app
from coldbench.cli.options import examples
from coldbench.errors import ColdbenchError

console = Console()


@app.command(
    "report",
    epilog=examples(
        "coldbench report --table main --paper",
        "coldbench report --table minor-major --format markdown --out mm.md",
        "coldbench report --figure boxplot --out figures/",
    ),
)
def report_cli(
    table: Annotated[str | None, typer.Option(help=f"One of: {', '.join(TABLES)}.")] = None,
    figure: Annotated[
        str | None, typer.Option(help="boxplot, lr-hist, tsne, ctr, curves, states or shots.")
    ] = None,
    dataset: Annotated[
        str | None, typer.Option(help="Prepared dataset name.", show_default="every one")
    ] = None,
    format: Annotated[str, typer.Option("--format", help="rich, markdown, latex or csv.")] = "rich",
    out: Annotated[
        Path | None,
        typer.Option(help="Table: a file. Figure: a folder.", show_default="stdout; figures: figures"),
    ] = None,
    paper: Annotated[
        bool, typer.Option("--paper", metavar="", help="Show the paper's reported numbers beside ours.")
    ] = False,
    test: Annotated[
        str, typer.Option(help=f"Significance test: {', '.join(TESTS)} (over users, seeds, users).")
    ] = "paired",
    correction: Annotated[
        str, typer.Option(help=f"Multiple-comparison correction over a table: {', '.join(CORRECTIONS)}.")
    ] = "holm",
    metrics: Annotated[
        str | None,
        typer.Option(
            help="Columns, e.g. mse,ndcg@3,ndcg_lin@3.", show_default="mse,ndcg@3,ndcg@5; ctr: auc,nel"
        ),
    ] = None,
    welch: Annotated[
        bool, typer.Option("--welch", metavar="", help="Welch's t-test instead of Student's (minor-major).")
    ] = False,
    results_dir: Annotated[Path, typer.Option(help="Where the runs are.")] = Path("results"),
    data_dir: Annotated[Path | None, typer.Option(help="Data home (t-SNE needs the prepared data).")] = None,
    export: Annotated[
        Path | None,
        typer.Option(help="Write the study for committing: tables, PNG figures and runs.jsonl (every run)."),
    ] = None,
    keep_committed: Annotated[
        bool,
        typer.Option(
            "--keep-committed",
            metavar="",
            help="With --export: keep the runs already committed there that these results lack "
            "(a study trained over several sessions).",
        ),
    ] = False,
    variant: Annotated[
        str | None,
        typer.Option(
            help="tsne: the run's variant label as `report` lists it; its lowest seed is drawn, and the "
            "figure names the run it draws.",
            show_default="reg-paml, else at-paml, else paml, each with default settings, else the first "
            "variant in method order",
        ),
    ] = None,
    users: Annotated[
        str,
        typer.Option(
            help="shots table and figure: 'all' test users with at least k support ratings at each k, or "
            "'fixed': only those with at least the largest k (the same users at every k)."
        ),
    ] = "all",
    preset: Annotated[
        str | None,
        typer.Option(help="Only runs labelled \\[paper] or \\[tuned] (and floors with nothing so labelled)."),
    ] = None,
) -> None:
    """Tables, t-tests and figures from finished runs on disk."""
    from coldbench.report.runs import load_runs
    from coldbench.report.tables import RENDERERS, TABLES, check_options, to_rich

    runs = load_runs(results_dir)
    if len(runs) == 0:
        raise ColdbenchError(f"no finished runs under {results_dir}; run `coldbench train` first")
    if preset is not None:
        if preset not in runs.tags():
            raise ColdbenchError(
                f"option --preset {preset!r}: no run is labelled [{preset}] "
                f"(labels here: {', '.join(runs.tags()) or 'none'})"
            )
        runs = runs.for_preset(preset)
    datasets = [dataset] if dataset else runs.datasets()
    if export is not None:
        from coldbench.report.export import check_exported, export_splits, export_study

        if table == "splits":  # a study over data splits: every split, and the splits table
            from coldbench.report.tables.splits import split_studies

            studies = [dataset] if dataset else split_studies(runs)
            for name in studies:
                folder = export / name if dataset is None and len(studies) > 1 else export
                written = export_splits(runs, name, folder, keep_committed=keep_committed)
                checked = check_exported(folder)
                console.print(f"wrote {len(written)} files to {folder} ({checked} table lines checked)")
            return
        for name in datasets:
            folder = export / name if len(datasets) > 1 or dataset is None else export
            written = export_study(runs, name, folder, keep_committed=keep_committed)
            cells = check_exported(folder)
            console.print(
                f"wrote {len(written)} files to {folder} "
                f"({cells} table cells and lines checked against the committed runs)"
            )
        return
    if table is None and figure is None:
        print_inventory(runs)
        return
    if table is not None:
        if table not in TABLES:
            raise ColdbenchError(f"--table {table!r}: expected one of {', '.join(TABLES)}")
        if format not in (*RENDERERS, "rich"):
            raise ColdbenchError(f"--format {format!r}: expected rich, markdown, latex or csv")
        check_options(test, correction)
        kwargs: dict = {"test": test, "correction": correction}
        if table == "minor-major":
            if metrics is not None:
                raise ColdbenchError("--metrics: the minor-major table shows MSE only")
            kwargs["welch"] = welch
        else:
            kwargs["metrics"] = metrics
        if table == "shots":
            kwargs["users"] = users
        if table == "states" and dataset is None:  # every dataset prepared with the four states
            from coldbench.report.tables.states import has_states

            datasets = [name for name in datasets if has_states(runs.select(name).table)] or datasets
        if table == "splits" and dataset is None:  # every study with runs on two or more splits
            from coldbench.report.tables.splits import split_studies

            datasets = split_studies(runs) or datasets
        reports = [TABLES[table](runs, name, with_paper=paper, **kwargs) for name in datasets]
        if format == "rich" and out is None:
            for report in reports:
                console.print(to_rich(report))
        else:
            render = RENDERERS.get(format, RENDERERS["markdown"])
            text = "\n".join(render(report) for report in reports)
            if out is None:
                print(text, end="")
            else:
                with atomic_path(out) as tmp:
                    tmp.write_text(text)
                console.print(f"wrote {out}")
    if figure is not None:
        from coldbench.report.figures import FIGURES

        if figure not in FIGURES:
            raise ColdbenchError(f"--figure {figure!r}: expected one of {', '.join(FIGURES)}")
        for name in datasets:
            folder = (out or Path("figures")) / name if len(datasets) > 1 else (out or Path("figures"))
            kwargs = {"data_dir": data_dir, "variant": variant} if figure == "tsne" else {}
            FIGURES[figure](runs.select(name), folder, **kwargs)
            console.print(f"wrote {folder / figure}.png and .pdf")


def print_inventory(runs) -> None:
    """What runs exist: dataset, method variant, seeds."""
    from coldbench.report.tables.base import default_gammas, ordered_variants

    table = Table(title="finished runs (use --table or --figure)")
    for column in ("dataset", "method", "config", "seeds"):
        table.add_column(column)
    frame = runs.table
    for dataset in runs.datasets():
        part = frame[frame["dataset"] == dataset]
        for variant in ordered_variants(part["variant"], default_gammas(part)):
            rows = part[part["variant"] == variant]
            table.add_row(
                escape(dataset),
                escape(variant),
                ", ".join(sorted(rows["config_id"].unique())),
                ", ".join(str(s) for s in sorted(rows["seed"])),
            )
    console.print(table)
