"""Train a registered method on a prepared dataset, select on validation, test once.

Results for one run live in ``results/<dataset>/<method>/<config-id>/seed-<k>/``. A run writes
``last.pt`` after every epoch (resumable after a kill), keeps the best-validation weights, stops
early when validation stops improving (``patience``), at ``epochs``, or when training diverges
after a good epoch, and finishes by evaluating test users once with the best weights;
``metrics.json`` is written last, records the checksums of the other files and marks a finished
run. One process at a time trains a seed (a
lock beside its folder); ``--force`` trains beside the old run and swaps it in at the end.
"""

from __future__ import annotations

import io
import math
import platform
import re
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

import coldbench
from coldbench.atomic_io import atomic_path, write_json
from coldbench.config import (
    PERFORMANCE_SETTINGS,
    PRESETS,
    TrainConfig,
    apply_overrides,
    as_dict,
    config_id,
    preset_settings,
)
from coldbench.data.features import EncodedDataset, encode, model_item_tables
from coldbench.data.prepared import PreparedDataset
from coldbench.data.protocol import HEADLINE_STATE
from coldbench.engine.batched import make_batch
from coldbench.engine.model import RecModel
from coldbench.errors import ColdbenchError
from coldbench.methods import METHODS, Method
from coldbench.training.evaluate import evaluate_split, evaluate_test
from coldbench.training.metrics import aggregate, auc, metric_names
from coldbench.training.optim import Adam
from coldbench.training.run_files import CorruptRun, read_config, read_finished, record_files, write_metrics
from coldbench.training.run_folder import clean_temp, recover_swap, run_lock, staging_path, swap_in
from coldbench.training.stopping import EarlyStopping

_FOLDER_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
LAST_KEYS = ("model", "method", "optimizer", "log", "best", "epoch", "config_id", "dataset_hash")


@dataclass
class RunSpec:
    """Everything that defines a set of runs except the seed."""

    method: str
    train: TrainConfig
    params: Any  # the method's Config instance
    device: torch.device
    results_dir: Path = Path("results")
    tuned: dict | None = None  # study, storage, trial… of ``train --tuned`` (joins the config id)

    @property
    def config_id(self) -> str:
        return config_id(self.method, self.train, self.params, self.tuned)


@dataclass
class RunResult:
    seed: int
    path: Path
    metrics: dict
    skipped: bool = False


