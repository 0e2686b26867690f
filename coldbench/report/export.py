"""Export a study for committing: tables in three formats, figures, and every run's small files in one.

``results/reference/<dataset>/`` gets ``table-<name>.{md,csv,tex}``, ``figures/<name>.png`` and
``runs.jsonl``: one line per run, sorted by method, config id and seed, each a compact JSON object
``{"run": "<method>/<config-id>/seed-<k>", "provenance": …, "config": …, "metrics": …}`` holding the
run's ``config.json`` and ``metrics.json`` as parsed; every run's ``epochs.csv`` goes to
``epochs.parquet`` (``run`` and the log's columns, one row per epoch). One file instead of three
per run keeps a committed study small (a file costs at least one 4 KB block) while a diff still
shows run by run what changed. Read it with ``pandas.read_json(path, lines=True)``. Exports before
``epochs.parquet`` kept each log in its line, as ``"epochs": [...]``; both forms are read.

Beside it, ``per_user.parquet`` holds every run's per-user scores (columns ``run``, ``user_id``,
``state``, ``major`` and the metrics, float32): every metric for the test users, and
``STATE_METRICS`` for the other states of the four-state protocol. ``shots.parquet`` holds the
k-shot scores of runs scored by ``coldbench evaluate`` (``run``, ``user_id``, ``k``, ``major``,
``n_support_full`` and the task's headline metric). No ratings, item ids, predictions or
checkpoints are committed: they are large, and MovieLens may not be redistributed.

The tables are rendered from these committed files (``load_committed``), so ``check_exported``
can render every committed table again from them and compare it character by character: every
interval, p-value, Holm adjustment and ``*``, besides every mean against ``runs.jsonl``.
"""

from __future__ import annotations

import csv
import fnmatch
import json
import math
import re
import shutil
from collections import Counter
from collections.abc import Callable, Iterable
from pathlib import Path

import pandas as pd

from coldbench.atomic_io import atomic_path
from coldbench.data.protocol import HEADLINE_STATE, STATES
from coldbench.errors import ColdbenchError
from coldbench.paths import portable_storage
from coldbench.report.runs import (
    EPOCHS_FILE,
    OLD_RUN_TREE,
    RUNS_FILE,
    SHOTS_FILE,
    USERS_FILE,
    Runs,
    committed_records,
    committed_studies,
    load_committed,
    load_committed_studies,
    method_info,
    read_runs_jsonl,
    state_users_file,
    variant_label,
)
from coldbench.report.tables import RENDERERS, TABLES, metric_label
from coldbench.report.tables.base import NothingToShow
from coldbench.report.tables.states import has_states

RUN_FILES = ("config.json", "epochs.csv", "metrics.json")  # what runs.jsonl holds of each run
STATE_METRICS = ("mse", "ndcg@3", "auc", "nel")  # kept for every state; the test users keep every metric
SHOT_METRICS = ("mse", "auc")  # the shots table's metric (ratings, clicks)
NOT_METRICS = ("major", "n_support", "n_query", "n_relevant", "inner_lr", "seed", "k", "n_support_full")
RATING_TABLES = ("main", "ablation", "minor-major")
FIGURES = ("boxplot", "lr-hist", "curves")
EXPORTED_FILES = "exported-files.txt"  # what the last export wrote: the only files a re-export deletes
EXTENSIONS = {"markdown": "md", "csv": "csv", "latex": "tex"}
METRIC_COLUMNS = ("mse", "mae", "ndcg@3", "ndcg@5", "ndcg_lin@3", "ndcg_lin@5")


def table_options(name: str) -> dict:
    """The options a committed table is rendered with (``check_exported`` renders it again so)."""
    if name == "states":  # four states × a metric: keep it to MSE and nDCG@3
        return {"metrics": "mse,ndcg@3"}
    if name == "splits":  # each metric takes two columns (value, p): MSE and nDCG@3
        return {"metrics": "mse,ndcg@3"}
    if name in ("minor-major", "ctr", "shots"):  # one metric each (shots: its columns are the k)
        return {}
    return {"metrics": ",".join(METRIC_COLUMNS)}


