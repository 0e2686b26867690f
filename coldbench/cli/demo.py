"""``coldbench demo``: the first run, in one command and one process."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from coldbench.choices import DEMO_EPOCHS, DEMO_SEEDS
from coldbench.cli import app
from coldbench.cli.options import comma_names, examples, parse_pairs
from coldbench.errors import ColdbenchError

console = Console()


def _methods(text: str | None) -> list[str] | None:
    """``"global,paml"`` → ``["global", "paml"]``; an unknown name is a one-line error."""
    if text is None:
        return None
    from coldbench.methods import METHODS

    names = comma_names(text)
    for name in names or [""]:
        try:
            METHODS.get(name)
        except ColdbenchError as error:
            raise ColdbenchError(f"option --methods: {error}") from None
    return names


@app.command(
    "demo",
    epilog=examples(
        "coldbench demo",
        "coldbench demo --methods global,paml,bias --epochs 2 --seeds 1",
    ),
)
def demo_cli(
    epochs: Annotated[int, typer.Option(help="Training epochs per method (the paper: 20).")] = DEMO_EPOCHS,
    seeds: Annotated[int, typer.Option(help="Seeds per method: 0..N-1.")] = DEMO_SEEDS,
    methods: Annotated[
        str | None, typer.Option(help="Comma-separated methods.", show_default="every registered one")
    ] = None,
    option: Annotated[
        list[str] | None, typer.Option("--option", "-o", help="Synthetic data option key=value.")
    ] = None,
    set_: Annotated[list[str] | None, typer.Option("--set", help="Override a setting: key=value.")] = None,
    threads: Annotated[
        int, typer.Option(help="Torch CPU threads (1: no thread contention on a busy machine).")
    ] = 1,
    out: Annotated[Path, typer.Option(help="Folder for the figure.")] = Path("figures/demo"),
    figure: Annotated[
        bool, typer.Option(" /--no-figure", help="Skip the figure.", metavar="", show_default=False)
    ] = True,
    results_dir: Annotated[Path, typer.Option(help="Where results go.")] = Path("results"),
    data_dir: Annotated[Path | None, typer.Option(help="Data home of prepared datasets.")] = None,
    force: Annotated[
        bool, typer.Option("--force", metavar="", help="Rebuild the data and retrain (else reuse).")
    ] = False,
) -> None:
    """Prepare the synthetic data, train every method briefly, show the tables and what they mean."""
    import torch

    from coldbench.report.tables import to_rich
    from coldbench.studies.demo import run_demo, summary

    if threads < 1:
        raise ColdbenchError(f"option --threads {threads}: must be at least 1")
    if epochs < 1:
        raise ColdbenchError(f"option --epochs {epochs}: must be at least 1")
    torch.set_num_threads(threads)
    result = run_demo(
        epochs=epochs,
        seeds=seeds,
        methods=_methods(methods),
        options=parse_pairs(option, "--option"),
        settings=parse_pairs(set_, "--set"),
        results_dir=results_dir,
        data_dir=data_dir,
        force=force,
        say=lambda line: console.print(line, highlight=False),
    )
    for table in result.tables:
        console.print(to_rich(table))
    path = None
    if figure:
        from coldbench.report.figures import boxplot

        boxplot(result.runs, out)
        path = out / "boxplot"
    for line in summary(result, path):
        console.print(line, highlight=False, soft_wrap=True)
