"""``coldbench train``, ``coldbench reproduce`` and ``coldbench methods``."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from coldbench.choices import DEFAULT_DATASET
from coldbench.cli import app
from coldbench.cli.options import (
    BudgetOption,
    DatasetOption,
    EpochsOption,
    PresetOption,
    SetOption,
    StorageOption,
    ThreadsOption,
    TunedOption,
    check_threads,
    collect_settings,
    examples,
)
from coldbench.config import MAX_SEED, TrainConfig, as_dict, check_seed_count
from coldbench.errors import ColdbenchError
from coldbench.progress import TrainView
from coldbench.studies.recommended import PRESET as RECOMMENDED
from coldbench.studies.recommended import engine_preset
from coldbench.training.stopping import still_improving, worse_than_constant

if TYPE_CHECKING:  # torch, pandas: imported by the commands that need them
    from coldbench.training.trainer import RunResult, RunSpec

console = Console()


@app.command(
    "methods",
    epilog=examples(
        "coldbench methods",
    ),
)
def methods_cli() -> None:
    """List the registered methods."""
    table = Table(title="methods")
    table.add_column("name")
    table.add_column("summary")
    from coldbench.methods import METHODS  # imports the method modules (and torch)

    for name in METHODS.names():
        table.add_row(name, METHODS.get(name).summary)
    console.print(table)


def seed_list(seeds: int | None, seed: int | None) -> list[int]:
    """``--seeds N`` → 0..N-1, ``--seed K`` → [K], neither → [0]."""
    if seeds is not None and seed is not None:
        raise ColdbenchError("give either --seeds N or --seed K, not both")
    if seeds is not None:
        check_seed_count(seeds)
    if seed is not None and not 0 <= seed <= MAX_SEED:
        raise ColdbenchError(f"option --seed {seed}: must be 0 to {MAX_SEED:,} (2^32 − 1)")
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
    """``key=value`` for every setting of ``spec`` that is not its default (a closed-form floor has
    no training settings: only its own are shown)."""
    from coldbench.methods import METHODS

    pairs = []
    compared = [(spec.params, type(spec.params)())]
    if METHODS.get(spec.method).meta_trained:
        compared.insert(0, (spec.train, TrainConfig()))
    for actual, default in compared:
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
    budget: int | None = None,
) -> RunSpec:
    """The run spec of ``train``: plain, from a ``--preset`` or from a study (``--tuned``, the best
    of its first ``budget`` finished trials when given)."""
    from coldbench.training.trainer import make_spec

    if tuned and preset is not None:
        raise ColdbenchError("give either --tuned or --preset, not both")
    if budget is not None and not tuned:
        raise ColdbenchError("option --budget: only with --tuned")
    if preset == RECOMMENDED:  # the committed tuned study's settings, labelled [recommended]
        from coldbench.studies.recommended import recommended_settings

        settings, origins, provenance = recommended_settings(
            method, prepared.name, prepared.manifest.get("source"), overrides, origins
        )
        return make_spec(method, settings, device, results_dir, origins, tuned=provenance)
    if not tuned:
        return make_spec(method, overrides, device, results_dir, origins, preset=preset)
    from coldbench.studies.tune import tuned_settings

    settings, provenance = tuned_settings(method, prepared, overrides, storage, results_dir, budget)
    origins = {**dict.fromkeys(settings, "--tuned"), **origins}
    return make_spec(method, settings, device, results_dir, origins, tuned=provenance)


def plan_line(spec: RunSpec, dataset: str, defaulted: bool, seeds: list[int]) -> str:
    """One line saying what ``train`` is about to do."""
    where = f"{dataset} (the default --dataset)" if defaulted else dataset
    settings = ", ".join(changed_settings(spec)) or "all defaults"
    if spec.tuned and spec.tuned.get("label") == RECOMMENDED:
        source = spec.tuned
        settings = (
            f"recommended for {source['recommended_for']} (best trial {source['trial']} of the "
            f"committed study {source['study']!r}, {source['from']}): {settings}"
        )
    elif spec.tuned:
        settings = f"best trial {spec.tuned['trial']} of study {spec.tuned['study']!r}: {settings}"
    folder = spec.results_dir / dataset / spec.method / spec.config_id
    return (
        f"train {spec.method} on {where} · settings: {settings} · {_seeds_text(seeds)} "
        f"· device {spec.device} · results: {folder}"
    )


@app.command(
    "train",
    epilog=examples(
        "coldbench train melu --dataset movielens --seeds 3",
        "coldbench train reg-paml --set gamma=1e-2 --preset paper",
        "coldbench train at-paml --tuned --threads 1",
    ),
)
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
    budget: BudgetOption = None,
    storage: StorageOption = None,
    threads: ThreadsOption = None,
) -> None:
    """Train a method, select the epoch on validation users, evaluate on test users."""
    from coldbench.data.prepared import load_prepared
    from coldbench.training.trainer import check_dataset_name, make_spec, train_spec

    check_threads(threads)
    seeds_to_run = seed_list(seeds, seed)
    overrides, origins = collect_settings(config, set_, epochs)
    if not tuned:  # check before loading (the recommended settings are checked once known)
        make_spec(method, overrides, device, results_dir, origins, preset=engine_preset(preset))
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
        budget=budget,
    )
    if preset == RECOMMENDED and not spec.tuned:
        console.print(
            f"no recommended settings for {method} on {prepared.name} (no committed tuned study of it): "
            "its defaults",
            highlight=False,
            markup=False,
        )
    console.print(
        plan_line(spec, prepared.name, dataset is None, seeds_to_run),
        highlight=False,
        soft_wrap=True,
        markup=False,
    )
    view = TrainView(console, method)
    try:
        if threads is not None:
            import torch

            torch.set_num_threads(threads)
        results = train_spec(spec, prepared, seeds_to_run, force, progress=view)
    finally:
        view.close()
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


def _floors() -> set[str]:
    """The methods fitted in closed form (no epochs to select)."""
    from coldbench.methods import METHODS

    return {name for name in METHODS.names() if not METHODS.get(name).meta_trained}


def print_results(method: str, dataset: str, results: list[RunResult]) -> None:
    """A table of test metrics per seed and their mean ± std over seeds."""
    import numpy as np

    how = "fitted in closed form" if method in _floors() else "epoch selected on validation"
    # no outer border, short cells: at 80 columns nothing is cut ("8.19…" before)
    table = Table(title=f"{method} on {dataset}: test users, {how}", show_edge=False)
    table.add_column("seed")
    table.add_column("epoch", justify="right")
    columns = COLUMNS[results[0].metrics.get("task", "rating")]
    for header, _, _ in columns:
        table.add_column(header, justify="right", min_width=6)
    rows, stops = [], {}
    for result in results:
        values = [result.metrics["test"][group][metric] for _, group, metric in columns]
        rows.append(values)
        seed = f"{result.seed}*" if result.skipped else str(result.seed)
        stops.setdefault(result.metrics.get("stopped", "maximum"), []).append(str(result.seed))
        epoch = f"{result.metrics['selected_epoch']}/{result.metrics.get('epochs_run', '?')}"
        table.add_row(seed, epoch, *(f"{v:.4f}" for v in values))
    if len(rows) > 1:
        array = np.array(rows)
        means, stds = array.mean(0), array.std(0, ddof=1)
        table.add_row("mean ± std", "", *(f"{m:.3f} ± {s:.3f}" for m, s in zip(means, stds)))
    stopped = "; ".join(
        f"{why} (seed{'s' * (len(seeds) > 1)} {', '.join(seeds)})" for why, seeds in stops.items()
    )
    table.caption = "epoch: selected / run; stopped: " + stopped
    if any(result.skipped for result in results):
        table.caption += "; * an earlier run (skipped)"
    console.print(table)
    for line in convergence_warnings(results, meta_trained=method not in _floors()):
        console.print(f"[yellow]warning:[/] {line}", highlight=False, soft_wrap=True)
    console.print(f"results: {results[0].path.parent}")


def convergence_warnings(results: list[RunResult], meta_trained: bool = True) -> list[str]:
    """A line for each seed still improving at the maximum, stopped by divergence, or worse than
    the constant floor (``meta_trained`` False: a closed-form floor, never compared so)."""
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
        worse = worse_than_constant(metrics, meta_trained)
        if worse:
            lines.append(f"seed {result.seed}: {worse}")
    return lines