def export_study(
    runs: Runs, dataset: str, out: Path, keep_committed: bool = False, *, only_main: bool = False
) -> list[Path]:
    """Write the committed form of ``dataset``'s study under ``out``; returns the files written.

    The committed run files come first; the tables are then rendered from them, not from the live
    runs, so that they can be re-derived from the repository alone. With ``keep_committed`` the
    runs already committed in ``out`` that ``runs`` lacks stay in the study (one trained over
    several sessions, on machines that do not keep run folders); a run in both is taken from ``runs``.
    ``only_main``: the main table alone and no figures (one split of a study over splits).
    """
    from coldbench.report.figures import FIGURES as DRAW

    selected = runs.select(dataset)
    if len(selected) == 0:
        raise ColdbenchError(f"--dataset {dataset}: no finished runs to export")
    out = Path(out)
    old_tree = _old_run_tree(out)  # checked before anything is written
    if keep_committed and (out / RUNS_FILE).is_file():
        selected = _with_committed(selected, out, dataset)
    own_before = exported_files(out)  # only these may be deleted: never a file the user put there
    written: list[Path] = []
    ctr = (selected.table["task"] == "ctr").all()
    four_states = has_states(selected.table)  # the four-state protocol: its table and figure too
    scored = any((Path(path) / SHOTS_FILE).is_file() for path in selected.table["path"])  # evaluate
    extra_tables = (*(("states",) if four_states else ()), *(("shots",) if scored else ()))
    extra_figures = (*(("states",) if four_states else ()), *(("shots",) if scored else ()))
    out.mkdir(parents=True, exist_ok=True)
    # every committed file is computed before any is replaced: kept runs are read from them
    per_user = compact_per_user(selected)
    shots = compact_shots(selected)
    earlier = committed_records(out / RUNS_FILE) if "study" in selected.table else {}
    runs_in = [
        (row.method, row.config_id, row.seed, earlier[row.run] if _is_committed(row) else Path(row.path))
        for row in selected.table.itertuples()
    ]
    written += write_runs_jsonl(runs_in, out / RUNS_FILE)
    if old_tree is not None:
        shutil.rmtree(old_tree)  # the per-run files of an earlier export: runs.jsonl replaces them
    for state, part in split_by_state(per_user).items():  # one file a state keeps each well under 2 MB
        written.append(_write_parquet(part, out / state_users_file(state)))
    if shots is not None:
        written.append(_write_parquet(shots, out / SHOTS_FILE))
    committed = load_committed(out)
    tags = committed.tags()
    # One set of tables per preset when the study holds several (table-main-paper, table-main-tuned);
    # a preset whose runs are all of one family may lack a table (no PAML run: no ablation).
    views = [(f"-{tag}", committed.for_preset(tag)) for tag in tags] if len(tags) > 1 else [("", committed)]
    for suffix, view in views:
        for name in ("ctr",) if ctr else ("main",) if only_main else (*RATING_TABLES, *extra_tables):
            try:
                report = TABLES[name](view, dataset, **table_options(name))
            except ColdbenchError as error:  # no PAML run: no ablation table, as a figure is skipped
                if suffix or isinstance(error, NothingToShow):
                    continue
                raise
            for fmt, ext in EXTENSIONS.items():
                path = out / f"table-{name}{suffix}.{ext}"
                with atomic_path(path) as tmp:
                    tmp.write_text(RENDERERS[fmt](report))
                written.append(path)
    figures = out / "figures"
    for name in () if only_main else ("ctr", "curves") if ctr else (*FIGURES, *extra_figures):
        try:
            DRAW[name](selected, figures)  # from the live runs: lr-hist needs each user's rate
        except ColdbenchError:  # nothing to draw (lr-hist when every rate is one number): no figure
            continue
        (figures / f"{name}.pdf").unlink(missing_ok=True)  # just drawn: the PNG is enough for a repository
        compact_png(figures / f"{name}.png")
        written.append(figures / f"{name}.png")
    mine = {path.relative_to(out).as_posix() for path in written}
    for stale in sorted(own_before - mine):  # e.g. table-main.* once the study holds two presets
        (out / stale).unlink(missing_ok=True)
    with atomic_path(out / EXPORTED_FILES) as tmp:
        tmp.write_text("".join(f"{name}\n" for name in sorted(mine)), encoding="utf-8")
    return [*written, out / EXPORTED_FILES]


