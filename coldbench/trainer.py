"""Train a registered method on a prepared dataset, select on validation, test once.

Results for one run live in ``results/<dataset>/<method>/<config-id>/seed-<k>/``. A run writes
``last.pt`` after every epoch (resumable after a kill), keeps the best-validation weights, and
finishes by evaluating test users once with them; ``metrics.json`` is written last and marks a
finished run.
"""

from __future__ import annotations

import json
import math
import platform
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

import coldbench
from coldbench.atomic_io import atomic_path, write_json
from coldbench.config import PERFORMANCE_SETTINGS, TrainConfig, apply_overrides, as_dict, config_id
from coldbench.engine import make_batch
from coldbench.errors import ColdbenchError
from coldbench.evaluate import evaluate_split
from coldbench.features import EncodedDataset, encode
from coldbench.methods import METHODS, Method
from coldbench.metrics import aggregate, auc, metric_names
from coldbench.model import RecModel
from coldbench.prepared import PreparedDataset


@dataclass
class RunSpec:
    """Everything that defines a set of runs except the seed."""

    method: str
    train: TrainConfig
    params: Any  # the method's Config instance
    device: torch.device
    results_dir: Path = Path("results")

    @property
    def config_id(self) -> str:
        return config_id(self.method, self.train, self.params)


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
    method: str, overrides: dict[str, Any], device: str = "auto", results_dir: Path = Path("results")
) -> RunSpec:
    """Resolve the engine and method configs from ``key=value`` overrides; unknown keys are errors."""
    cls = METHODS.get(method)
    train, rest = apply_overrides(TrainConfig(), overrides)
    params, unknown = apply_overrides(cls.Config(), rest)
    if unknown:
        known = sorted([*as_dict(train), *as_dict(params)])
        raise ColdbenchError(
            f"--set {sorted(unknown)[0]}: unknown setting for {method} (known: {', '.join(known)})"
        )
    if not cls.meta_trained:  # a closed-form fit ignores the training settings: one run, one config id
        train = TrainConfig(**{k: getattr(train, k) for k in PERFORMANCE_SETTINGS})
    if train.epochs < 1 or train.batch_size < 1 or train.inner_steps < 0:
        raise ColdbenchError("--set epochs and batch_size must be ≥ 1 and inner_steps ≥ 0")
    return RunSpec(method, train, params, resolve_device(device), Path(results_dir))


def run_dir(spec: RunSpec, dataset: PreparedDataset, seed: int) -> Path:
    return spec.results_dir / dataset.name / spec.method / spec.config_id / f"seed-{seed}"


def build(spec: RunSpec, data: EncodedDataset, seed: int) -> tuple[RecModel, Method, torch.optim.Optimizer]:
    """Model, method and optimizer, initialised from ``seed``."""
    torch.manual_seed(seed)
    model = RecModel(
        data.user_features, data.item_features, spec.train.embedding_dim, spec.train.hidden, task=data.task
    )
    method = METHODS.get(spec.method)(spec.params, model, spec.train)
    model.to(spec.device)
    method.to(spec.device)
    optimizer = torch.optim.Adam([*model.parameters(), *method.parameters()], lr=spec.params.outer_lr)
    return model, method, optimizer


def _versions() -> dict[str, str]:
    return {
        "coldbench": coldbench.__version__,
        "torch": torch.__version__,
        "numpy": np.__version__,
        "pandas": pd.__version__,
        "python": platform.python_version(),
    }


def _save(path: Path, payload: dict) -> None:
    with atomic_path(path) as tmp:
        torch.save(payload, tmp)


def _epoch_order(n_users: int, seed: int, epoch: int) -> np.ndarray:
    """The training users' order in an epoch: a function of (seed, epoch) alone, so resumes agree."""
    return np.random.default_rng([seed, epoch]).permutation(n_users)


Progress = Callable[[str, dict], None]


