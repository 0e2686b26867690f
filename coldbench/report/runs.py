"""Collect finished runs under a results folder into tidy tables."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from rich.console import Console

from coldbench.config import LATER_DEFAULTS, PERFORMANCE_SETTINGS, PRESETS, TrainConfig
from coldbench.data.protocol import HEADLINE_STATE
from coldbench.errors import ColdbenchError
from coldbench.training.run_files import CorruptRun, read_finished

GROUPS = ("overall", "major", "minor")


def _changed(values: dict, defaults: dict) -> list[str]:
    changed = []
    for key, value in sorted(values.items()):
        default = defaults.get(key, value)
        default = list(default) if isinstance(default, tuple) else default
        if key in defaults and default != value:
            changed.append(f"{key}={value:g}" if isinstance(value, float) else f"{key}={value}")
    return changed


def _preset_of(train: dict) -> str | None:
    """The preset whose every setting the run has (a setting it does not record: as before it existed)."""
    recorded = {**LATER_DEFAULTS, **train}
    for name, settings in PRESETS.items():
        if all(key in recorded and recorded[key] == value for key, value in settings.items()):
            return name
    return None


def variant_tag(variant: str) -> str | None:
    """``paper`` for ``reg-paml [paper] (gamma=0.01)``; None for a label without a preset tag."""
    match = re.match(r"\S+ \[([a-z]+)\]", variant)
    return match.group(1) if match else None


def method_info(method: str, config: dict | None = None) -> dict:
    """What a run's ``config.json`` records of its method: ``summary``, ``meta_trained``, ``defaults``.

    ``train`` records it, so the report never imports a method. A run written before it did
    (``method_info`` absent) is described by the installed method's class instead, which imports
    the method modules; an unknown method then has no defaults and counts as meta-trained.
    """
    recorded = (config or {}).get("method_info")
    if isinstance(recorded, dict) and isinstance(recorded.get("defaults"), dict):
        return recorded
    from coldbench.methods import METHODS  # only for runs that predate method_info

    try:
        return METHODS.get(method).describe()
    except ColdbenchError:
        return {"summary": "", "meta_trained": True, "defaults": {}}


def variant_label(
    method: str, params: dict, train: dict | None = None, tuned: dict | None = None, info: dict | None = None
) -> str:
    """``reg-paml``, ``reg-paml (gamma=0.01)``, ``reg-paml [paper]`` or ``reg-paml [tuned]``.

    The method plus every setting that is not its default. Engine settings count too
    (``melu (epochs=10)``), except those that only change speed. A run with every setting of a
    preset is labelled ``[<preset>]`` and lists only what differs from that preset; a run of
    ``train --tuned`` is labelled ``[tuned]`` and lists only what differs from the study's best
    settings. Floors ignore training settings, so only their own settings label them. ``info`` is
    the method's description as the run records it (``method_info``).
    """
    info = info if info is not None else method_info(method)
    defaults, floor = dict(info["defaults"]), not info["meta_trained"]
    engine = {k: v for k, v in TrainConfig().__dict__.items() if k not in PERFORMANCE_SETTINGS}
    train = {} if floor else dict(train or {})
    tag = None
    if tuned:
        tag = "tuned"
        chosen = tuned.get("settings", {})
        defaults = {**defaults, **{k: v for k, v in chosen.items() if k in defaults}}
        engine = {**engine, **{k: v for k, v in chosen.items() if k in engine}}
    else:
        tag = _preset_of(train)
        if tag is not None:
            engine = {**engine, **PRESETS[tag]}
    changed = _changed(params, defaults) + _changed(train, engine)
    label = f"{method} [{tag}]" if tag else method
    return f"{label} ({', '.join(changed)})" if changed else label


def _unique_labels(rows: list[dict]) -> None:
    """Where runs of different config ids share a label on one preparation, add the config id to it.

    (Two ``[tuned]`` runs from different studies, say: a table must never pool their seeds.)
    """
    ids: dict[tuple[str, str, str], set[str]] = {}
    key = ("dataset", "dataset_hash", "variant")
    for row in rows:
        ids.setdefault(tuple(row[k] for k in key), set()).add(row["config_id"])
    for row in rows:
        if len(ids[tuple(row[k] for k in key)]) > 1:
            row["variant"] = f"{row['variant']} #{row['config_id']}"


@dataclass
class Runs:
    """Finished runs: one row per (dataset, method, config, seed) with its test metrics."""

    table: pd.DataFrame  # dataset, dataset_hash, method, config_id, variant, seed, path, <group>_<metric>

    def __len__(self) -> int:
        return len(self.table)

    def select(self, dataset: str | None = None) -> Runs:
        table = self.table if dataset is None else self.table[self.table["dataset"] == dataset]
        return Runs(table.reset_index(drop=True))

    def datasets(self) -> list[str]:
        return sorted(self.table["dataset"].unique())

    def tags(self) -> list[str]:
        """The preset tags (``paper``, ``tuned``) that label any of these runs, sorted."""
        return sorted({tag for tag in self.table["variant"].map(variant_tag) if isinstance(tag, str)})

    def for_preset(self, tag: str) -> Runs:
        """The runs labelled ``[tag]``, plus the untagged runs of methods that have none so labelled.

        So ``tuned`` keeps every ``[tuned]`` run and the floors that have nothing to tune;
        ``paper`` keeps the ``[paper]`` runs and the floors (which ignore training settings).
        """
        tags = self.table["variant"].map(variant_tag)
        covered = set(self.table.loc[tags == tag, "method"])
        keep = (tags == tag) | (tags.isna() & ~self.table["method"].isin(covered))
        return Runs(self.table[keep].reset_index(drop=True))

    def per_user(self, state: str | None = HEADLINE_STATE) -> pd.DataFrame:
        """All runs' ``per_user.parquet`` with the run's keys as columns, for one cold-start ``state``.

        The default is every run's test users (``user-cold``, the only state of the paper's
        protocol and of runs written before states existed); ``None`` keeps the rows of every state.
        """
        frames = []
        for row in self.table.itertuples():
            path = Path(row.path) / "per_user.parquet"
            try:
                frame = pd.read_parquet(path)
            except (OSError, ValueError) as error:  # missing, unreadable or not parquet (pyarrow's errors)
                raise ColdbenchError(
                    f"{path}: cannot read the run's per-user scores ({type(error).__name__}); "
                    "redo the run with `coldbench train … --force`, or point --results-dir at live runs"
                ) from None
            if "state" not in frame:  # runs from before states: every user is user-cold
                frame = frame.assign(state=HEADLINE_STATE)
            catalogue = Path(row.path) / "catalogue.parquet"
            if catalogue.is_file():  # top-N metrics of `coldbench evaluate`: the test users' own state
                ranked = pd.read_parquet(catalogue).drop(columns=["major", "n_relevant"])
                headline = frame["state"] == HEADLINE_STATE
                merged = frame[headline].merge(ranked, on="user_id", how="left")
                frame = pd.concat([merged, frame[~headline]], ignore_index=True)
            frames.append(
                frame.assign(
                    dataset=row.dataset,
                    method=row.method,
                    variant=row.variant,
                    config_id=row.config_id,
                    seed=row.seed,
                )
            )
        if not frames:
            return pd.DataFrame()
        frame = pd.concat(frames, ignore_index=True)
        return frame if state is None else frame[frame["state"] == state].reset_index(drop=True)

    def shots(self) -> pd.DataFrame:
        """All runs' ``shots.parquet`` (``coldbench evaluate``: per user and support size k) with the
        run's keys as columns; runs without one are left out. ``k = -1`` is the whole support."""
        frames = [
            pd.read_parquet(Path(row.path) / "shots.parquet").assign(
                dataset=row.dataset,
                method=row.method,
                variant=row.variant,
                config_id=row.config_id,
                seed=row.seed,
            )
            for row in self.table.itertuples()
            if (Path(row.path) / "shots.parquet").is_file()
        ]
        return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()

    def epochs(self) -> pd.DataFrame:
        """All runs' ``epochs.csv`` with the run's keys as columns."""
        frames = [
            pd.read_csv(Path(row.path) / "epochs.csv").assign(
                dataset=row.dataset, variant=row.variant, seed=row.seed
            )
            for row in self.table.itertuples()
        ]
        return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def _warn(message: str) -> None:
    Console(stderr=True).print(f"[yellow]warning:[/] {message}", highlight=False, soft_wrap=True)