def export_splits(runs: Runs, study: str, out: Path, keep_committed: bool = False) -> list[Path]:
    """Write a study over data splits under ``out``: each split as its own committed study
    (``out/<split dataset>/``, as ``export_study``) and the splits table beside them, rendered from
    those committed files; returns the files written."""
    from coldbench.report.tables.splits import study_splits

    names = list(study_splits(runs, study).values())
    if len(names) < 2:
        raise ColdbenchError(
            f"--dataset {study}: runs on {len(names)} data split(s); a splits study needs 2 or more"
        )
    out = Path(out)
    own_before = exported_files(out)
    written = [
        path
        for name in names
        for path in export_study(runs, name, out / name, keep_committed, only_main=True)
    ]
    mine = _write_splits_table(out, study)
    for stale in sorted(own_before - set(mine)):
        (out / stale).unlink(missing_ok=True)
    with atomic_path(out / EXPORTED_FILES) as tmp:
        tmp.write_text("".join(f"{name}\n" for name in sorted(mine)), encoding="utf-8")
    return [*written, *(out / name for name in mine), out / EXPORTED_FILES]


def _write_splits_table(out: Path, study: str) -> list[str]:
    committed = load_committed_studies(out)
    report = TABLES["splits"](committed, study, **table_options("splits"))
    names = []
    for fmt, ext in EXTENSIONS.items():
        path = out / f"table-splits.{ext}"
        with atomic_path(path) as tmp:
            tmp.write_text(RENDERERS[fmt](report))
        names.append(path.name)
    return names


def exported_files(out: Path) -> set[str]:
    """The files an earlier export wrote into ``out`` (``exported-files.txt``), relative to it.

    A folder without the list (a new one, or an export from before it existed) has none, so an
    export deletes nothing there but what it replaces.
    """
    try:
        lines = (Path(out) / EXPORTED_FILES).read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        return set()
    except (OSError, UnicodeDecodeError) as error:
        raise ColdbenchError(f"{Path(out) / EXPORTED_FILES}: cannot read it ({error})") from None
    names = {line.strip() for line in lines if line.strip()}
    unsafe = sorted(n for n in names if n.startswith("/") or ".." in Path(n).parts or n == EXPORTED_FILES)
    if unsafe:
        raise ColdbenchError(f"{Path(out) / EXPORTED_FILES}: {unsafe[0]!r} is not a file of this folder")
    return names


def exported_tables(folder: Path, pattern: str) -> list[Path]:
    """The tables matching ``pattern`` that the export of ``folder`` wrote, to be checked.

    Those ``exported-files.txt`` lists, never a file the user keeps beside them (``table-mine.md``
    in a paper's folder); every match in a folder exported before the list existed.
    """
    folder = Path(folder)
    if not (folder / EXPORTED_FILES).is_file():
        return sorted(folder.glob(pattern))
    listed = [name for name in exported_files(folder) if "/" not in name]
    paths = sorted(folder / name for name in listed if fnmatch.fnmatchcase(name, pattern))
    missing = next((path for path in paths if not path.is_file()), None)
    if missing is not None:
        raise ColdbenchError(f"{missing}: listed in {folder / EXPORTED_FILES} but missing; export again")
    return paths


def _compact(frame: pd.DataFrame, runs: Runs, keep: Callable[[str], bool]) -> pd.DataFrame:
    """``frame``'s rows with a ``run`` key, the kept metrics as float32, sorted for compression."""
    names = runs.table.set_index(["variant", "seed"])["run"]
    frame = frame.assign(run=[names[(v, s)] for v, s in zip(frame["variant"], frame["seed"])])
    keys = [c for c in ("run", "user_id", "state", "k", "major", "n_support_full") if c in frame]
    metrics = [
        c
        for c in frame.columns
        if c not in (*keys, *NOT_METRICS, "dataset", "method", "variant", "config_id")
        and pd.api.types.is_float_dtype(frame[c])
        and keep(c)
    ]
    out = frame[keys + metrics].copy()
    for column in ("run", "user_id", "state"):
        if column in out:
            out[column] = out[column].astype(str).astype("category")
    for column, kind in (("k", "int16"), ("n_support_full", "int32")):
        if column in out:
            out[column] = out[column].astype(kind)
    out[metrics] = out[metrics].astype("float32")
    return out.sort_values([c for c in ("run", "state", "k", "user_id") if c in out]).reset_index(drop=True)


