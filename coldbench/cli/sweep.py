"""``coldbench sweep``: many (method, dataset, seed) runs, locally or on Ray, and a summary."""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape

from coldbench.choices import DEFAULT_DATASET
from coldbench.cli import app
from coldbench.cli.options import (
    AddressOption,
    BudgetOption,
    EpochsOption,
    ExecutorOption,
    PresetOption,
    SetOption,
    StorageOption,
    ThreadsOption,
    TunedOption,
    check_threads,
    collect_settings,
    comma_names,
    examples,
)
from coldbench.errors import ColdbenchError
from coldbench.progress import TrainView
from coldbench.training.stopping import still_improving, worse_than_constant

console = Console()

WorkersOption = Annotated[int, typer.Option(help="Jobs at once (local: processes; ray: local CPUs).")]


def _meta_trained(method: str) -> bool:
    """False for a floor fitted in closed form (no epochs, no rates)."""
    from coldbench.methods import METHODS

    return method not in METHODS.names() or METHODS.get(method).meta_trained


def job_line(info: dict) -> str:
    """``[3/8] melu on synthetic, seed 1: trained · MSE 0.9312 · best epoch 4 of 9 (patience)``."""
    result, job = info["result"], info["result"].job
    head = f"[{info['done']}/{info['total']}] {job.label} on {job.dataset}, seed {job.seed}"
    if result.error:
        return f"{head}: failed · {result.error}"
    metrics = result.metrics
    metric = "mse" if metrics.get("task", "rating") == "rating" else "auc"
    value = metrics["test"]["overall"][metric]
    best = metrics.get("best_epoch", metrics.get("selected_epoch"))
    stop = f"best epoch {best} of {metrics.get('epochs_run', '?')}"
    status = "skipped (finished before)" if result.skipped else "trained"
    stopped = metrics.get("stopped", "maximum")
    line = f"{head}: {status} · {metric.upper()} {value:.4f} · {stop} ({stopped})"
    if best is not None and still_improving(best, metrics.get("epochs_run") or 0, stopped):
        line += " · warning: still improving at the maximum (raise --epochs)"
    if metric == "mse" and worse_than_constant(metrics, _meta_trained(job.method)):
        line += (
            f" · warning: worse than the constant floor ({metrics['constant_mse']:.4f}); see `train`'s advice"
        )
    return line


def print_summary(results: list) -> None:
    """One line per dataset and variant, wrapped at word boundaries: a long label is never cut, as
    a table's narrow column cut it at 80 columns."""
    from coldbench.studies.sweep import summary

    frame = summary(results)
    console.print("[bold]sweep summary[/]: test users, epoch chosen on validation", highlight=False)
    for row in frame.itertuples():
        value = "no test metric" if math.isnan(row.mean) else f"{row.metric} {row.mean:.4f}"
        if not math.isnan(row.std):
            value += f" ± {row.std:.4f}"
        counts = {"trained now": row.trained, "reused": row.skipped, "failed": row.failed}
        seeds = ", ".join(f"{n} {word}" for word, n in counts.items() if n) or "none"
        epochs = "" if math.isnan(row.epochs_run) else f" · {row.epochs_run:.1f} epochs run"
        stopped = f" · stopped: {row.stopped}" if row.stopped else ""
        console.print(
            f"  {escape(row.dataset)} · {escape(row.variant)}: {row.seeds} seed{'s' * (row.seeds != 1)} "
            f"({seeds}) · {value}{epochs}{stopped}",
            highlight=False,
        )


def raise_failures(results: list) -> None:
    failed = [r for r in results if r.error]
    if failed:
        first = failed[0]
        raise ColdbenchError(
            f"{len(failed)} of {len(results)} jobs failed (finished and resumable runs are kept); first: "
            f"{first.job.label} on {first.job.dataset}, seed {first.job.seed}: {first.error}"
        )


