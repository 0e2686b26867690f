"""Sweeps: one job per (method, dataset, settings, seed), run locally or as Ray tasks.

Every job is checked in the calling process before any runs (unknown settings, missing data,
missing studies for ``--tuned``); finished jobs are skipped there, as ``train`` skips them. A job
is a plain picklable record: a worker loads the prepared data from its (absolute) folder and
trains one seed with :func:`coldbench.training.trainer.train_spec`, so a run's numbers do not depend on
where it ran. A worker that dies leaves ``last.pt`` behind and the next sweep resumes the run.

Executors: ``local`` runs the jobs one at a time in this process (``workers`` 1) or in a pool of
``workers`` processes with cores/workers threads each; ``ray`` submits one task per job to the
cluster at ``address`` or to a local Ray started for the sweep (``pip install 'coldbench[ray]'``).
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Callable, Iterator
from concurrent.futures import as_completed
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import torch

from coldbench.config import as_dict, check_seed_count
from coldbench.data.prepared import PreparedDataset, load_prepared
from coldbench.errors import ColdbenchError
from coldbench.methods import METHODS
from coldbench.studies.executors import check_executor, ray_session, threads_per_worker, worker_pool
from coldbench.studies.recommended import PRESET as RECOMMENDED
from coldbench.studies.recommended import engine_preset, recommended_settings
from coldbench.training.trainer import check_dataset_name, finished_run, make_spec, run_dir, train_spec

Progress = Callable[[str, dict], None]


@dataclass
class Job:
    """One seed of one method's settings on one prepared dataset."""

    method: str
    dataset: str
    dataset_path: str  # absolute folder of the prepared data
    seed: int
    label: str  # the run's report label
    overrides: dict[str, Any] = field(default_factory=dict)
    origins: dict[str, str] = field(default_factory=dict)
    preset: str | None = None
    tuned: dict | None = None  # provenance of the study's best trial (resolved when planning)
    results_dir: str = "results"
    device: str = "auto"


@dataclass
class JobResult:
    job: Job
    path: str = ""
    metrics: dict = field(default_factory=dict)
    skipped: bool = False
    error: str | None = None


def _spec(job: Job):
    return make_spec(
        job.method,
        job.overrides,
        job.device,
        Path(job.results_dir),
        job.origins,
        preset=job.preset,
        tuned=job.tuned,
    )


def make_jobs(
    method: str,
    prepared: PreparedDataset,
    seeds: list[int],
    overrides: dict[str, Any],
    origins: dict[str, str] | None = None,
    *,
    preset: str | None = None,
    tuned: dict | None = None,
    results_dir: Path = Path("results"),
    device: str = "auto",
) -> list[Job]:
    """The jobs of one method's settings on ``prepared``, one per seed; the settings are checked."""
    from coldbench.report.runs import variant_label

    job = Job(
        method=method,
        dataset=prepared.name,
        dataset_path=str(Path(prepared.path).resolve()),
        seed=0,
        label="",
        overrides=dict(overrides),
        origins=dict(origins or {}),
        preset=preset,
        tuned=tuned,
        results_dir=str(Path(results_dir).resolve()),
        device=device,
    )
    spec = _spec(job)
    info = METHODS.get(method).describe()
    job.label = variant_label(method, as_dict(spec.params), as_dict(spec.train), spec.tuned, info)
    return [dataclasses.replace(job, seed=seed) for seed in seeds]