def _write_parquet(frame: pd.DataFrame, dest: Path) -> Path:
    """zstd at level 19; float columns byte-stream-split and not dictionary-encoded, which
    compresses per-user scores about 15% (k-shot scores about 40%) better than the default."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.Table.from_pandas(frame, preserve_index=False)
    floats = [c for c in frame.columns if pd.api.types.is_float_dtype(frame[c])]
    others = [c for c in frame.columns if c not in floats]
    with atomic_path(dest) as tmp:
        pq.write_table(
            table,
            tmp,
            compression="zstd",
            compression_level=19,
            use_dictionary=others,
            use_byte_stream_split=floats or False,
        )
    return Path(dest)


def compact_per_user(runs: Runs) -> pd.DataFrame:
    """``per_user.parquet``'s rows: every run's per-user scores, every state (see the module docstring)."""
    frame = runs.per_user(state=None)
    frame = _compact(frame, runs, lambda metric: True)
    headline = frame["state"] == HEADLINE_STATE
    for metric in frame.columns[frame.dtypes == "float32"]:
        if metric not in STATE_METRICS:  # other states keep the states table's metrics only
            frame.loc[~headline, metric] = float("nan")
    return frame


def split_by_state(frame: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """The committed per-user rows by file: the headline state's, then every other state's; a
    state's file drops the metric columns it has no value for."""
    parts = {}
    for state in [HEADLINE_STATE, *sorted(set(frame["state"].astype(str)) - {HEADLINE_STATE})]:
        part = frame[frame["state"].astype(str) == state]
        if state != HEADLINE_STATE:
            part = part.drop(
                columns=[c for c in part.columns if part[c].dtype == "float32" and part[c].isna().all()]
            )
        parts[state] = part.reset_index(drop=True)
    return parts


def compact_shots(runs: Runs) -> pd.DataFrame | None:
    """``shots.parquet``'s rows: the k-shot scores of the runs ``coldbench evaluate`` scored, or None."""
    frame = runs.shots()
    if frame.empty:
        return None
    return _compact(frame, runs, lambda metric: metric in SHOT_METRICS)


def _is_committed(row) -> bool:
    return isinstance(getattr(row, "study", None), str)


def _with_committed(live: Runs, out: Path, dataset: str) -> Runs:
    """``live`` plus the runs committed in ``out`` that it lacks (same prepared data only). A method
    tuned again replaces its earlier tuned runs: a committed ``[tuned]`` run of a method that has
    live ``[tuned]`` runs is left out, whatever its settings (one tuned variant per method)."""
    earlier = load_committed(out).select(dataset)
    retuned = set(live.table.loc[live.table["tuned_trials"].notna(), "method"])
    superseded = earlier.table["tuned_trials"].notna() & earlier.table["method"].isin(retuned)
    kept = earlier.table[~earlier.table["run"].isin(set(live.table["run"])) & ~superseded]
    hashes = set(live.table["dataset_hash"]) | set(kept["dataset_hash"])
    if len(hashes) > 1:
        raise ColdbenchError(
            f"{out / RUNS_FILE}: its runs were trained on other prepared data than these "
            f"({', '.join(sorted(h[:12] for h in hashes))}); export to another folder"
        )
    return Runs(pd.concat([live.table, kept], ignore_index=True))


def _cell(text: str) -> int | float | str | None:
    """A CSV cell as a JSON value: an int or a float where it is one, None where empty.

    A non-finite float (``inf``, ``nan``) stays text, as strict JSON has no number for it.
    """
    if text == "":
        return None
    if re.fullmatch(r"[+-]?\d+", text):
        return int(text)
    try:
        value = float(text)
    except ValueError:
        return text
    return value if math.isfinite(value) else text


NO_COMMIT = (
    "config.json records no code commit: coldbench ran from outside a git checkout "
    "(an installed package) or without git"
)


