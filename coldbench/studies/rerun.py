"""Train a committed study's runs again from their records, and say how close each lands.

A committed study (``results/reference/<study>/runs.jsonl``) records every run's full settings,
seed, dataset hash and tuned provenance. ``rerun_study`` rebuilds each run's spec from that record
(it must give the recorded config id), trains it into a results folder under today's code (a
finished run there is reused) and compares its test means with the recorded ones. Exporting that
folder then commits the runs with their per-user scores and their code commit.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from coldbench.errors import ColdbenchError

GROUPS = ("overall", "major", "minor")
SAME = 1e-6  # relative: recorded and rerun means this close are the same number


@dataclass(frozen=True)
class Rerun:
    """One committed run trained again."""

    run: str  # method/config_id/seed-N, as in runs.jsonl
    dataset: str
    largest_difference: float  # relative, over the recorded test means (overall, major, minor)
    metric: str  # the group and metric where it is largest
    recorded: float
    rerun: float
    skipped: bool  # finished earlier in the results folder
    mse_recorded: float  # overall test MSE
    mse_rerun: float
    train_seconds: float  # the rerun's (its recorded ``train_seconds``; a reused run's own)

    @property
    def same(self) -> bool:
        return self.largest_difference <= SAME


def study_records(study: Path) -> list[dict]:
    """The run records of a committed study folder (its ``runs.jsonl``)."""
    from coldbench.report.runs import read_runs_jsonl

    path = study / "runs.jsonl"
    if not path.is_file():
        raise ColdbenchError(f"{path}: no such file (a committed study folder holds runs.jsonl)")
    return read_runs_jsonl(study)


def _earlier_behaviour(config: dict) -> dict:
    """Settings added after a run was trained, at the value that keeps what the run did then (a
    record from before early stopping existed trained without it: ``patience=0``)."""
    from dataclasses import fields

    from coldbench.config import LATER_DEFAULTS, LATER_PARAM_DEFAULTS
    from coldbench.methods import METHODS

    known = {f.name for f in fields(METHODS.get(config["method"]).Config)}
    params = {k: v for k, v in LATER_PARAM_DEFAULTS.items() if k in known and k not in config["params"]}
    return {**{k: v for k, v in LATER_DEFAULTS.items() if k not in config["train"]}, **params}


def spec_from_record(record: dict, results_dir: Path, device: str = "cpu"):  # noqa: ANN201 - RunSpec (torch)
    """The run spec a record describes; it must give the record's config id."""
    from coldbench.training.trainer import make_spec

    config = record["config"]
    settings = {**_earlier_behaviour(config), **config["train"], **config["params"]}
    spec = make_spec(config["method"], settings, device, results_dir, tuned=config.get("tuned"))
    if spec.config_id != config["config_id"]:
        raise ColdbenchError(
            f"run {record['run']}: its recorded settings give config id {spec.config_id}, not "
            f"{config['config_id']} (a setting changed meaning since it was trained)"
        )
    return spec


def _largest_difference(recorded: dict, rerun: dict) -> tuple[float, str, float, float]:
    worst = (0.0, "", math.nan, math.nan)
    for group in GROUPS:
        for metric, value in recorded.get(group, {}).items():
            if metric == "n_users" or not isinstance(value, (int, float)):
                continue
            new = rerun.get(group, {}).get(metric)
            if new is None or (math.isnan(value) and math.isnan(new)):
                continue
            difference = abs(new - value) / max(abs(value), 1e-12)
            if math.isnan(difference) or difference > worst[0]:
                worst = (math.inf if math.isnan(difference) else difference, f"{group} {metric}", value, new)
    return worst


def _dataset(name: str, expected_hash: str, data_dir: Path | None, loaded: dict):  # noqa: ANN202
    from coldbench.data.prepared import load_prepared

    if name not in loaded:
        loaded[name] = load_prepared(name, data_dir)
    dataset = loaded[name]
    if dataset.manifest["content_hash"] != expected_hash:
        raise ColdbenchError(
            f"dataset {name!r} in {dataset.path} has content hash {dataset.manifest['content_hash'][:8]}, "
            f"the study's runs were trained on {expected_hash[:8]}: prepare it as the study's docs say"
        )
    return dataset


