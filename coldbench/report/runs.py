"""Collect finished runs into tidy tables: live run folders, or a committed study's files.

A committed study (``coldbench report --export``) is a folder holding ``runs.jsonl`` (every run's
config and metrics), ``epochs.parquet`` (every run's epoch log), ``per_user.parquet`` (every run's
per-user scores, float32, no ratings and no item ids) and, when the runs were scored by
``coldbench evaluate``, ``shots.parquet``. ``load_runs`` reads such a folder like a results
folder, so every table's intervals, tests and ``*`` can be re-derived from what the repository
holds.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd
from rich.console import Console

from coldbench.config import LATER_DEFAULTS, PERFORMANCE_SETTINGS, PRESETS, TrainConfig
from coldbench.data.protocol import HEADLINE_STATE
from coldbench.errors import ColdbenchError
from coldbench.paths import NAME_PATTERN
from coldbench.training.run_files import CorruptRun, read_finished

GROUPS = ("overall", "major", "minor")
RUNS_FILE = "runs.jsonl"  # a committed study's runs, one JSON object per line
USERS_FILE = "per_user.parquet"  # a committed study's per-user scores (and a run folder's own)
PREDICTIONS_FILE = "predictions.parquet"  # a run folder's query predictions (never committed)


def state_users_file(state: str) -> str:
    """A committed study's per-user file of ``state``: ``per_user.parquet`` for the headline state
    (user-cold, the paper protocol's only one), ``per_user-<state>.parquet`` for the others."""
    return USERS_FILE if state == HEADLINE_STATE else f"per_user-{state}.parquet"


SHOTS_FILE = "shots.parquet"  # a committed study's k-shot scores (and a run folder's own)
EPOCHS_FILE = "epochs.parquet"  # a committed study's per-epoch logs, one row per run and epoch
OLD_RUN_TREE = "runs"  # exports before runs.jsonl wrote runs/<method>/<config-id>/seed-<k>/{RUN_FILES}
RECORD_KEYS = ("run", "config", "metrics")  # and "epochs": in the line (older exports) or in EPOCHS_FILE


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
        tag = tuned.get("label", "tuned")  # ``recommended``: a committed study's settings
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
        """The runs labelled ``[tag]``, plus the untagged runs of floors that have none so labelled.

        So ``tuned`` keeps every ``[tuned]`` run and the floors that have nothing to tune;
        ``paper`` keeps the ``[paper]`` runs and the floors (which ignore training settings). An
        untagged run of a meta-trained method (``melu (epochs=1)``) is in no preset.
        """
        tags = self.table["variant"].map(variant_tag)
        covered = set(self.table.loc[tags == tag, "method"])
        floor = ~self.table["meta_trained"].astype(bool) if "meta_trained" in self.table else False
        keep = (tags == tag) | (tags.isna() & floor & ~self.table["method"].isin(covered))
        return Runs(self.table[keep].reset_index(drop=True))

    def per_user(self, state: str | None = HEADLINE_STATE) -> pd.DataFrame:
        """All runs' ``per_user.parquet`` with the run's keys as columns, for one cold-start ``state``.

        The default is every run's test users (``user-cold``, the only state of the paper's
        protocol and of runs written before states existed); ``None`` keeps the rows of every state.
        """
        frames = []
        for row, recorded in zip(self.table.itertuples(), self.table.to_dict("records")):
            if isinstance(getattr(row, "study", None), str):  # a committed study's run
                frames.append(_with_keys(_committed_users(Path(row.study), row.run, recorded), row))
                continue
            path = Path(row.path) / USERS_FILE
            try:
                frame = pd.read_parquet(path)
            except (OSError, ValueError) as error:  # missing, unreadable or not parquet (pyarrow's errors)
                raise ColdbenchError(
                    f"{path}: cannot read the run's per-user scores ({type(error).__name__}); "
                    "redo the run with `coldbench train … --force`, or point --results-dir at live runs"
                ) from None
            if "state" not in frame:  # runs from before states: every user is user-cold
                frame = frame.assign(state=HEADLINE_STATE)
            wrong = mean_mismatch(frame, recorded)
            if wrong is not None:
                raise ColdbenchError(
                    f"{row.path}: metrics.json's test {wrong}, the mean of its {USERS_FILE}; the run's "
                    "files disagree (edited after training?), so no report uses it: redo it with "
                    "`coldbench train … --force`"
                )
            frame = _with_spread(frame, Path(row.path) / PREDICTIONS_FILE)
            catalogue = Path(row.path) / "catalogue.parquet"
            if catalogue.is_file():  # top-N metrics of `coldbench evaluate`: the test users' own state
                ranked = read_run_file(catalogue, pd.read_parquet).drop(columns=["major", "n_relevant"])
                headline = frame["state"] == HEADLINE_STATE
                merged = frame[headline].merge(ranked, on="user_id", how="left")
                frame = pd.concat([merged, frame[~headline]], ignore_index=True)
            frames.append(_with_keys(frame, row))
        if not frames:
            return pd.DataFrame()
        frame = pd.concat(frames, ignore_index=True)
        return frame if state is None else frame[frame["state"] == state].reset_index(drop=True)

    def shots(self) -> pd.DataFrame:
        """All runs' ``shots.parquet`` (``coldbench evaluate``: per user and support size k) with the
        run's keys as columns; runs without one are left out. ``k = -1`` is the whole support."""
        frames = []
        for row in self.table.itertuples():
            if isinstance(getattr(row, "study", None), str):  # a committed study's run
                path = Path(row.study) / SHOTS_FILE
                scored = "shots" in committed_records(Path(row.study) / RUNS_FILE)[row.run]["metrics"]
                frame = _committed_rows(path, row.run) if scored and path.is_file() else None
            else:
                path = Path(row.path) / SHOTS_FILE
                frame = read_run_file(path, pd.read_parquet) if path.is_file() else None
            if frame is not None and len(frame):
                keys = {"dataset": row.dataset, "method": row.method, "variant": row.variant}
                frames.append(frame.assign(**keys, config_id=row.config_id, seed=row.seed))
        return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()

    def epochs(self) -> pd.DataFrame:
        """All runs' ``epochs.csv`` with the run's keys as columns."""
        frames = []
        for row in self.table.itertuples():
            if isinstance(getattr(row, "study", None), str):  # a committed study: runs.jsonl has them
                frame = pd.DataFrame(committed_records(Path(row.study) / RUNS_FILE)[row.run]["epochs"])
            else:
                frame = read_run_file(Path(row.path) / "epochs.csv", pd.read_csv)
            frames.append(frame.assign(dataset=row.dataset, variant=row.variant, seed=row.seed))
        return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def read_run_file(path: Path, read: Callable[[Path], pd.DataFrame]) -> pd.DataFrame:
    """``read(path)`` for one of a run's files; a damaged or unreadable file is one line naming it."""
    try:
        return read(path)
    except (OSError, ValueError) as error:  # pandas' and pyarrow's parse errors are ValueErrors
        raise ColdbenchError(
            f"{path}: cannot read this run file ({type(error).__name__}); "
            "redo the run with `coldbench train … --force`"
        ) from None


def _with_spread(frame: pd.DataFrame, predictions: Path) -> pd.DataFrame:
    """``frame`` with ``pred_std``: the spread (population std) of each headline-state user's query
    predictions, from the run's ``predictions.parquet`` (left out when the run has none)."""
    if not predictions.is_file() or "pred_std" in frame:
        return frame
    try:
        rows = pd.read_parquet(predictions)
    except (OSError, ValueError):
        return frame  # the per-user scores still stand; the sanity flag just has nothing to read
    if "state" in rows:
        rows = rows[rows["state"] == HEADLINE_STATE]
    spread = rows.groupby("user_id")["prediction"].std(ddof=0).rename("pred_std").reset_index()
    headline = frame["state"] == HEADLINE_STATE
    merged = frame[headline].merge(spread, on="user_id", how="left")
    return pd.concat([merged, frame[~headline]], ignore_index=True)


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
    bad = unsafe_names(config)
    if bad:
        raise CorruptRun(folder, f"config.json's {bad} is not a plain name (reports make paths of it)")
    return metrics, config


def unsafe_names(config: dict) -> str | None:
    """The first of the run's dataset, method and config id that could not name a folder, as
    ``key 'value'``; None when all are plain names (checked as typed names are)."""
    for key in ("dataset", "method", "config_id"):
        value = config.get(key)
        if not isinstance(value, str) or not NAME_PATTERN.fullmatch(value):
            return f"{key} {value!r}"
    return None


def _row(config: dict, metrics: dict, path: str) -> dict:
    """One run's row of the runs table, from its parsed ``config.json`` and ``metrics.json``."""
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
        "meta_trained": bool(info.get("meta_trained", True)),  # False: a floor (nothing to train or tune)
        "seed": config["seed"],
        "run": f"{config['method']}/{config['config_id']}/seed-{config['seed']}",
        "path": path,
        # the prepared data's protocol as the run records it (None for runs that predate it)
        "protocol": json.dumps(config.get("dataset_protocol"), sort_keys=True),
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
    return row


def load_runs(results_dir: Path, warn: Callable[[str], None] = _warn) -> Runs:
    """Every finished run (a ``metrics.json`` beside its ``config.json``) under ``results_dir``.

    A run whose files do not match the checksums in its ``metrics.json`` (or that cannot be read)
    is left out, with a warning naming it. Hidden folders (a ``--force`` rerun in progress) are
    not runs. A committed study's folder (``runs.jsonl``, no run folders) is read with
    ``load_committed``; a folder of them (``results/reference``) gives every study's runs.
    """
    results_dir = Path(results_dir)
    if not results_dir.is_dir():
        raise ColdbenchError(f"--results-dir {results_dir}: no such folder; train something first")
    found = sorted(results_dir.rglob("metrics.json"))
    if not found and (results_dir / RUNS_FILE).is_file():
        return load_committed(results_dir)
    if not found and committed_studies(results_dir):  # results/reference, or a study over splits
        return load_committed_studies(results_dir)
    rows = []
    for metrics_path in found:
        folder = metrics_path.parent
        if any(part.startswith(".") for part in folder.relative_to(results_dir).parts):
            continue
        try:
            metrics, config = _read_run(folder)
        except CorruptRun as error:
            warn(f"{error}; left out (redo it with `coldbench train … --force`)")
            continue
        rows.append(_row(config, metrics, str(folder)))
    _unique_labels(rows)
    return Runs(pd.DataFrame(rows))


def load_committed(folder: Path) -> Runs:
    """The runs of a committed study: ``folder/runs.jsonl``, with per-user scores read from
    ``folder/per_user.parquet`` (and k-shot scores from ``folder/shots.parquet``) when asked for."""
    folder = Path(folder)
    records = read_runs_jsonl(folder)
    if not records:
        raise ColdbenchError(f"{folder}: no {RUNS_FILE} with runs in it")
    rows = []
    for number, record in enumerate(records, 1):
        where = f"{folder / RUNS_FILE}:{number}"
        try:
            bad = unsafe_names(record["config"])
            row = _row(record["config"], record["metrics"], str(folder))
        except (KeyError, TypeError, AttributeError) as error:
            raise ColdbenchError(f"{where}: not a run record ({error!r} missing)") from None
        if bad:
            raise ColdbenchError(f"{where}: {bad} is not a plain name (reports make paths of it)")
        rows.append({**row, "run": record["run"], "study": str(folder)})
    _unique_labels(rows)
    return Runs(pd.DataFrame(rows))


def committed_studies(folder: Path) -> list[Path]:
    """The committed studies directly inside ``folder`` (``results/reference``, or a study over data
    splits, one study a split); none when ``folder`` is a committed study itself."""
    folder = Path(folder)
    if (folder / RUNS_FILE).is_file():
        return []
    return sorted(path.parent for path in folder.glob(f"*/{RUNS_FILE}"))


def load_committed_studies(folder: Path) -> Runs:
    """The runs of every committed study inside ``folder`` (see ``committed_studies``)."""
    return Runs(pd.concat([load_committed(s).table for s in committed_studies(folder)], ignore_index=True))


def read_runs_jsonl(folder: Path) -> list[dict]:
    """The runs committed in ``folder/runs.jsonl`` (none if it is missing), one dict per line.

    A ``runs/`` tree from an older export is an error, whether beside ``runs.jsonl`` or instead
    of it: the two must not disagree unseen.
    """
    folder = Path(folder)
    path, tree = folder / RUNS_FILE, folder / OLD_RUN_TREE
    if tree.exists():
        where = "beside" if path.exists() else "instead of"
        raise ColdbenchError(
            f"{tree}: per-run folders from an older export, {where} {RUNS_FILE}; export again "
            f"(or bundle them with coldbench.report.export.bundle_run_tree) and delete {tree}"
        )
    if not path.exists():
        return []
    records = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        try:
            record = json.loads(line)
        except ValueError as error:
            raise ColdbenchError(f"{path}:{number}: not a JSON object ({error})") from None
        if not isinstance(record, dict) or any(key not in record for key in RECORD_KEYS):
            raise ColdbenchError(f"{path}:{number}: expected an object with {', '.join(RECORD_KEYS)}")
        records.append(record)
    if any("epochs" not in record for record in records):
        logs = read_epochs(folder / EPOCHS_FILE)
        for record in records:
            record.setdefault("epochs", logs.get(record["run"], []))
    return records


def read_epochs(path: Path) -> dict[str, list[dict]]:
    """A committed ``epochs.parquet`` as each run's epoch rows: its ``epochs.csv`` as written, its
    own columns in its own order, numbers as numbers, an empty cell as ``None``."""
    import pyarrow.parquet as pq

    try:
        rows = pq.read_table(path).to_pylist()
    except (OSError, ValueError) as error:  # missing or damaged: pyarrow's errors are both kinds
        raise ColdbenchError(f"{path}: cannot read the study's epoch logs ({error}); export again") from None
    by_run: dict[str, list[dict]] = {}
    for row in rows:
        columns = json.loads(row["log_columns"])
        by_run.setdefault(str(row["run"]), []).append({column: row[column] for column in columns})
    return by_run


def _with_keys(frame: pd.DataFrame, row) -> pd.DataFrame:
    """Per-user rows with their run's keys as columns."""
    return frame.assign(
        dataset=row.dataset, method=row.method, variant=row.variant, config_id=row.config_id, seed=row.seed
    )


def _stamp(path: Path) -> tuple[str, int, int]:
    """A file's identity for the caches below: its path, size and modification time."""
    try:
        stat = path.stat()
    except OSError:
        raise ColdbenchError(
            f"{path}: this committed study has no such file (exported before per-user scores were "
            "committed?); its means are checked against runs.jsonl, but intervals and tests need it"
        ) from None
    return str(path), stat.st_size, stat.st_mtime_ns


def _committed_users(study: Path, run: str, recorded: dict) -> pd.DataFrame:
    """``run``'s per-user rows of every state: ``per_user.parquet`` and any ``per_user-<state>.parquet``
    (one file a state, so that none grows large; studies exported before hold every state in one),
    each checked against the means ``recorded`` in ``runs.jsonl`` (the run's row of the runs table)."""
    parts = []
    for path in [study / USERS_FILE, *sorted(study.glob("per_user-*.parquet"))]:
        part = _committed_rows(path, run)
        wrong = mean_mismatch(part, recorded, committed=True)
        if wrong is not None:
            raise ColdbenchError(
                f"{study / RUNS_FILE}: run {run}'s test {wrong}, the mean of its rows in {path.name}; "
                "the committed files disagree, so no report uses them: export the study again"
            )
        parts.append(part)
    return pd.concat(parts, ignore_index=True) if len(parts) > 1 else parts[0]


MEAN_TOLERANCE = 1e-6  # relative; a committed study's per-user scores are float32 (about 6e-8 each)


def mean_mismatch(frame: pd.DataFrame, recorded: dict, committed: bool = False) -> str | None:
    """The first test mean the run records (``metrics.json``: overall, major and minor, each state)
    that is not the mean over users of its per-user scores in ``frame``, as ``overall mse is -3, not
    8.19711``; None when all agree. A table must never show a mean that its intervals and tests,
    computed from the per-user scores, do not belong to.

    ``recorded`` is the run's row of the runs table. A committed study keeps some metrics for the
    headline state only, so there a metric no user of a state has a value for is not checked; a
    mean the run does not record (NaN in its row) is not checked either.
    """
    states = frame["state"].astype(str) if "state" in frame else pd.Series(HEADLINE_STATE, index=frame.index)
    metrics = [c for c in frame.columns if c != "n_users" and pd.api.types.is_float_dtype(frame[c])]
    for state in states.unique():
        in_state = frame[states == state]
        prefix = "" if state == HEADLINE_STATE else f"{state}/"
        for group in GROUPS:
            part = in_state if group == "overall" else in_state[in_state["major"] == (group == "major")]
            for metric in metrics:
                want = recorded.get(f"{prefix}{group}_{metric}")
                if want is None or math.isnan(want):  # not recorded (NaN: another run's column only)
                    continue
                values = part[metric].to_numpy(dtype=float)
                values = values[~np.isnan(values)]
                if committed and not in_state[metric].notna().any():
                    continue
                have = float(values.mean()) if len(values) else math.nan
                scale = float(np.abs(values).mean()) if len(values) else 0.0
                if not abs(want - have) <= MEAN_TOLERANCE * max(abs(want), scale) + 1e-12:
                    where = "" if state == HEADLINE_STATE else f" ({state})"
                    return f"{group} {metric}{where} is {want:.6g}, not {have:.6g}"
    return None


def _committed_rows(path: Path, run: str) -> pd.DataFrame:
    """The rows of ``run`` in a committed study's per-user (or k-shot) file."""
    by_run = _read_by_run(*_stamp(path))
    if run not in by_run:
        raise ColdbenchError(f"{path}: no rows of run {run} (the file does not match runs.jsonl)")
    return by_run[run].copy()


@lru_cache(maxsize=8)
def _read_by_run(path: str, size: int, mtime_ns: int) -> dict[str, pd.DataFrame]:
    try:
        frame = pd.read_parquet(path)
    except (OSError, ValueError) as error:
        raise ColdbenchError(f"{path}: cannot read it ({type(error).__name__})") from None
    if "run" not in frame or "user_id" not in frame:
        raise ColdbenchError(f"{path}: expected the columns run and user_id")
    for column in ("run", "user_id", "state"):
        if column in frame:
            frame[column] = frame[column].astype(str)
    floats = frame.columns[frame.dtypes == "float32"]
    frame[floats] = frame[floats].astype("float64")  # committed as float32; computed on as every run's
    return {
        str(run): part.drop(columns="run").reset_index(drop=True)
        for run, part in frame.groupby("run", sort=False, observed=True)
    }


def committed_records(path: Path) -> dict[str, dict]:
    """The records of a committed ``runs.jsonl`` by run name (read once per version of the file)."""
    return _records_by_run(*_stamp(path))


@lru_cache(maxsize=8)
def _records_by_run(path: str, size: int, mtime_ns: int) -> dict[str, dict]:
    return {record["run"]: record for record in read_runs_jsonl(Path(path).parent)}