def run_record(run: str, folder: Path) -> dict:
    """One line of ``runs.jsonl``: ``run``'s name and the three small files in ``folder``, parsed."""
    folder = Path(folder)
    try:
        config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
        metrics = json.loads((folder / "metrics.json").read_text(encoding="utf-8"))
        with (folder / "epochs.csv").open(newline="", encoding="utf-8") as handle:
            rows = list(csv.reader(handle))
    except (OSError, UnicodeDecodeError, ValueError, csv.Error) as error:
        raise ColdbenchError(f"run {folder}: cannot read its files ({error})") from None
    header, body = (rows[0], rows[1:]) if rows else ([], [])
    if len(set(header)) != len(header) or any(len(row) != len(header) for row in body):
        raise ColdbenchError(f"run {folder}: epochs.csv is not a table (repeated column or ragged row)")
    epochs = [{column: _cell(text) for column, text in zip(header, row)} for row in body]
    tuned = config.get("tuned")
    if isinstance(tuned, dict) and isinstance(tuned.get("storage"), str) and len(folder.parents) > 3:
        # runs tuned before provenance was portable recorded this machine's path of the study
        tuned["storage"] = portable_storage(tuned["storage"], folder.parents[3])
    return {
        "run": run,
        "provenance": provenance(config),
        "config": config,
        "metrics": metrics,
        "epochs": epochs,
    }


def provenance(config: dict) -> dict:
    """The code commit a run records, or ``None`` with the reason it is unknown."""
    commit = (config.get("versions") or {}).get("coldbench_commit")
    if commit:
        return {"commit": commit}
    return {"commit": None, "reason": NO_COMMIT}


def write_runs_jsonl(runs: Iterable[tuple[str, str, int, Path | dict]], dest: Path) -> list[Path]:
    """Write ``runs.jsonl`` at ``dest``, and ``epochs.parquet`` beside it, from
    ``(method, config_id, seed, source)`` per run; returns both paths.

    ``source`` is the run's folder, or its record as already committed. The one writer of the
    committed run files (``export_study`` and ``bundle_run_tree`` use it): one compact JSON object
    per line, sorted by method, config id and seed, without the epoch log, which goes to
    ``epochs.parquet`` (a third of the bytes of the same numbers as JSON).
    """
    entries = sorted(runs, key=lambda entry: (entry[0], entry[1], int(entry[2])))
    names = [f"{method}/{config_id}/seed-{seed}" for method, config_id, seed, _ in entries]
    repeated = sorted(name for name, count in Counter(names).items() if count > 1)
    if repeated:
        raise ColdbenchError(f"{dest}: run {repeated[0]} comes from more than one folder")
    records = [
        finite_json(folder if isinstance(folder, dict) else run_record(name, folder))
        for name, (*_, folder) in zip(names, entries)
    ]
    epochs = _write_epochs({record["run"]: record.get("epochs", []) for record in records}, dest.parent)
    with atomic_path(dest) as tmp, tmp.open("w", encoding="utf-8", newline="\n") as handle:
        for record in records:
            line = {key: value for key, value in record.items() if key != "epochs"}
            handle.write(json.dumps(line, ensure_ascii=False, separators=(",", ":"), allow_nan=False) + "\n")
    return [Path(dest), epochs]


def _write_epochs(logs: dict[str, list[dict]], folder: Path) -> Path:
    """``epochs.parquet``: one row per run and epoch: ``run``, ``log_columns`` (the run's own
    ``epochs.csv`` header as a JSON list, so its columns and their order come back exactly) and
    every run's columns (null where a run has no such column); whole numbers stay integers."""
    rows = [
        {"run": run, "log_columns": json.dumps(list(epochs[0])), **epoch}
        for run, epochs in logs.items()
        for epoch in epochs
    ]
    frame = pd.DataFrame(rows, columns=["run", "log_columns"]) if not rows else pd.DataFrame(rows)
    frame["log_columns"] = frame["log_columns"].astype("category")
    for column in frame.columns.drop(["run", "log_columns"]):
        values = [
            row[column] for row in rows if row.get(column) is not None
        ]  # as written, not as pandas made them
        if values and all(isinstance(v, int) and not isinstance(v, bool) for v in values):
            frame[column] = frame[column].astype("Int64")  # else a column with a gap would be float
    frame["run"] = frame["run"].astype("category")
    return _write_parquet(frame, Path(folder) / EPOCHS_FILE)