def _compared(record: dict, result, dataset_name: str) -> Rerun:
    """A trained run's test means against its record."""
    recorded, new = record["metrics"]["test"], result.metrics["test"]
    mse = (recorded["overall"].get("mse", math.nan), new["overall"].get("mse", math.nan))
    worst = _largest_difference(recorded, new)
    seconds = result.metrics.get("train_seconds", math.nan)
    return Rerun(record["run"], dataset_name, *worst, result.skipped, *mse, seconds)


def _train_record(record: dict, dataset_path: str, results_dir: str, device: str, threads: int) -> Rerun:
    """One record trained again in a worker process (the pool's job: plain arguments, picklable)."""
    import torch

    from coldbench.data.prepared import load_prepared
    from coldbench.training.trainer import train_spec

    torch.set_num_threads(threads)
    dataset = load_prepared(dataset_path)
    spec = spec_from_record(record, Path(results_dir), device)
    (result,) = train_spec(spec, dataset, [record["config"]["seed"]])
    return _compared(record, result, dataset.name)


def rerun_study(
    study: Path,
    results_dir: Path,
    methods: list[str] | None = None,
    data_dir: Path | None = None,
    device: str = "cpu",
    progress: Callable[[str, dict], None] | None = None,
    workers: int = 1,
    threads: int | None = None,
) -> Iterator[Rerun]:
    """Train every run of ``study`` (or of ``methods``) again into ``results_dir``.

    Every record is checked (config id, dataset hash) before anything trains. With one worker the
    runs train here, one at a time, in the study's order (``progress`` sees each); with more, in a
    pool of ``workers`` processes of ``threads`` threads each (cores/workers by default), and the
    outcomes come as the runs finish.
    """
    from coldbench.studies.executors import check_workers
    from coldbench.training.trainer import train_spec

    check_workers(workers)
    records = study_records(study)
    absent = [m for m in methods or [] if m not in {r["config"]["method"] for r in records}]
    if absent:
        raise ColdbenchError(f"option --methods: {study} has no run of {', '.join(absent)}")
    records = [r for r in records if not methods or r["config"]["method"] in methods]
    loaded: dict = {}
    planned = [
        (
            record,
            spec_from_record(record, results_dir, device),
            _dataset(record["config"]["dataset"], record["config"]["dataset_hash"], data_dir, loaded),
        )
        for record in records
    ]
    if workers > 1:
        yield from _in_pool(planned, results_dir, device, workers, threads)
        return
    for index, (record, spec, dataset) in enumerate(planned):
        if progress:
            progress("run", {"run": record["run"], "index": index, "total": len(planned)})
        (result,) = train_spec(spec, dataset, [record["config"]["seed"]], progress=progress)
        yield _compared(record, result, dataset.name)


def _in_pool(
    planned: list, results_dir: Path, device: str, workers: int, threads: int | None
) -> Iterator[Rerun]:
    from concurrent.futures import as_completed
    from concurrent.futures.process import BrokenProcessPool

    from coldbench.studies.executors import threads_per_worker, worker_pool

    per_worker = threads_per_worker(workers, threads)
    with worker_pool(workers) as pool:
        futures = {
            pool.submit(
                _train_record,
                record,
                str(Path(dataset.path).resolve()),
                str(results_dir.resolve()),
                device,
                per_worker,
            ): record["run"]
            for record, _, dataset in planned
        }
        for future in as_completed(futures):
            try:
                yield future.result()
            except ColdbenchError as error:
                raise ColdbenchError(f"run {futures[future]}: {error}") from None
            except BrokenProcessPool:  # a worker died (killed, out of memory); any other error propagates
                raise ColdbenchError(
                    f"run {futures[future]}: its worker process died; finished runs are kept: run the same "
                    "command again to go on"
                ) from None


def write_outcomes(outcomes: list[Rerun], dest: Path) -> None:
    """The comparison as CSV, one row per run (written whole or not at all)."""
    import pandas as pd

    from coldbench.atomic_io import atomic_path

    columns = (
        "run",
        "dataset",
        "metric",
        "recorded",
        "rerun",
        "largest_difference",
        "mse_recorded",
        "mse_rerun",
        "train_seconds",
    )
    frame = pd.DataFrame([{c: getattr(o, c) for c in columns} for o in outcomes], columns=list(columns))
    frame = frame.rename(columns={"metric": "largest_difference_at"})
    with atomic_path(dest) as temp:
        frame.to_csv(temp, index=False, float_format="%.9g")