def plan_sweep(
    methods: list[str],
    datasets: list[str],
    seeds: int,
    *,
    overrides: dict[str, Any] | None = None,
    origins: dict[str, str] | None = None,
    preset: str | None = None,
    tuned: bool = False,
    storage: str | None = None,
    results_dir: Path = Path("results"),
    data_dir: Path | None = None,
    device: str = "auto",
    splits: int = 1,
    budget: int | None = None,
) -> list[Job]:
    """Every job of the sweep, each checked. With ``tuned``, methods without a search space run as is.

    ``splits`` > 1 also runs every job on the dataset's next ``splits - 1`` data splits (the same
    recipe with other protocol seeds, prepared here when missing: ``coldbench.data.splits``).
    """
    from coldbench.data.splits import check_split_count, prepare_splits

    check_seed_count(seeds)
    check_split_count(splits)
    if not methods or not datasets:
        raise ColdbenchError("give at least one method (--methods) and one dataset (--datasets)")
    if tuned and preset is not None:
        raise ColdbenchError("give either --tuned or --preset, not both")
    if budget is not None and not tuned:
        raise ColdbenchError("option --budget: only with --tuned")
    overrides, origins = dict(overrides or {}), dict(origins or {})
    methods, datasets = list(dict.fromkeys(methods)), list(dict.fromkeys(datasets))  # one job each
    for method in methods:
        METHODS.get(method)  # an unknown name fails before any data is loaded
        if not tuned:
            make_spec(method, overrides, device, results_dir, origins, preset=engine_preset(preset))
    jobs: list[Job] = []
    folders: set[Path] = set()
    for name in datasets:
        first = load_prepared(name, data_dir)
        if Path(first.path).resolve() in folders:  # named twice (by name and by folder): one job each
            continue
        folders.add(Path(first.path).resolve())
        check_dataset_name(first)
        for prepared, method in itertools.product(prepare_splits(first, splits, data_dir), methods):
            jobs += method_jobs(
                method,
                prepared,
                list(range(seeds)),
                overrides,
                origins,
                preset=preset,
                tuned=tuned,
                storage=storage,
                results_dir=results_dir,
                device=device,
                budget=budget,
            )
    return jobs


def method_jobs(
    method: str,
    prepared: PreparedDataset,
    seeds: list[int],
    overrides: dict[str, Any],
    origins: dict[str, str] | None = None,
    *,
    preset: str | None = None,
    tuned: bool = False,
    storage: str | None = None,
    results_dir: Path = Path("results"),
    device: str = "auto",
    budget: int | None = None,
) -> list[Job]:
    """``make_jobs``, with the study's best settings first when ``tuned`` (and the method has a space;
    ``budget``: the best of its first ``budget`` finished trials),
    or the committed study's with ``preset="recommended"``."""
    settings, provenance = overrides, None
    if tuned and METHODS.get(method).search_space:
        from coldbench.studies.tune import tuned_settings

        settings, provenance = tuned_settings(method, prepared, overrides, storage, results_dir, budget)
    elif preset == RECOMMENDED:
        settings, origins, provenance = recommended_settings(
            method, prepared.name, prepared.manifest.get("source"), overrides, origins or {}
        )
    return make_jobs(
        method,
        prepared,
        seeds,
        settings,
        origins,
        preset=engine_preset(preset),
        tuned=provenance,
        results_dir=results_dir,
        device=device,
    )


def run_job(job: Job, threads: int | None = None, progress: Progress | None = None) -> JobResult:
    """Train (or resume, or skip) one job; a ColdbenchError becomes the result's ``error``."""
    if threads:
        torch.set_num_threads(threads)
    try:
        prepared = load_prepared(job.dataset_path)
        result = train_spec(_spec(job), prepared, [job.seed], progress=progress)[0]
    except ColdbenchError as error:
        return JobResult(job, error=" ".join(str(error).split()))
    return JobResult(job, str(result.path), result.metrics, result.skipped)


def _finished(job: Job, loaded: dict[str, PreparedDataset]) -> JobResult | None:
    """The job's result when its run has finished already (checked as ``train`` checks it)."""
    if job.dataset_path not in loaded:
        loaded[job.dataset_path] = load_prepared(job.dataset_path)
    prepared = loaded[job.dataset_path]
    spec = _spec(job)
    try:
        metrics = finished_run(spec, prepared, job.seed)
    except ColdbenchError as error:
        return JobResult(job, error=" ".join(str(error).split()))
    if metrics is None:
        return None
    return JobResult(job, str(run_dir(spec, prepared, job.seed)), metrics, skipped=True)


def _local_pool(items: list[tuple[int, Job]], workers: int, threads: int) -> Iterator[tuple[int, JobResult]]:
    with worker_pool(workers) as pool:
        futures = {pool.submit(run_job, job, threads): (index, job) for index, job in items}
        for future in as_completed(futures):
            index, job = futures[future]
            try:
                yield index, future.result()
            except Exception as error:  # a worker that died (killed, out of memory): the run resumes later
                yield index, JobResult(job, error=f"worker failed: {type(error).__name__}: {error}")