def resolve_device(name: str) -> torch.device:
    """``auto`` picks CUDA when present."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name not in ("cpu", "cuda") and not name.startswith("cuda:"):
        raise ColdbenchError(f"option --device {name!r}: expected auto, cpu or cuda")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ColdbenchError("option --device cuda: no CUDA device is available (use --device auto or cpu)")
    return torch.device(name)


def make_spec(
    method: str,
    overrides: dict[str, Any],
    device: str = "auto",
    results_dir: Path = Path("results"),
    origins: dict[str, str] | None = None,
    preset: str | None = None,
    tuned: dict | None = None,
) -> RunSpec:
    """Resolve and check the engine and method configs from ``key=value`` overrides.

    Unknown keys, values of the wrong type and values outside a setting's declared range are
    errors naming the key and where it came from (``origins``: key → ``--set``, ``--config F``…).
    A ``preset`` (see ``config.PRESETS``) supplies settings that the overrides may still change.
    """
    cls = METHODS.get(method)
    preset_values = preset_settings(preset)
    origins = {**dict.fromkeys(preset_values, f"--preset {preset}"), **(origins or {})}
    overrides = {**preset_values, **overrides}
    train, rest = apply_overrides(TrainConfig(), overrides, origins)
    params, unknown = apply_overrides(cls.Config(), rest, origins)
    if unknown:
        known = sorted([*as_dict(train), *as_dict(params)])
        raise ColdbenchError(
            f"--set {sorted(unknown)[0]}: unknown setting for {method} (known: {', '.join(known)})"
        )
    if not cls.meta_trained:  # a closed-form fit ignores the training settings: one run, one config id
        # (the paper's engine settings, so floors keep the ids they had before early stopping)
        kept = {k: getattr(train, k) for k in PERFORMANCE_SETTINGS}
        train = TrainConfig(**kept, **PRESETS["paper"])
    return RunSpec(method, train, params, resolve_device(device), Path(results_dir), tuned)


def run_dir(spec: RunSpec, dataset: PreparedDataset, seed: int) -> Path:
    return spec.results_dir / dataset.name / spec.method / spec.config_id / f"seed-{seed}"


def build(spec: RunSpec, data: EncodedDataset, seed: int) -> tuple[RecModel, Method, Adam]:
    """Model, method and optimizer, initialised from ``seed``."""
    torch.manual_seed(seed)
    items = model_item_tables(data, spec.train.item_id)
    model = RecModel(data.user_features, items, spec.train.embedding_dim, spec.train.hidden, task=data.task)
    method = METHODS.get(spec.method)(spec.params, model, spec.train)
    model.to(spec.device)
    method.to(spec.device)
    optimizer = Adam([*model.parameters(), *method.parameters()], lr=spec.params.outer_lr)
    return model, method, optimizer


def source_commit() -> str | None:
    """The git commit of the coldbench source that runs, ``+dirty`` with uncommitted edits to it;
    None when it is not a git checkout (an installed package) or git is absent."""
    source = Path(coldbench.__file__).resolve().parent

    def git(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(["git", "-C", str(source), *args], capture_output=True, text=True, timeout=10)

    try:
        if git("ls-files", "--error-unmatch", "__init__.py").returncode != 0:
            return None  # not a checkout of coldbench (perhaps a package inside another repository)
        head = git("rev-parse", "HEAD")
        changes = git("status", "--porcelain", "--", ".")
    except (OSError, subprocess.SubprocessError):
        return None
    if head.returncode != 0:
        return None
    return head.stdout.strip() + ("+dirty" if changes.stdout.strip() else "")


def _versions() -> dict[str, str]:
    commit = source_commit()
    return {
        **({"coldbench_commit": commit} if commit else {}),
        "coldbench": coldbench.__version__,
        "torch": torch.__version__,
        "numpy": np.__version__,
        "pandas": pd.__version__,
        "python": platform.python_version(),
    }


def _save(path: Path, payload: dict) -> None:
    """Write a checkpoint atomically. Serialised in memory first: torch's own file writer turns a
    full disk into a RuntimeError, a plain write gives the OSError that ``atomic_path`` reports."""
    buffer = io.BytesIO()
    torch.save(payload, buffer)
    with atomic_path(path) as tmp:
        tmp.write_bytes(buffer.getbuffer())


def _epoch_order(n_users: int, seed: int, epoch: int) -> np.ndarray:
    """The training users' order in an epoch: a function of (seed, epoch) alone, so resumes agree."""
    return np.random.default_rng([seed, epoch]).permutation(n_users)


Progress = Callable[[str, dict], None]


def train_epoch(
    model: RecModel,
    method: Method,
    optimizer: Adam,
    data: EncodedDataset,
    spec: RunSpec,
    seed: int,
    epoch: int,
    progress: Progress,
) -> float:
    """One pass over the training users in meta-batches; returns the mean training loss."""
    part = data.splits["train"]
    method.start_epoch(epoch)
    if not method.meta_trained:
        method.fit(part)
        progress("batch", {"epoch": epoch, "batch": 1, "batches": 1, "loss": math.nan})
        return math.nan
    order = _epoch_order(len(part.users), seed, epoch)
    losses = []
    n_batches = math.ceil(len(order) / spec.train.batch_size)
    for index in range(n_batches):
        chunk = order[index * spec.train.batch_size : (index + 1) * spec.train.batch_size]
        batch = make_batch(part, chunk, device=spec.device)
        loss, output = method.training_loss(model, batch)
        value = loss.item()  # the one synchronisation per meta-batch (the check and the log share it)
        if not math.isfinite(value):
            first = epoch == 0 and index == 0  # no outer step yet: outer_lr cannot be the cause
            raise Diverged(
                f"training diverged at epoch {epoch + 1}, meta-batch {index + 1}: loss is {value}"
                f"{' before any outer step' if first else ''}; try a smaller rate "
                f"({smaller_rates(spec.params, outer=not first)}); earlier epochs' results are kept"
            )
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        method.after_outer_step(output)
        losses.append(value)
        progress("batch", {"epoch": epoch, "batch": index + 1, "batches": n_batches, "loss": losses[-1]})
    return float(np.mean(losses))


class Diverged(ColdbenchError):
    """A non-finite training loss or validation value."""