def finite_json(value):
    """``value`` with every NaN or infinite float as ``None``: strict JSON has no number for them."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {key: finite_json(item) for key, item in value.items()}
    if isinstance(value, list):
        return [finite_json(item) for item in value]
    return value


def bundle_run_tree(tree: Path, dest: Path) -> Path:
    """``runs.jsonl`` at ``dest`` from a folder of run folders ``<method>/<config-id>/seed-<k>/``.

    ``tree`` is the ``runs/`` folder of an export from before ``runs.jsonl`` (or a dataset's folder
    of live results); a run folder is one with a ``metrics.json``. Removing ``tree`` is left to
    the caller (``git rm -r`` for a committed study).
    """
    entries = []
    for metrics in sorted(Path(tree).glob("*/*/seed-*/metrics.json")):
        folder = metrics.parent
        seed = folder.name.removeprefix("seed-")
        if seed.isdigit():
            entries.append((folder.parent.parent.name, folder.parent.name, int(seed), folder))
    if not entries:
        raise ColdbenchError(f"{tree}: no run folders (<method>/<config-id>/seed-<k>/metrics.json)")
    return write_runs_jsonl(entries, dest)[0]


def _old_run_tree(out: Path) -> Path | None:
    """``out/runs`` if an earlier export left it there; an error if it holds anything else."""
    tree = out / OLD_RUN_TREE
    if not tree.exists() and not tree.is_symlink():
        return None

    def exported(path: Path) -> bool:  # <method>/<config-id>/seed-<k>/<one of RUN_FILES>
        parts = path.relative_to(tree).parts
        seed_ok = len(parts) < 3 or parts[2].startswith("seed-")
        if path.is_symlink():
            return False
        if path.is_dir():
            return len(parts) <= 3 and seed_ok
        return len(parts) == 4 and seed_ok and parts[3] in RUN_FILES

    stray = tree if tree.is_symlink() or not tree.is_dir() else None
    stray = stray or next((path for path in sorted(tree.rglob("*")) if not exported(path)), None)
    if stray is not None:
        raise ColdbenchError(
            f"{tree}: in the way of {RUNS_FILE}, and {stray} is not an earlier export's run file; "
            f"move {tree} away and export again"
        )
    return tree


def compact_png(path: Path) -> None:
    """Rewrite a figure as a 256-colour PNG: about a third of the bytes, the same plot to the eye."""
    from PIL import Image  # matplotlib's own dependency

    with Image.open(path) as image:
        palette = image.convert("RGB").quantize(
            256, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE
        )
    with atomic_path(path) as tmp:
        palette.save(tmp, format="PNG", optimize=True)


def _committed_means(folder: Path) -> dict[str, dict[str, float]]:
    """variant → metric → mean over seeds, from each run's config and test metrics in ``runs.jsonl``.

    A four-state run's metrics of each state are keyed ``<metric> <state>`` (``mse warm``) too.
    """
    values: dict[str, dict[str, list[float]]] = {}
    for record in read_runs_jsonl(folder):
        config = record["config"]
        info = method_info(config["method"], config)
        variant = variant_label(
            config["method"], config["params"], config.get("train"), config.get("tuned"), info
        )
        scores = {metric: value for metric, value in record["metrics"]["test"]["overall"].items()}
        for state, by_group in (record["metrics"].get("states") or {}).items():
            scores.update({f"{metric} {state}": value for metric, value in by_group["overall"].items()})
        for k, by_group in ((record["metrics"].get("shots") or {}).get("by_k") or {}).items():
            scores.update({f"{metric} k={k}": value for metric, value in by_group["overall"].items()})
        for metric, value in scores.items():
            if isinstance(value, (int, float)) and math.isfinite(value):  # a seed without one is left out
                values.setdefault(variant, {}).setdefault(metric, []).append(value)
    return {v: {m: sum(x) / len(x) for m, x in metrics.items()} for v, metrics in values.items()}


def check_exported(folder: Path, digits: int = 3) -> int:
    """Every committed table of ``folder`` against its committed runs; returns the cells checked.

    Every mean printed in ``table-main*.csv``, ``table-ablation*.csv``, ``table-states*.csv`` and
    ``table-shots*.csv`` is checked against ``runs.jsonl``; where ``per_user.parquet`` is committed,
    every table file is also rendered again from the committed files and must be identical (its
    intervals, p-values and ``*`` included). A mismatch raises ColdbenchError naming the cell or
    the line.
    """
    folder = Path(folder)
    parts = committed_studies(folder)
    if parts:  # a study over splits: each split, then the splits table from all of them
        checked = sum(check_exported(part, digits) for part in parts)
        return checked + _rederive(folder, load_committed_studies(folder))
    checked = _check_means(folder, digits)
    if (folder / USERS_FILE).is_file():
        checked += rederive_tables(folder)
    return checked


def rederive_tables(folder: Path) -> int:
    """Render every committed ``table-<name>[-<preset>].<ext>`` of ``folder`` again from its committed
    runs and per-user scores; returns the number of lines compared, raises on the first difference."""
    return _rederive(Path(folder), load_committed(folder))


def _rederive(folder: Path, committed: Runs) -> int:
    """``rederive_tables`` of ``folder``'s tables from ``committed`` (one study, or its splits)."""
    if committed_studies(folder):
        from coldbench.report.tables.splits import split_studies

        studies = split_studies(committed)
        dataset = studies[0] if len(studies) == 1 else None
    else:
        dataset = committed.datasets()[0] if len(committed.datasets()) == 1 else None
    formats = {ext: fmt for fmt, ext in EXTENSIONS.items()}
    lines = 0
    reports: dict[str, object] = {}
    for path in exported_tables(folder, "table-*"):
        fmt = formats.get(path.suffix.lstrip("."))
        if fmt is None:
            continue
        stem = path.stem.removeprefix("table-")
        name, tag = next(
            (
                (n, stem[len(n) + 1 :] or None)
                for n in sorted(TABLES, key=len, reverse=True)
                if stem == n or stem.startswith(f"{n}-")
            ),
            (None, None),
        )
        if name is None or dataset is None:
            raise ColdbenchError(f"{path}: not a table this study can render (tables: {', '.join(TABLES)})")
        if stem not in reports:
            view = committed.for_preset(tag) if tag else committed
            reports[stem] = TABLES[name](view, dataset, **table_options(name))
        want = RENDERERS[fmt](reports[stem]).splitlines()
        have = path.read_text(encoding="utf-8").splitlines()
        for number, (ours, theirs) in enumerate(zip(want, have), 1):
            if ours != theirs:
                raise ColdbenchError(
                    f"{path}:{number}: the committed line differs from the one its committed runs give\n"
                    f"  committed: {theirs}\n  re-derived: {ours}"
                )
        if len(want) != len(have):
            raise ColdbenchError(f"{path}: {len(have)} lines committed, its committed runs give {len(want)}")
        lines += len(want)
    return lines


