"""``coldbench train``, ``coldbench reproduce`` and ``coldbench methods``."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from coldbench.choices import DEFAULT_DATASET
from coldbench.cli import app
from coldbench.cli.options import parse_pairs
from coldbench.config import TrainConfig, as_dict, load_config_file
from coldbench.errors import ColdbenchError
from coldbench.progress import TrainView
from coldbench.stopping import still_improving

if TYPE_CHECKING:  # torch, pandas: imported by the commands that need them
    from coldbench.trainer import RunResult, RunSpec

console = Console()

DatasetOption = Annotated[
    str | None,
    typer.Option(help=f"Prepared dataset name or folder (default: {DEFAULT_DATASET}).", show_default=False),
]
SetOption = Annotated[list[str] | None, typer.Option("--set", help="Override a setting: key=value.")]
EpochsOption = Annotated[
    int | None, typer.Option(help="Most training epochs (default 100; early stopping usually ends sooner).")
]
PresetOption = Annotated[
    str | None, typer.Option(help="Named settings: paper (20 epochs, no early stopping, the paper's rates).")
]
TunedOption = Annotated[
    bool, typer.Option("--tuned", help="Use the best settings of `coldbench tune`'s study.", metavar="")
]
# help text is rich markup: a literal "[" is written "\\["
ExecutorOption = Annotated[
    str, typer.Option(help="local (processes) or ray (pip install 'coldbench\\[ray]').")
]
AddressOption = Annotated[str | None, typer.Option(help="Ray cluster address (default: a local Ray).")]
StorageOption = Annotated[
    str | None,
    typer.Option(help="Optuna storage URL of the study (default: results/<dataset>/<method>/tune/study.db)."),
]


@app.command("methods")
def methods_cli() -> None:
    """List the registered methods."""
    table = Table(title="methods")
    table.add_column("name")
    table.add_column("summary")
    from coldbench.method_catalog import method_names, summary  # read from the files: no torch

    for name in method_names():
        table.add_row(name, summary(name))
    console.print(table)


def collect_settings(
    config: Path | None, pairs: list[str] | None, epochs: int | None
) -> tuple[dict[str, Any], dict[str, str]]:
    """Settings from ``--config``, then ``--set``, then ``--epochs``, and where each came from."""
    overrides: dict[str, Any] = {}
    origins: dict[str, str] = {}
    if config is not None:
        overrides = load_config_file(config)
        origins = dict.fromkeys(overrides, f"--config {config}")
    for key, value in parse_pairs(pairs, "--set").items():
        overrides[key], origins[key] = value, "--set"
    if epochs is not None:
        overrides["epochs"], origins["epochs"] = epochs, "--epochs"
    return overrides, origins


def seed_list(seeds: int | None, seed: int | None) -> list[int]:
    """``--seeds N`` → 0..N-1, ``--seed K`` → [K], neither → [0]."""
    if seeds is not None and seed is not None:
        raise ColdbenchError("give either --seeds N or --seed K, not both")
    if seeds is not None and seeds < 1:
        raise ColdbenchError(f"option --seeds {seeds}: must be at least 1")
    if seed is not None and seed < 0:
        raise ColdbenchError(f"option --seed {seed}: must be 0 or more")
    return [seed] if seed is not None else list(range(seeds or 1))


def _shown(value: Any) -> str:
    if isinstance(value, list):
        return ",".join(map(str, value))
    return (
        f"{value:g}"
        if isinstance(value, float)
        else str(value).lower()
        if isinstance(value, bool)
        else str(value)
    )


def changed_settings(spec: RunSpec) -> list[str]:
    """``key=value`` for every setting of ``spec`` that is not its default."""
    pairs = []
    for actual, default in ((spec.train, TrainConfig()), (spec.params, type(spec.params)())):
        defaults = as_dict(default)
        pairs += [f"{k}={_shown(v)}" for k, v in as_dict(actual).items() if defaults[k] != v]
    return pairs


def _seeds_text(seeds: list[int]) -> str:
    if len(seeds) > 2 and seeds == list(range(seeds[0], seeds[-1] + 1)):
        return f"seeds {seeds[0]}–{seeds[-1]}"
    return f"seed{'s' if len(seeds) > 1 else ''} {', '.join(map(str, seeds))}"


def resolve_spec(
    method: str,
    prepared: Any,
    overrides: dict[str, Any],
    origins: dict[str, str],
    *,
    device: str,
    results_dir: Path,
    preset: str | None,
    tuned: bool,
    storage: str | None,
) -> RunSpec:
    """The run spec of ``train``/``sweep``: plain, from a ``--preset`` or from a study (``--tuned``)."""
    from coldbench.trainer import make_spec

    if tuned and preset is not None:
        raise ColdbenchError("give either --tuned or --preset, not both")
    if not tuned:
        return make_spec(method, overrides, device, results_dir, origins, preset=preset)
    from coldbench.tune import tuned_settings

    settings, provenance = tuned_settings(method, prepared, overrides, storage, results_dir)
    origins = {**dict.fromkeys(settings, "--tuned"), **origins}
    return make_spec(method, settings, device, results_dir, origins, tuned=provenance)


def plan_line(spec: RunSpec, dataset: str, defaulted: bool, seeds: list[int]) -> str:
    """One line saying what ``train`` is about to do."""
    where = f"{dataset} (the default --dataset)" if defaulted else dataset
    settings = ", ".join(changed_settings(spec)) or "all defaults"
    if spec.tuned:
        settings = f"best trial {spec.tuned['trial']} of study {spec.tuned['study']!r}: {settings}"
    folder = spec.results_dir / dataset / spec.method / spec.config_id
    return (
        f"train {spec.method} on {where} · settings: {settings} · {_seeds_text(seeds)} "
        f"· device {spec.device} · results: {folder}"
    )


@app.command("train")
def train_cli(
    method: Annotated[str, typer.Argument(help="A registered method (see `coldbench methods`).")],
    dataset: DatasetOption = None,
    seeds: Annotated[int | None, typer.Option(help="Run seeds 0..N-1.")] = None,
    seed: Annotated[int | None, typer.Option(help="Run this one seed.")] = None,
    epochs: EpochsOption = None,
    set_: SetOption = None,
    config: Annotated[Path | None, typer.Option(help="TOML file of settings (key = value).")] = None,
    device: Annotated[str, typer.Option(help="auto, cpu or cuda.")] = "auto",
    results_dir: Annotated[Path, typer.Option(help="Where results go.")] = Path("results"),
    data_dir: Annotated[Path | None, typer.Option(help="Data home of prepared datasets.")] = None,
    force: Annotated[
        bool, typer.Option("--force", help="Rerun finished seeds (the old run stays until done).", metavar="")
    ] = False,
    preset: PresetOption = None,
    tuned: TunedOption = False,
    storage: StorageOption = None,
) -> None:
    """Train a method, select the epoch on validation users, evaluate on test users."""
    from coldbench.prepared import load_prepared
    from coldbench.trainer import check_dataset_name, make_spec, train_spec

    seeds_to_run = seed_list(seeds, seed)
    overrides, origins = collect_settings(config, set_, epochs)
    if not tuned:
        make_spec(method, overrides, device, results_dir, origins, preset=preset)  # check before loading
    prepared = load_prepared(dataset or DEFAULT_DATASET, data_dir)
    check_dataset_name(prepared)
    spec = resolve_spec(
        method,
        prepared,
        overrides,
        origins,
        device=device,
        results_dir=results_dir,
        preset=preset,
        tuned=tuned,
        storage=storage,
    )
    console.print(
        plan_line(spec, prepared.name, dataset is None, seeds_to_run),
        highlight=False,
        soft_wrap=True,
        markup=False,
    )
    view = TrainView(console, method)
    try:
        results = train_spec(spec, prepared, seeds_to_run, force, progress=view)
    finally:
        view.close()
    print_results(method, prepared.name, results)


@app.command("reproduce")
def reproduce_cli(
    dataset: Annotated[
        str | None,
        typer.Option(
            help=f"Dataset to prepare (if needed) and study (default: {DEFAULT_DATASET}).", show_default=False
        ),
    ] = None,
    seeds: Annotated[int, typer.Option(help="Seeds per method: 0..N-1.")] = 3,
    epochs: EpochsOption = None,
    subset: Annotated[int | None, typer.Option(help="Prepare a seeded sample of N users.")] = None,
    out: Annotated[Path | None, typer.Option(help="Folder for tables, figures and index.md.")] = None,
    source: Annotated[Path | None, typer.Option(help="Local raw data instead of downloading.")] = None,
    extras: Annotated[Path | None, typer.Option(help="MovieLens: MeLU's movies_extrainfos.dat.")] = None,
    no_verify: Annotated[
        bool, typer.Option("--no-verify", help="Accept a raw file with another checksum.", metavar="")
    ] = False,
    set_: SetOption = None,
    device: Annotated[str, typer.Option(help="auto, cpu or cuda.")] = "auto",
    results_dir: Annotated[Path, typer.Option(help="Where runs go.")] = Path("results"),
    data_dir: Annotated[Path | None, typer.Option(help="Data home.")] = None,
    preset: PresetOption = None,
    executor: ExecutorOption = "local",
    workers: Annotated[int, typer.Option(help="Runs (and tuning workers) at once.")] = 1,
    address: AddressOption = None,
    tuned: Annotated[
        bool,
        typer.Option(
            "--tuned",
            help="Tune every method (floors too) with one budget first, then train its best settings.",
            metavar="",
        ),
    ] = False,
    trials: Annotated[int, typer.Option(help="With --tuned: finished trials per method's study.")] = 20,
    pruner: Annotated[str, typer.Option(help="With --tuned: median or hyperband.")] = "median",
    export: Annotated[
        Path | None, typer.Option(help="Also write the committable study here (as `report --export`).")
    ] = None,
) -> None:
    """Prepare, train every method and the γ ablation, and write every table and figure."""
    from coldbench.cli.sweep import sweep_progress
    from coldbench.reproduce import reproduce

    name = dataset or DEFAULT_DATASET
    overrides, origins = collect_settings(None, set_, None)
    view, report = sweep_progress()
    try:
        index = reproduce(
            name,
            out or Path("paper") / name,
            seeds=seeds,
            epochs=epochs,
            subset=subset,
            overrides=overrides,
            origins=origins,
            results_dir=results_dir,
            data_dir=data_dir,
            device=device,
            progress=report,
            prepare_options={"source": source, "extras": extras, "verify": not no_verify},
            preset=preset,
            executor=executor,
            workers=workers,
            address=address,
            tuned=tuned,
            trials=trials,
            pruner=pruner,
            export=export,
        )
    finally:
        view.close()
    console.print(f"[bold green]done[/]: {index}")


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
    import numpy as np

    table = Table(title=f"{method} on {dataset}: test users, epoch selected on validation")
    table.add_column("seed")
    table.add_column("epoch", justify="right")
    table.add_column("stopped", justify="right")
    columns = COLUMNS[results[0].metrics.get("task", "rating")]
    for header, _, _ in columns:
        table.add_column(header, justify="right")
    rows = []
    for result in results:
        values = [result.metrics["test"][group][metric] for _, group, metric in columns]
        rows.append(values)
        seed = f"{result.seed} (earlier run)" if result.skipped else str(result.seed)
        stopped = result.metrics.get("stopped", "maximum")
        stop_text = f"{stopped} ({result.metrics.get('epochs_run', '?')})"
        table.add_row(seed, str(result.metrics["selected_epoch"]), stop_text, *(f"{v:.4f}" for v in values))
    if len(rows) > 1:
        array = np.array(rows)
        means, stds = array.mean(0), array.std(0, ddof=1)
        table.add_row("mean ± std", "", "", *(f"{m:.3f} ± {s:.3f}" for m, s in zip(means, stds)))
    console.print(table)
    for line in convergence_warnings(results):
        console.print(f"[yellow]warning:[/] {line}", highlight=False, soft_wrap=True)
    console.print(f"results: {results[0].path.parent}")


def convergence_warnings(results: list[RunResult]) -> list[str]:
    """A line for each seed still improving at the maximum, or stopped by divergence."""
    lines = []
    for result in results:
        metrics = result.metrics
        best, run = metrics.get("best_epoch"), metrics.get("epochs_run")
        stopped = metrics.get("stopped", "maximum")
        if best is not None and run is not None and still_improving(best, run, stopped):
            lines.append(
                f"seed {result.seed}: its best validation epoch was the last one ({best} of {run}): "
                "the run was still improving; raise --epochs"
            )
        elif stopped == "divergence":
            lines.append(
                f"seed {result.seed}: training diverged after epoch {run}; its best epoch {best} is "
                "reported (try a smaller outer_lr)"
            )
    return lines