def smaller_rates(params: Any, outer: bool = True) -> str:
    """``--set`` advice for a divergence: a tenth of each inner (per-user) rate, every ``*_lr``
    setting but ``outer_lr`` that is above 0, and of ``outer_lr`` unless ``outer`` is False (no
    outer step was taken) while an inner rate is there to name."""
    values = as_dict(params)
    inner = [
        name
        for name, value in sorted(values.items())
        if name.endswith("_lr") and name != "outer_lr" and isinstance(value, (int, float)) and value > 0
    ]
    names = inner + (["outer_lr"] if outer or not inner else [])
    return " or ".join(f"--set {name}={values[name] / 10:g}" for name in names)


class UnreadableState(ColdbenchError):
    """``last.pt`` or ``best.pt`` cannot be used."""


def _load_state(path: Path, device: torch.device, keys: tuple[str, ...]) -> dict:
    """A checkpoint's dictionary; an unreadable or incomplete file is a ColdbenchError naming it."""
    if not path.is_file():
        raise UnreadableState(f"{path}: missing")
    try:
        state = torch.load(path, map_location=device, weights_only=False)
    except Exception as error:  # torch raises many kinds (EOFError, pickle, zip, runtime) for a bad file
        raise UnreadableState(f"{path}: unreadable checkpoint ({type(error).__name__})") from None
    if not isinstance(state, dict) or not set(keys) <= set(state):
        raise UnreadableState(f"{path}: not a coldbench checkpoint (keys missing)")
    return state


def _restore(target: dict[str, Any], state: dict, path: Path) -> None:
    """Load state dicts into ``target``'s modules (model, method, optimizer)."""
    try:
        for key, module in target.items():
            module.load_state_dict(state[key])
    except (RuntimeError, KeyError, ValueError, TypeError) as error:
        raise UnreadableState(f"{path}: does not fit this model ({type(error).__name__})") from None


def _resume(
    out: Path, spec: RunSpec, dataset: PreparedDataset, modules: dict[str, Any], selection: str
) -> tuple[list[dict], EarlyStopping, int]:
    """Restore ``modules`` from ``out/last.pt``; return the epoch log, the stopping state, the next epoch."""
    path = out / "last.pt"
    state = _load_state(path, spec.device, LAST_KEYS)
    if state["config_id"] != spec.config_id or state["dataset_hash"] != dataset.manifest["content_hash"]:
        raise UnreadableState(f"{path}: left by a different config or dataset")
    log, best, epoch = state["log"], state["best"], state["epoch"]
    if not (
        isinstance(log, list) and isinstance(best, dict) and isinstance(epoch, int) and len(log) == epoch + 1
    ):
        raise UnreadableState(f"{path}: its epoch log is damaged")
    stopper = EarlyStopping(spec.train.patience, spec.train.min_delta)
    if isinstance(state.get("stopping"), dict):
        stopper.load_state_dict(state["stopping"])
    else:  # written before early stopping existed: replay the log
        values = [entry.get(f"valid_{selection}", math.inf) for entry in log]
        stopper = EarlyStopping.replay(spec.train.patience, spec.train.min_delta, values)
    _restore(modules, state, path)
    _load_state(out / "best.pt", spec.device, ("model", "method"))  # needed at the end; check it now
    return log, stopper, epoch + 1


def _write_epochs(folder: Path, log: list[dict]) -> None:
    with atomic_path(folder / "epochs.csv") as tmp:
        pd.DataFrame(log).to_csv(tmp, index=False)


@contextmanager
def _file_errors(out: Path) -> Iterator[None]:
    """An OSError in the run's folder (read-only, disk full) becomes one line naming the path.

    Every file is written to a temporary name and renamed, so nothing written before is lost.
    """
    try:
        yield
    except OSError as error:
        where = error.filename or out
        raise ColdbenchError(
            f"{where}: {error.strerror or error}; the run stopped, nothing written before was lost "
            "(finished seeds and the last finished epoch are kept)"
        ) from None


def _reuse(out: Path, dataset: PreparedDataset) -> dict:
    """The metrics of the finished run in ``out``, after checking its files and dataset."""
    try:
        finished = read_finished(out)
        read_config(out)  # a run that reports would call corrupt is not reused either
    except CorruptRun as error:
        raise ColdbenchError(f"{error}; redo it with --force") from None
    if finished.get("dataset_hash") != dataset.manifest["content_hash"]:
        raise ColdbenchError(
            f"{out}: finished on other data than the prepared {dataset.name!r} now holds "
            "(it was prepared again); use --force to rerun, or --results-dir to keep both"
        )
    return finished