def _check_means(folder: Path, digits: int = 3) -> int:
    """Every mean printed in the committed main, ablation, states and shots CSVs against ``runs.jsonl``."""
    means = _committed_means(Path(folder))
    checked = 0
    kinds = ("main", "ablation", "states", "shots")
    paths = [path for kind in kinds for path in exported_tables(folder, f"table-{kind}*.csv")]
    for path in paths:
        with path.open(newline="") as handle:
            rows = list(csv.reader(handle))
        header = rows[0]
        labels = {metric_label(m): m for m in METRIC_COLUMNS}
        labels.update({f"{metric_label(m)} {s}": f"{m} {s}" for m in METRIC_COLUMNS for s in STATES})
        if path.name.startswith("table-shots"):  # "k=4 (n=812)": the exported shots table shows MSE
            labels.update({c: f"mse k={c[2:].split(' ')[0]}" for c in header if c.startswith("k=")})
        for row in rows[1:]:
            variant = row[0]
            for column, text in zip(header, row):
                metric = labels.get(column)
                match = re.match(r"\s*(-?\d+\.\d+)", text)
                if metric is None or match is None:
                    continue
                if variant not in means:
                    raise ColdbenchError(f"{path}: row {variant!r} has no committed runs")
                want = means[variant][metric]
                if not math.isclose(float(match.group(1)), want, abs_tol=0.5 * 10**-digits + 1e-12):
                    raise ColdbenchError(f"{path}: {variant} {column} shows {text}, runs give {want:.4f}")
                checked += 1
    return checked