def _ray(
    items: list[tuple[int, Job]], workers: int, address: str | None, threads: int
) -> Iterator[tuple[int, JobResult]]:
    with ray_session(workers * threads, address) as ray:
        task = ray.remote(num_cpus=threads, max_retries=2)(run_job)  # a lost worker's job is retried
        pending = {task.remote(job, threads): (index, job) for index, job in items}
        while pending:
            done, _ = ray.wait(list(pending), num_returns=1)
            index, job = pending.pop(done[0])
            try:
                yield index, ray.get(done[0])
            except Exception as error:  # the task failed after its retries
                yield index, JobResult(job, error=f"ray task failed: {type(error).__name__}: {error}")


def run_sweep(
    jobs: list[Job],
    executor: str = "local",
    workers: int = 1,
    address: str | None = None,
    threads: int | None = None,
    progress: Progress | None = None,
) -> list[JobResult]:
    """Run ``jobs``; finished ones are skipped. Results come back in the jobs' order.

    ``threads`` per job defaults to cores/workers (``local`` pool, ``ray``); ``local`` with one
    worker trains in this process (with its threads), passing the trainer's ``progress`` through.
    """
    check_executor(executor, workers, address)
    progress = progress or (lambda kind, info: None)
    results: dict[int, JobResult] = {}

    def record(index: int, result: JobResult) -> None:
        results[index] = result
        progress("job", {"result": result, "done": len(results), "total": len(jobs)})

    todo, loaded = [], {}
    for index, job in enumerate(jobs):
        finished = _finished(job, loaded)
        if finished is None:
            todo.append((index, job))
        else:
            record(index, finished)
    if executor == "local" and workers == 1:
        for index, job in todo:
            progress("job-start", {"job": job, "index": len(results), "total": len(jobs)})
            record(index, run_job(job, threads, progress))
    elif todo:
        per_job = threads_per_worker(workers, threads)
        stream = (
            _local_pool(todo, workers, per_job)
            if executor == "local"
            else _ray(todo, workers, address, per_job)
        )
        for index, result in stream:
            record(index, result)
    return [results[i] for i in range(len(jobs))]


def summary(results: list[JobResult]) -> pd.DataFrame:
    """One row per (dataset, label): seeds run, skipped and failed, mean test metric, epochs, stops."""
    rows = []
    for result in results:
        metrics = result.metrics
        task = metrics.get("task", "rating")
        metric = "mse" if task == "rating" else "auc"
        overall = metrics.get("test", {}).get("overall", {})
        rows.append(
            {
                "dataset": result.job.dataset,
                "variant": result.job.label,
                "seed": result.job.seed,
                "status": "failed" if result.error else "skipped" if result.skipped else "trained",
                "metric": metric.upper(),
                "value": overall.get(metric),
                "epochs_run": metrics.get("epochs_run"),
                "best_epoch": metrics.get("best_epoch", metrics.get("selected_epoch")),
                "stopped": metrics.get("stopped"),
            }
        )
    frame = pd.DataFrame(rows)
    grouped = frame.groupby(["dataset", "variant"], sort=False)
    return grouped.apply(_summarise, include_groups=False).reset_index()


def _summarise(group: pd.DataFrame) -> pd.Series:
    ok = group[group["status"] != "failed"].assign(
        value=lambda f: pd.to_numeric(f["value"], errors="coerce"),
        epochs_run=lambda f: pd.to_numeric(f["epochs_run"], errors="coerce"),
    )
    stops = ok["stopped"].dropna().value_counts()
    return pd.Series(
        {
            "seeds": len(group),
            "trained": int((group["status"] == "trained").sum()),
            "skipped": int((group["status"] == "skipped").sum()),
            "failed": int((group["status"] == "failed").sum()),
            "metric": group["metric"].iloc[0],
            "mean": ok["value"].mean() if len(ok) else float("nan"),
            "std": ok["value"].std(ddof=1) if len(ok) > 1 else float("nan"),
            "epochs_run": ok["epochs_run"].mean() if len(ok) else float("nan"),
            "stopped": ", ".join(f"{k} {v}" for k, v in stops.items()),
        }
    )