def finished_run(spec: RunSpec, dataset: PreparedDataset, seed: int) -> dict | None:
    """The metrics of the seed's finished run, checked as ``train`` checks a run it skips; else None."""
    out = run_dir(spec, dataset, seed)
    if not (out / "metrics.json").exists():
        return None
    with _file_errors(out), run_lock(out):
        recover_swap(out)
        return _reuse(out, dataset) if (out / "metrics.json").exists() else None


def run_seed(
    spec: RunSpec,
    dataset: PreparedDataset,
    data: EncodedDataset,
    seed: int,
    progress: Progress | None = None,
    force: bool = False,
) -> RunResult:
    """Train one seed (resuming or skipping as the folder says) and evaluate it on test users.

    With ``force`` and an existing folder, the new run trains in a staging folder and replaces
    the old one only once it has finished.
    """
    progress = progress or (lambda kind, info: None)
    out = run_dir(spec, dataset, seed)
    with _file_errors(out), run_lock(out):
        recover_swap(out)
        clean_temp(out)
        if not force and (out / "metrics.json").exists():
            finished = _reuse(out, dataset)
            progress("skip", {"seed": seed, "path": out})
            return RunResult(seed, out, finished, skipped=True)
        work = staging_path(out) if force and out.exists() else out
        clean_temp(work)
        try:
            metrics = _train_in(work, spec, dataset, data, seed, progress, fresh=force and work == out)
        except UnreadableState as error:
            if work == out:
                raise ColdbenchError(f"{error}; use --force to train this seed again from scratch") from None
            shutil.rmtree(work)  # a --force rerun's own leftovers: start it again
            metrics = _train_in(work, spec, dataset, data, seed, progress, fresh=True)
        if work != out:
            swap_in(work, out)
    return RunResult(seed, out, metrics)


@dataclass
class Fitted:
    """A model trained on the training users, its best epoch chosen on validation users."""

    model: RecModel
    method: Method
    log: list[dict]
    stopper: EarlyStopping
    stopped: str  # "patience", "maximum" or "divergence"

    @property
    def best_epoch(self) -> int:
        """1-based."""
        return self.stopper.best_epoch + 1


def _validate(model: RecModel, method: Method, data: EncodedDataset, spec: RunSpec, seed: int) -> dict:
    """Overall validation metrics of the current weights."""
    _, valid_users = evaluate_split(
        model, method, data, "valid", spec.train.eval_batch_size, spec.device, seed=seed
    )
    indexed = valid_users.set_index("user_id")
    return aggregate(indexed[metric_names(data.task.name)], indexed["major"])["overall"]


