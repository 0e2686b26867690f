"""``reproduce``: prepare, train every method and the γ ablation, write all tables and figures."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from coldbench.atomic_io import atomic_path
from coldbench.choices import DEFAULT_DATASET  # noqa: F401  (re-exported for callers)
from coldbench.config import check_seed_count
from coldbench.data.prepare import prepare
from coldbench.data.prepared import PreparedDataset, load_prepared
from coldbench.data.protocol import ProtocolConfig
from coldbench.data.splits import check_split_count, prepare_splits
from coldbench.errors import ColdbenchError
from coldbench.methods import METHODS
from coldbench.paths import check_folder_writable
from coldbench.report.runs import load_runs
from coldbench.report.tables import METHOD_ORDER, TABLES, to_markdown
from coldbench.studies.recommended import engine_preset
from coldbench.training.trainer import make_spec

GAMMAS = (1e-5, 1e-4, 1e-2)  # the default 1e-3 is the plain reg-paml run
PAPER_TABLES = ("main", "ablation", "minor-major")
PAPER_FIGURES = ("boxplot", "lr-hist", "curves", "tsne")


# Readings and bounds the ablation compares beside the paper's own variants.
ABLATION = (
    ("at-paml", {"kernel": "inverse"}),
    ("meta-sgd", {"bounded": "true"}),
    # first-order (FO-MAML) and last-layer (ANIL) readings of a MAML method and of the paper's best
    *(
        (method, settings)
        for method in ("melu", "reg-paml")
        for settings in ({"first_order": "true"}, {"adapt": "last"})
    ),
)


def plan(overrides: dict[str, Any], tuned: bool = False) -> list[tuple[str, dict[str, Any]]]:
    """Every (method, settings) pair the paper's rating experiments need, floors included.

    A tuned study runs each method once with its study's best settings: the γ and reading
    variants set what the studies search, so they belong to the paper-preset study only.
    """
    runs = [(method, dict(overrides)) for method in METHOD_ORDER if method in METHODS]
    if tuned:
        return runs
    runs += [("reg-paml", {**overrides, "gamma": str(gamma)}) for gamma in GAMMAS]
    runs += [(method, {**overrides, **settings}) for method, settings in ABLATION]
    return runs


def reproduce(
    dataset: str,
    out: Path,
    *,
    seeds: int = 3,
    epochs: int | None = None,
    subset: int | None = None,
    overrides: dict[str, Any] | None = None,
    origins: dict[str, str] | None = None,
    prepare_options: dict[str, Any] | None = None,
    results_dir: Path = Path("results"),
    data_dir: Path | None = None,
    device: str = "auto",
    progress: Callable[[str, dict], None] | None = None,
    preset: str | None = None,
    executor: str = "local",
    workers: int = 1,
    address: str | None = None,
    tuned: bool = False,
    trials: int = 20,
    pruner: str = "median",
    export: Path | None = None,
    shots: tuple[int, ...] | None = None,
    splits: int = 1,
) -> Path:
    """Run the whole rating study on ``dataset``; finished runs are reused. Returns the index path.

    ``epochs`` and ``subset`` are shorthands for ``--set epochs=N`` and ``prepare --subset N``;
    ``preset="paper"`` keeps the paper's protocol (20 epochs, no early stopping). The runs go
    through :func:`coldbench.studies.sweep.run_sweep` (``executor``, ``workers``, ``address``). Every run's
    settings are checked before anything is prepared or trained.

    ``tuned`` first tunes every method that declares a search space, the floors included, with the
    same budget (``trials`` finished trials, ``pruner``, sampler seed 0, validation users only;
    finished studies are reused), then trains each with its study's best settings. ``export``
    also writes the committed form of the study there (:func:`coldbench.report.export.export_study`).
    ``shots``: then score every run at those support sizes and over the catalogue (as
    ``coldbench evaluate``), so the shots table and figure join the study.
    ``splits`` > 1: every run also on the dataset's next ``splits - 1`` data splits (other protocol
    seeds; ``coldbench.data.splits``), with the same settings (a tuned study tunes on the first
    split only), and the splits table (``table-splits.md``; its export with ``export``).
    """
    from coldbench.report.figures import FIGURES
    from coldbench.studies.executors import check_executor
    from coldbench.studies.sweep import method_jobs, run_sweep

    progress = progress or (lambda kind, info: None)
    check_seed_count(seeds)
    check_split_count(splits)
    overrides, origins = dict(overrides or {}), dict(origins or {})
    if epochs is not None:
        overrides["epochs"], origins["epochs"] = epochs, "--epochs"
    if tuned and preset is not None:
        raise ColdbenchError("give either --tuned or --preset, not both")
    protocol = ProtocolConfig(subset=subset)
    steps = plan(overrides, tuned)
    for method, settings in steps:
        make_spec(method, settings, device, results_dir, origins, preset=engine_preset(preset))
    check_executor(executor, workers, address)
    check_folder_writable(out, "--out")  # before hours of training, not after
    if export is not None:
        check_folder_writable(export, "--export")
    prepared_result = prepare(dataset, config=protocol, data_dir=data_dir, **(prepare_options or {}))
    prepared = load_prepared(prepared_result.path.name, data_dir)
    every_split = prepare_splits(prepared, splits, data_dir)
    if tuned:
        tune_all(
            [method for method, _ in steps],
            prepared,
            overrides=overrides,
            origins=origins,
            trials=trials,
            pruner=pruner,
            device=device,
            results_dir=results_dir,
            executor=executor,
            workers=workers,
            address=address,
            progress=progress,
        )
    jobs = [
        job
        for split in every_split
        for method, settings in steps
        for job in method_jobs(
            method,
            split,
            list(range(seeds)),
            settings,
            origins,
            preset=preset,
            tuned=tuned,
            results_dir=results_dir,
            device=device,
            budget=trials if tuned else None,  # every method's best of the same number of trials
        )
    ]
    results = run_sweep(jobs, executor, workers, address, progress=progress)
    failed = [r for r in results if r.error]
    if failed:
        job = failed[0].job
        raise ColdbenchError(
            f"{len(failed)} of {len(jobs)} runs failed (finished runs are kept); first: {job.label}, "
            f"seed {job.seed}: {failed[0].error}"
        )
    if shots is not None:
        from coldbench.training.catalogue import rescore

        for result in results:
            rescore(Path(result.path), shots, data_dir=data_dir)

    every_run = load_runs(results_dir)
    runs = every_run.select(prepared.name)
    out = Path(out)
    (out / "figures").mkdir(parents=True, exist_ok=True)
    lines = [
        f"# Reproduction on {prepared.name}",
        "",
        f"Prepared data `{prepared.manifest['content_hash'][:12]}`, {seeds} seeds per method, "
        f"results in `{results_dir}`.",
        "",
        "## Tables",
        "",
    ]
    for name in PAPER_TABLES:
        text = to_markdown(TABLES[name](runs, prepared.name, with_paper=True))
        with atomic_path(out / f"table-{name}.md") as tmp:
            tmp.write_text(text)
        lines += [f"- [{name}](table-{name}.md)"]
    if splits > 1:
        text = to_markdown(TABLES["splits"](every_run, prepared.name))
        with atomic_path(out / "table-splits.md") as tmp:
            tmp.write_text(text)
        lines += [f"- [splits](table-splits.md): {splits} data splits pooled"]
    lines += ["", "## Figures", ""]
    for name in PAPER_FIGURES:
        kwargs = {"data_dir": data_dir} if name == "tsne" else {}
        try:
            FIGURES[name](runs, out / "figures", **kwargs)
        except ColdbenchError as error:
            lines += [f"- {name}: not drawn ({error})"]
            continue
        lines += [f"- [{name}](figures/{name}.png) ([pdf](figures/{name}.pdf))"]
    lines += ["", "## Tables inline", ""]
    lines += [(out / f"table-{name}.md").read_text() for name in PAPER_TABLES]
    index = out / "index.md"
    with atomic_path(index) as tmp:
        tmp.write_text("\n".join(lines) + "\n")
    if export is not None:
        from coldbench.report.export import check_exported, export_splits, export_study

        if splits > 1:
            export_splits(every_run, prepared.name, export)
        else:
            export_study(runs, prepared.name, export)
        check_exported(export)  # every committed mean read back against the committed runs
    return index


def tune_all(
    methods: list[str],
    prepared: PreparedDataset,
    *,
    overrides: dict[str, Any],
    origins: dict[str, str],
    trials: int,
    pruner: str,
    device: str,
    results_dir: Path,
    executor: str,
    workers: int,
    address: str | None,
    progress: Callable[[str, dict], None],
) -> None:
    """Tune each method that has a search space with one budget; a study already at it is reused."""
    from coldbench.studies.tune import tune

    for method in methods:
        if not METHODS.get(method).search_space:
            continue
        progress("tune", {"method": method, "trials": trials})
        tune(
            method,
            prepared,
            trials=trials,
            workers=workers,
            overrides=overrides,
            origins=origins,
            pruner=pruner,
            device=device,
            results_dir=results_dir,
            executor=executor,
            address=address,
            progress=progress,
        )