def _read_run(folder: Path) -> tuple[dict, dict]:
    """A finished run's checked metrics and its config; raises CorruptRun."""
    metrics = read_finished(folder)
    try:
        config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
        keys = ("dataset", "dataset_hash", "method", "config_id", "seed", "params")
        missing = [key for key in keys if key not in config]
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise CorruptRun(folder, f"config.json is unreadable: {error}") from None
    if missing:
        raise CorruptRun(folder, f"config.json has no {missing[0]}")
    return metrics, config


def load_runs(results_dir: Path, warn: Callable[[str], None] = _warn) -> Runs:
    """Every finished run (a ``metrics.json`` beside its ``config.json``) under ``results_dir``.

    A run whose files do not match the checksums in its ``metrics.json`` (or that cannot be read)
    is left out, with a warning naming it. Hidden folders (a ``--force`` rerun in progress) are
    not runs.
    """
    results_dir = Path(results_dir)
    if not results_dir.is_dir():
        raise ColdbenchError(f"--results-dir {results_dir}: no such folder; train something first")
    rows = []
    for metrics_path in sorted(results_dir.rglob("metrics.json")):
        folder = metrics_path.parent
        if any(part.startswith(".") for part in folder.relative_to(results_dir).parts):
            continue
        try:
            metrics, config = _read_run(folder)
        except CorruptRun as error:
            warn(f"{error}; left out (redo it with `coldbench train … --force`)")
            continue
        info = method_info(config["method"], config)
        row = {
            "dataset": config["dataset"],
            "dataset_hash": config["dataset_hash"],
            "method": config["method"],
            "config_id": config["config_id"],
            "variant": variant_label(
                config["method"], config["params"], config.get("train"), config.get("tuned"), info
            ),
            "default_gamma": float(info["defaults"].get("gamma", 0.0)),  # orders REG-PAML's γ variants
            "seed": config["seed"],
            "path": str(folder),
            "task": metrics.get("task", "rating"),
            "selected_epoch": metrics.get("selected_epoch"),
            "train_seconds": metrics.get("train_seconds"),
            # runs from before early stopping trained every epoch: epochs_run is the maximum
            "epochs_run": metrics.get("epochs_run", (config.get("train") or {}).get("epochs")),
            "stopped": metrics.get("stopped", "maximum"),
            "tuned_trials": (config.get("tuned") or {}).get("trials"),
            "tuned_pruner": (config.get("tuned") or {}).get("pruner"),
        }
        for group in GROUPS:
            for metric, value in metrics["test"].get(group, {}).items():
                row[f"{group}_{metric}"] = value
        for group, scores in ((metrics.get("catalogue") or {}).get("test") or {}).items():  # evaluate
            for metric, value in scores.items():
                if metric != "n_users":
                    row[f"{group}_{metric}"] = value
        for state, scores in (metrics.get("states") or {}).items():  # the four-state protocol
            for group in GROUPS:
                for metric, value in scores.get(group, {}).items():
                    row[f"{state}/{group}_{metric}"] = value
        rows.append(row)
    _unique_labels(rows)
    return Runs(pd.DataFrame(rows))