def fit(
    out: Path,
    spec: RunSpec,
    dataset: PreparedDataset,
    data: EncodedDataset,
    seed: int,
    progress: Progress,
    config: dict | None = None,
) -> Fitted:
    """Train (or resume) in folder ``out`` until early stopping, the maximum, or divergence.

    Reads training and validation users only. Writes ``config`` (when given) as ``config.json``,
    ``last.pt`` and ``epochs.csv`` after every epoch and ``best.pt`` at every improvement.
    """
    model, method, optimizer = build(spec, data, seed)
    selection = data.task.selection_metric
    stopper = EarlyStopping(spec.train.patience, spec.train.min_delta)
    log: list[dict] = []
    start_epoch = 0
    resumed = (out / "last.pt").exists()
    if resumed:  # check everything a resume needs before writing anything
        modules = {"model": model, "method": method, "optimizer": optimizer}
        log, stopper, start_epoch = _resume(out, spec, dataset, modules, selection)
    if config is not None:
        write_json(out / "config.json", config)
    if resumed:
        _write_epochs(out, log)  # repairs an epochs.csv cut short by a kill
        progress("resume", {"epoch": start_epoch})

    n_epochs = spec.train.epochs if method.meta_trained else 1  # a closed-form fit needs one pass
    progress("start", {"epochs": n_epochs, "done": start_epoch})
    stopped = "maximum"
    for epoch in range(start_epoch, n_epochs):
        if stopper.should_stop:  # a resumed run that had already stopped
            break
        started = time.perf_counter()
        try:
            train_loss = train_epoch(model, method, optimizer, data, spec, seed, epoch, progress)
            valid = _validate(model, method, data, spec, seed)
            value = valid[selection]
            if not math.isfinite(value):
                raise Diverged(
                    f"validation {selection} is {value} at epoch {epoch + 1}: the run "
                    f"diverged; try a smaller rate ({smaller_rates(spec.params)})"
                )
        except Diverged as error:
            if stopper.best_epoch < 0:
                raise
            progress("diverged", {"epoch": epoch + 1, "message": str(error)})
            stopped = "divergence"
            break
        entry = {
            "epoch": epoch + 1,
            "train_loss": train_loss,
            "seconds": time.perf_counter() - started,
            **{f"valid_{k}": v for k, v in valid.items()},
        }
        log.append(entry)
        if stopper.step(epoch, value):
            _save(
                out / "best.pt", {"model": model.state_dict(), "method": method.state_dict(), "epoch": epoch}
            )
        _save(
            out / "last.pt",
            {
                "model": model.state_dict(),
                "method": method.state_dict(),
                "optimizer": optimizer.state_dict(),
                "log": log,
                "best": {"epoch": stopper.best_epoch, "value": stopper.best_value},
                "stopping": stopper.state_dict(),
                "epoch": epoch,
                "config_id": spec.config_id,
                "dataset_hash": dataset.manifest["content_hash"],
            },
        )
        _write_epochs(out, log)
        progress(
            "epoch", {**entry, "selection": selection, "value": value, "best_epoch": stopper.best_epoch + 1}
        )
    if stopped != "divergence" and stopper.should_stop:
        stopped = "patience"
    return Fitted(model, method, log, stopper, stopped)


def _train_in(
    out: Path,
    spec: RunSpec,
    dataset: PreparedDataset,
    data: EncodedDataset,
    seed: int,
    progress: Progress,
    fresh: bool,
) -> dict:
    """Train (or resume) the seed in folder ``out``, evaluate on test users, write the results."""
    if fresh and out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True, exist_ok=True)
    config = {
        "method": spec.method,
        "config_id": spec.config_id,
        "seed": seed,
        "device": str(spec.device),
        "dataset": dataset.name,
        "dataset_hash": dataset.manifest["content_hash"],
        "dataset_protocol": dataset.manifest["protocol"],
        "train": as_dict(spec.train),
        "params": as_dict(spec.params),
        "method_info": METHODS.get(spec.method).describe(),  # what reports need; not in the config id
        "versions": _versions(),
        "task": data.task.name,
        "selection": f"best validation {data.task.selection_metric}",
    }
    if spec.tuned:
        config["tuned"] = spec.tuned
    fitted = fit(out, spec, dataset, data, seed, progress, config)
    model, method, log = fitted.model, fitted.method, fitted.log

    selected = _load_state(out / "best.pt", spec.device, ("model", "method"))
    _restore({"model": model, "method": method}, selected, out / "best.pt")
    progress("test", {})
    predictions, per_user = evaluate_test(model, method, data, spec.train.eval_batch_size, spec.device, seed)
    check_finite_predictions(out, predictions, smaller_rates(spec.params))
    with atomic_path(out / "predictions.parquet") as tmp:
        predictions.to_parquet(tmp, index=False)
    with atomic_path(out / "per_user.parquet") as tmp:
        per_user.to_parquet(tmp, index=False)
    names = metric_names(data.task.name)
    by_state = {state: part.set_index("user_id") for state, part in per_user.groupby("state", sort=False)}
    headline = by_state[HEADLINE_STATE]
    metrics = {
        "task": data.task.name,
        "test": aggregate(headline[names], headline["major"]),
        "selected_epoch": fitted.best_epoch,
        "best_epoch": fitted.best_epoch,
        "epochs_run": len(log),
        "stopped": fitted.stopped,
        "valid_" + data.task.selection_metric: fitted.stopper.best_value,
        "train_seconds": float(sum(e["seconds"] for e in log)),
        "config_id": spec.config_id,
        "seed": seed,
        "dataset_hash": dataset.manifest["content_hash"],
    }
    if data.task.name == "rating":  # what predicting the mean training rating would score here
        metrics["constant_mse"] = constant_mse(data, predictions[predictions["state"] == HEADLINE_STATE])
    if len(by_state) > 1:  # the four-state protocol: every state's test metrics; "test" is user-cold
        metrics["states"] = {state: aggregate(part[names], part["major"]) for state, part in by_state.items()}
    diagnostics = method.diagnostics()
    if diagnostics:
        metrics["diagnostics"] = diagnostics
    if data.task.name == "ctr":
        scored = predictions[predictions["state"] == HEADLINE_STATE]
        metrics["test_all_interactions"] = {"auc": auc(scored["click"], scored["prediction"])}
        metrics["auc_users_skipped"] = int(headline["auc"].isna().sum())
    with atomic_path(out / "checkpoint.pt") as tmp:
        shutil.copyfile(out / "best.pt", tmp)
    metrics["files"] = record_files(out)
    metrics = write_metrics(out, metrics)  # from here on the run counts as finished
    (out / "best.pt").unlink()
    (out / "last.pt").unlink(missing_ok=True)
    return metrics