def train_epoch(
    model: RecModel,
    method: Method,
    optimizer: torch.optim.Optimizer,
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
        if not torch.isfinite(loss):
            raise ColdbenchError(
                f"training diverged at epoch {epoch + 1}, meta-batch {index + 1}: loss is {loss.item()}; "
                f"try a smaller outer learning rate (--set outer_lr={spec.params.outer_lr / 10:g}); "
                "earlier epochs' results are kept"
            )
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        method.after_outer_step(output)
        losses.append(loss.item())
        progress("batch", {"epoch": epoch, "batch": index + 1, "batches": n_batches, "loss": losses[-1]})
    return float(np.mean(losses))


def run_seed(
    spec: RunSpec,
    dataset: PreparedDataset,
    data: EncodedDataset,
    seed: int,
    progress: Progress | None = None,
    force: bool = False,
) -> RunResult:
    """Train one seed (resuming or skipping as the folder says) and evaluate it on test users."""
    progress = progress or (lambda kind, info: None)
    out = run_dir(spec, dataset, seed)
    if force and out.exists():
        shutil.rmtree(out)
    if (out / "metrics.json").exists():
        finished = json.loads((out / "metrics.json").read_text())
        if finished.get("dataset_hash") != dataset.manifest["content_hash"]:
            raise ColdbenchError(
                f"{out}: finished on other data than the prepared {dataset.name!r} now holds "
                "(it was prepared again); use --force to rerun, or --results-dir to keep both"
            )
        return RunResult(seed, out, finished, skipped=True)
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
        "versions": _versions(),
        "task": data.task.name,
        "selection": f"best validation {data.task.selection_metric}",
    }
    write_json(out / "config.json", config)

    model, method, optimizer = build(spec, data, seed)
    log: list[dict] = []
    best = {"epoch": -1, "value": math.inf}
    start_epoch = 0
    if (out / "last.pt").exists():
        state = torch.load(out / "last.pt", map_location=spec.device, weights_only=False)
        if state["config_id"] != spec.config_id or state["dataset_hash"] != dataset.manifest["content_hash"]:
            raise ColdbenchError(f"{out / 'last.pt'}: left by a different config or dataset; use --force")
        model.load_state_dict(state["model"])
        method.load_state_dict(state["method"])
        optimizer.load_state_dict(state["optimizer"])
        log, best, start_epoch = state["log"], state["best"], state["epoch"] + 1
        progress("resume", {"epoch": start_epoch})

    n_epochs = spec.train.epochs if method.meta_trained else 1  # a closed-form fit needs one pass
    progress("start", {"epochs": n_epochs, "done": start_epoch})
    for epoch in range(start_epoch, n_epochs):
        started = time.perf_counter()
        train_loss = train_epoch(model, method, optimizer, data, spec, seed, epoch, progress)
        _, valid_users = evaluate_split(
            model, method, data, "valid", spec.train.eval_batch_size, spec.device, seed=seed
        )
        valid = aggregate(
            valid_users.set_index("user_id")[metric_names(data.task.name)],
            valid_users.set_index("user_id")["major"],
        )
        selection = data.task.selection_metric
        value = valid["overall"][selection]
        if not math.isfinite(value):
            raise ColdbenchError(
                f"validation {selection} is {value} at epoch {epoch + 1}: the run "
                f"diverged; try a smaller outer learning rate (--set outer_lr=...)"
            )
        entry = {
            "epoch": epoch + 1,
            "train_loss": train_loss,
            "seconds": time.perf_counter() - started,
            **{f"valid_{k}": v for k, v in valid["overall"].items()},
        }
        log.append(entry)
        if value < best["value"]:
            best = {"epoch": epoch, "value": value}
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
                "best": best,
                "epoch": epoch,
                "config_id": spec.config_id,
                "dataset_hash": dataset.manifest["content_hash"],
            },
        )
        pd.DataFrame(log).to_csv(out / "epochs.csv", index=False)
        progress("epoch", {**entry, "selection": selection, "value": value})

    selected = torch.load(out / "best.pt", map_location=spec.device, weights_only=False)
    model.load_state_dict(selected["model"])
    method.load_state_dict(selected["method"])
    predictions, per_user = evaluate_split(
        model, method, data, "test", spec.train.eval_batch_size, spec.device, seed=seed
    )
    with atomic_path(out / "predictions.parquet") as tmp:
        predictions.to_parquet(tmp, index=False)
    with atomic_path(out / "per_user.parquet") as tmp:
        per_user.to_parquet(tmp, index=False)
    indexed = per_user.set_index("user_id")
    metrics = {
        "task": data.task.name,
        "test": aggregate(indexed[metric_names(data.task.name)], indexed["major"]),
        "selected_epoch": best["epoch"] + 1,
        "valid_" + data.task.selection_metric: best["value"],
        "train_seconds": float(sum(e["seconds"] for e in log)),
        "config_id": spec.config_id,
        "seed": seed,
        "dataset_hash": dataset.manifest["content_hash"],
    }
    diagnostics = method.diagnostics()
    if diagnostics:
        metrics["diagnostics"] = diagnostics
    if data.task.name == "ctr":
        metrics["test_all_interactions"] = {"auc": auc(predictions["click"], predictions["prediction"])}
        metrics["auc_users_skipped"] = int(per_user["auc"].isna().sum())
    with atomic_path(out / "checkpoint.pt") as tmp:
        shutil.copyfile(out / "best.pt", tmp)
    write_json(out / "metrics.json", metrics)  # from here on the run counts as finished
    (out / "best.pt").unlink()
    (out / "last.pt").unlink(missing_ok=True)
    return RunResult(seed, out, metrics)


def train(
    method: str,
    dataset: PreparedDataset,
    seeds: list[int],
    overrides: dict[str, Any] | None = None,
    device: str = "auto",
    results_dir: Path = Path("results"),
    force: bool = False,
    progress: Progress | None = None,
) -> list[RunResult]:
    """Train ``method`` on ``dataset`` once per seed; finished seeds are skipped unless ``force``."""
    spec = make_spec(method, overrides or {}, device, results_dir)
    data = encode(dataset)
    missing = [split for split in ("train", "valid", "test") if split not in data.splits]
    if missing:
        raise ColdbenchError(
            f"dataset {dataset.name!r} has no {missing[0]} users; prepare it with other --split"
        )
    return [run_seed(spec, dataset, data, seed, progress, force) for seed in seeds]