def sweep_progress() -> tuple[TrainView, Callable[[str, dict], None]]:
    """Progress for a sweep: trainer bars when jobs run here, one line per finished job."""
    view = TrainView(console, "")

    def report(kind: str, info: dict) -> None:
        if kind == "job-start":
            view.close()
            job = info["job"]
            view.method = escape(f"{job.label} · {job.dataset}")
        elif kind == "job":
            view.close()
            console.print(job_line(info), highlight=False, soft_wrap=True, markup=False)
        elif kind == "tune":
            console.print(f"tune {info['method']}: {info['trials']} trials", highlight=False, markup=False)
        elif kind == "trial":
            from coldbench.studies.tune import trial_line

            console.print(trial_line(info), highlight=False, markup=False)
        else:
            view(kind, info)

    return view, report


@app.command(
    "sweep",
    epilog=examples(
        "coldbench sweep --methods melu,paml,bias --datasets movielens --seeds 3",
        "coldbench sweep --methods melu --tuned --workers 2 --shots 0,1,4,16",
        "coldbench sweep --methods reg-paml,bias --datasets movielens --splits 3 --preset recommended",
    ),
)
def sweep_cli(
    methods: Annotated[str, typer.Option(help="Comma-separated methods.")],
    datasets: Annotated[
        str, typer.Option(help="Comma-separated prepared datasets (names or folders).")
    ] = DEFAULT_DATASET,
    seeds: Annotated[int, typer.Option(help="Seeds 0..N-1 of every method and dataset.")] = 1,
    splits: Annotated[
        int,
        typer.Option(
            help="Data splits: each dataset and its next N-1 splits (protocol seeds +1…, prepared "
            "when missing), for `report --table splits`."
        ),
    ] = 1,
    epochs: EpochsOption = None,
    set_: SetOption = None,
    preset: PresetOption = None,
    tuned: TunedOption = False,
    budget: BudgetOption = None,
    storage: StorageOption = None,
    executor: ExecutorOption = "local",
    workers: WorkersOption = 1,
    address: AddressOption = None,
    device: Annotated[str, typer.Option(help="auto, cpu or cuda.")] = "auto",
    results_dir: Annotated[Path, typer.Option(help="Where results go (shared storage on a cluster).")] = Path(
        "results"
    ),
    data_dir: Annotated[Path | None, typer.Option(help="Data home of prepared datasets.")] = None,
    threads: ThreadsOption = None,
    shots: Annotated[
        str | None,
        typer.Option(
            help="Then score each finished run at these support sizes and over the catalogue, as "
            "`coldbench evaluate` does (e.g. 0,1,2,4,8,16,32)."
        ),
    ] = None,
) -> None:
    """Train every (method, dataset, seed); finished runs are skipped; a summary table ends it."""
    from coldbench.cli.evaluate import parse_shots
    from coldbench.studies.executors import check_executor
    from coldbench.studies.sweep import plan_sweep, run_sweep

    check_executor(executor, workers, address)
    check_threads(threads)
    wanted = parse_shots(shots) if shots is not None else None  # checked before anything trains
    overrides, origins = collect_settings(None, set_, epochs)
    jobs = plan_sweep(
        comma_names(methods),
        comma_names(datasets),
        seeds,
        overrides=overrides,
        origins=origins,
        preset=preset,
        tuned=tuned,
        storage=storage,
        results_dir=results_dir,
        data_dir=data_dir,
        device=device,
        splits=splits,
        budget=budget,
    )
    where = f"ray at {address}" if address else f"{executor}, {workers} worker{'s' if workers > 1 else ''}"
    console.print(f"sweep: {len(jobs)} jobs on {where} · results: {results_dir}", highlight=False)
    view, report = sweep_progress()
    try:
        results = run_sweep(jobs, executor, workers, address, threads=threads, progress=report)
    finally:
        view.close()
    print_summary(results)
    raise_failures(results)
    if wanted is not None:
        from coldbench.training.catalogue import rescore

        for index, result in enumerate(results, 1):
            folder = Path(result.path)
            status = rescore(folder, wanted, data_dir=data_dir)
            console.print(
                f"[{index}/{len(results)}] evaluate {escape(str(folder))}: {status}", highlight=False
            )
