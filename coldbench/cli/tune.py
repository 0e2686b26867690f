"""``coldbench tune``: an Optuna study of a method's settings on validation users."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from coldbench.choices import DEFAULT_DATASET
from coldbench.cli import app, err_console
from coldbench.cli.options import (
    AddressOption,
    DatasetOption,
    EpochsOption,
    ExecutorOption,
    SetOption,
    StorageOption,
    ThreadsOption,
    check_threads,
    collect_settings,
    examples,
)
from coldbench.errors import ColdbenchError

console = Console()


@app.command(
    "tune",
    epilog=examples(
        "coldbench tune reg-paml --dataset movielens --trials 20 --workers 2",
        "coldbench tune reg-paml --dataset movielens --show",
    ),
)
def tune_cli(
    method: Annotated[str, typer.Argument(help="A registered method with a search space.")],
    dataset: DatasetOption = None,
    trials: Annotated[
        int | None, typer.Option(help="Finished trials the study should hold (earlier ones count).")
    ] = None,
    timeout: Annotated[float | None, typer.Option(help="Stop starting trials after S seconds.")] = None,
    workers: Annotated[
        int, typer.Option(help="Parallel workers (processes or Ray tasks) on the shared study.")
    ] = 1,
    executor: ExecutorOption = "local",
    address: AddressOption = None,
    storage: StorageOption = None,
    show: Annotated[
        bool, typer.Option("--show", help="Print the best trial and parameter importances.", metavar="")
    ] = False,
    seed: Annotated[int, typer.Option(help="Seed of the sampler and of every trial's training.")] = 0,
    pruner: Annotated[str, typer.Option(help="median or hyperband.")] = "median",
    epochs: EpochsOption = None,
    set_: SetOption = None,
    device: Annotated[str, typer.Option(help="auto, cpu or cuda.")] = "auto",
    results_dir: Annotated[Path, typer.Option(help="Where results (and the default study) go.")] = Path(
        "results"
    ),
    data_dir: Annotated[Path | None, typer.Option(help="Data home of prepared datasets.")] = None,
    threads: ThreadsOption = None,
) -> None:
    """Tune a method's settings (Optuna TPE, pruned per epoch); test users are never read."""
    from coldbench.paths import default_storage
    from coldbench.studies.tune import load_tuned_study, shown_storage, summary, trial_line, tune

    check_threads(threads)
    if trials is None and not show:
        raise ColdbenchError("give --trials N to tune (or --show to print a study)")
    overrides, origins = collect_settings(None, set_, epochs)
    from coldbench.data.prepared import load_prepared

    prepared = load_prepared(dataset or DEFAULT_DATASET, data_dir)
    if trials is not None:
        console.print(
            f"tune {method} on {prepared.name}: {trials} trials, {workers} worker(s), pruner {pruner}",
            highlight=False,
        )
        try:
            with warnings.catch_warnings():  # a library's warnings are not tune's output
                warnings.simplefilter("ignore")
                study = tune(
                    method,
                    prepared,
                    trials=trials,
                    timeout=timeout,
                    workers=workers,
                    storage=storage,
                    seed=seed,
                    overrides=overrides,
                    origins=origins,
                    pruner=pruner,
                    device=device,
                    results_dir=results_dir,
                    progress=lambda kind, info: console.print(trial_line(info), highlight=False),
                    executor=executor,
                    address=address,
                    threads=threads,
                )
        except KeyboardInterrupt:
            where = shown_storage(storage or default_storage(results_dir, prepared.name, method))
            err_console.print(
                f"interrupted: the study keeps its finished trials in {where}; the same command resumes it",
                highlight=False,
                soft_wrap=True,
            )
            raise typer.Exit(130) from None
    else:
        study, _ = load_tuned_study(method, prepared, storage, results_dir)
    if show or trials is not None:
        for line in summary(study):
            console.print(line, highlight=False, soft_wrap=True)
