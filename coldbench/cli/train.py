"""``coldbench train`` and ``coldbench methods``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import numpy as np
import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from coldbench.cli import app
from coldbench.cli.options import parse_pairs
from coldbench.config import load_config_file
from coldbench.errors import ColdbenchError
from coldbench.methods import METHODS
from coldbench.prepared import load_prepared
from coldbench.trainer import RunResult, train

console = Console()


@app.command("methods")
def methods_cli() -> None:
    """List the registered methods."""
    table = Table(title="methods")
    table.add_column("name")
    table.add_column("summary")
    for name, cls in METHODS:
        table.add_row(name, cls.summary)
    console.print(table)


@app.command("train")
def train_cli(
    method: Annotated[str, typer.Argument(help="A registered method (see `coldbench methods`).")],
    dataset: Annotated[
        str, typer.Option(help="Prepared dataset name (see `coldbench datasets`).")
    ] = "synthetic",
    seeds: Annotated[int | None, typer.Option(help="Run seeds 0..N-1.")] = None,
    seed: Annotated[int | None, typer.Option(help="Run this one seed.")] = None,
    epochs: Annotated[int | None, typer.Option(help="Training epochs (default 20).")] = None,
    set_: Annotated[list[str] | None, typer.Option("--set", help="Override a setting: key=value.")] = None,
    config: Annotated[Path | None, typer.Option(help="TOML file of settings (key = value).")] = None,
    device: Annotated[str, typer.Option(help="auto, cpu or cuda.")] = "auto",
    results_dir: Annotated[Path, typer.Option(help="Where results go.")] = Path("results"),
    data_dir: Annotated[Path | None, typer.Option(help="Data home of prepared datasets.")] = None,
    force: Annotated[bool, typer.Option(help="Rerun finished seeds.")] = False,
) -> None:
    """Train a method, select the epoch on validation users, evaluate on test users."""
    if seeds is not None and seed is not None:
        raise ColdbenchError("give either --seeds N or --seed K, not both")
    if seeds is not None and seeds < 1:
        raise ColdbenchError("option --seeds must be at least 1")
    seed_list = [seed] if seed is not None else list(range(seeds or 1))
    overrides = load_config_file(config) if config else {}
    overrides.update(parse_pairs(set_, "--set"))
    if epochs is not None:
        overrides["epochs"] = epochs
    prepared = load_prepared(dataset, data_dir)

    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[info]}"),
        TimeElapsedColumn(),
        console=console,
    ) as bars:
        epoch_bar = bars.add_task(f"{method} epochs", total=None, info="")
        batch_bar = bars.add_task("meta-batches", total=None, info="")

        def report(kind: str, info: dict) -> None:
            if kind == "batch":
                bars.update(
                    batch_bar, completed=info["batch"], total=info["batches"], info=f"loss {info['loss']:.4f}"
                )
            elif kind == "epoch":
                bars.update(epoch_bar, advance=1, info=f"valid {info['selection']} {info['value']:.4f}")
            elif kind == "start":
                bars.update(epoch_bar, total=info["epochs"], completed=info["done"])
            elif kind == "resume":
                bars.update(epoch_bar, info=f"resumed after epoch {info['epoch']}")

        results = []
        for one_seed in seed_list:
            bars.reset(epoch_bar, total=None, info="")
            bars.update(epoch_bar, description=f"{method} seed {one_seed}")
            results.extend(
                train(
                    method,
                    prepared,
                    [one_seed],
                    overrides,
                    device,
                    results_dir,
                    force,
                    progress=lambda kind, info: report(kind, info),
                )
            )
    print_results(method, prepared.name, results)


COLUMNS = {
    "rating": (
        ("MSE", "overall", "mse"),
        ("MAE", "overall", "mae"),
        ("nDCG@3", "overall", "ndcg@3"),
        ("nDCG@5", "overall", "ndcg@5"),
        ("MSE major", "major", "mse"),
        ("MSE minor", "minor", "mse"),
    ),
    "ctr": (
        ("AUC", "overall", "auc"),
        ("NEL", "overall", "nel"),
        ("AUC major", "major", "auc"),
        ("AUC minor", "minor", "auc"),
        ("NEL major", "major", "nel"),
        ("NEL minor", "minor", "nel"),
    ),
}


def print_results(method: str, dataset: str, results: list[RunResult]) -> None:
    """A table of test metrics per seed and their mean ± std over seeds."""
    table = Table(title=f"{method} on {dataset}: test users, epoch selected on validation")
    table.add_column("seed")
    table.add_column("epoch", justify="right")
    columns = COLUMNS[results[0].metrics.get("task", "rating")]
    for header, _, _ in columns:
        table.add_column(header, justify="right")
    rows = []
    for result in results:
        values = [result.metrics["test"][group][metric] for _, group, metric in columns]
        rows.append(values)
        seed = f"{result.seed} (earlier run)" if result.skipped else str(result.seed)
        table.add_row(seed, str(result.metrics["selected_epoch"]), *(f"{v:.4f}" for v in values))
    if len(rows) > 1:
        array = np.array(rows)
        means, stds = array.mean(0), array.std(0, ddof=1)
        table.add_row("mean ± std", "", *(f"{m:.3f} ± {s:.3f}" for m, s in zip(means, stds)))
    console.print(table)
    console.print(f"results: {results[0].path.parent}")