def constant_mse(data: EncodedDataset, predictions: pd.DataFrame) -> float:
    """The test MSE (mean over users) of predicting the mean training rating for every query row,
    as the ``constant`` floor does: the level a trained model must at least reach."""
    train = data.splits["train"]
    targets = np.concatenate([train.support.targets, train.query.targets]).astype(np.float64)
    errors = (predictions["rating"].to_numpy(dtype=float) - float(targets.mean())) ** 2
    return float(pd.Series(errors).groupby(predictions["user_id"].to_numpy()).mean().mean())


def check_finite_predictions(out: Path, predictions: pd.DataFrame, advice: str = "--set outer_lr=…") -> None:
    """A run whose test predictions are not all finite has diverged: it fails, it does not finish;
    ``advice`` names the smaller rates to try (``smaller_rates``)."""
    bad = ~np.isfinite(predictions["prediction"].to_numpy(dtype=float))
    if bad.any():
        users = predictions.loc[bad, "user_id"].nunique()
        raise Diverged(
            f"{out}: stopped: divergence: {int(bad.sum())} test predictions of {users} of "
            f"{predictions['user_id'].nunique()} test users are not finite (NaN or infinite), so the run "
            f"has no test metrics and is not finished; try a smaller rate ({advice}) or fewer inner steps"
        )


def check_dataset_name(dataset: PreparedDataset) -> None:
    """The dataset's name becomes a results folder: one plain path component, nothing else."""
    if not _FOLDER_NAME.fullmatch(str(dataset.name)):
        raise ColdbenchError(
            f"{dataset.path / 'manifest.json'}: dataset name {dataset.name!r} cannot name a results "
            "folder (use letters, digits, '.', '_' and '-'; prepare it again with --name)"
        )


def train_spec(
    spec: RunSpec,
    dataset: PreparedDataset,
    seeds: list[int],
    force: bool = False,
    progress: Progress | None = None,
) -> list[RunResult]:
    """Train a checked ``spec`` on ``dataset`` once per seed; finished seeds are skipped unless ``force``."""
    bad = [seed for seed in seeds if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0]
    if bad:
        raise ColdbenchError(f"option --seed {bad[0]}: seeds are whole numbers ≥ 0")
    check_dataset_name(dataset)
    data = encode(dataset)
    missing = [split for split in ("train", "valid", "test") if split not in data.splits]
    if missing:
        raise ColdbenchError(
            f"dataset {dataset.name!r} has no {missing[0]} users; prepare it with other --split"
        )
    results = []
    for index, seed in enumerate(seeds):
        if progress:
            progress("seed", {"seed": seed, "index": index, "total": len(seeds)})
        results.append(run_seed(spec, dataset, data, seed, progress, force))
    return results


def train(
    method: str,
    dataset: PreparedDataset,
    seeds: list[int],
    overrides: dict[str, Any] | None = None,
    device: str = "auto",
    results_dir: Path = Path("results"),
    force: bool = False,
    progress: Progress | None = None,
    preset: str | None = None,
) -> list[RunResult]:
    """Train ``method`` on ``dataset`` once per seed; every setting is checked before anything runs."""
    spec = make_spec(method, overrides or {}, device, results_dir, preset=preset)
    return train_spec(spec, dataset, seeds, force, progress)
