"""Tune a method's settings with Optuna on validation users; test users are never read.

A study samples the method's declared ``search_space`` with a seeded TPE sampler. Each trial
trains with early stopping in a scratch folder under ``results/<dataset>/<method>/tune/trials``
(deleted afterwards) on a copy of the data without its test split, reports the best validation
value so far after every epoch to the pruner (median or Hyperband, the same for every method),
and returns the selected epoch's validation metric (MSE for ratings, NEL for clicks). The study
lives in Optuna's RDB storage: by default ``results/<dataset>/<method>/tune/study.db`` (SQLite);
finished and pruned trials count toward ``--trials``, so an interrupted ``tune`` resumes. With
parallel workers, a trial still training when the others fill the budget stops after its next
epoch and is marked failed (``stopped: budget reached``), so the study does not overshoot by a
whole trial.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import math
import os
import re
import shutil
import tempfile
import warnings
from collections.abc import Callable
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import optuna
import torch

from coldbench.data.features import EncodedDataset, encode
from coldbench.data.prepared import PreparedDataset, load_prepared
from coldbench.errors import ColdbenchError
from coldbench.methods import METHODS
from coldbench.paths import default_storage, portable_storage, tune_dir
from coldbench.studies.executors import check_executor, ray_session, threads_per_worker, worker_pool
from coldbench.training.trainer import Diverged, check_dataset_name, fit, make_spec

PRUNERS = ("median", "hyperband")
SAMPLER = "TPE"
COUNTED = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)
HEARTBEAT_S = 60  # a trial whose process died is marked failed after two missed heartbeats

Progress = Callable[[str, dict], None]


def study_name(dataset: str, method: str) -> str:
    return f"{dataset}/{method}"


_SECRET_KEY = re.compile(r"pass|pwd|secret|token|key|auth|credential", re.IGNORECASE)


def url_secrets(url: str) -> list[str]:
    """The credentials in a storage URL: the password of its user part (which may hold ``@`` and
    ``:``) and the value of every query parameter whose name says it is secret; also decoded."""
    found = []
    netloc = re.match(r"^[A-Za-z][A-Za-z0-9+.-]*://([^/?#]*)", url)
    if netloc and "@" in netloc.group(1):
        user_part = netloc.group(1).rpartition("@")[0]
        if ":" in user_part:
            found.append(user_part.split(":", 1)[1])
    query = url.partition("?")[2].partition("#")[0]
    for part in query.split("&"):
        key, _, value = part.partition("=")
        if value and _SECRET_KEY.search(unquote(key)):
            found.append(value)
    found += [unquote(secret) for secret in found]
    return sorted({secret for secret in found if secret}, key=len, reverse=True)


def redact(text: str, url: str) -> str:
    """``text`` (a message, an error from the database driver) with the URL's credentials hidden."""
    for secret in url_secrets(url):
        text = text.replace(secret, "***")
    return text


def _driver_message(error: Exception, url: str) -> str:
    """The database driver's message, unless the URL has credentials: a driver that misparses the
    URL may quote any piece of them, so then the message is left out."""
    if url_secrets(url):
        return "the driver's message is not shown, as it may quote the credentials; check the URL's form"
    original = getattr(error, "orig", None)  # SQLAlchemy's wrapper: the driver's own words, not the SQL
    return " ".join(str(original if original is not None else error).split())


DRIVER_PACKAGES = {
    "psycopg": "'psycopg[binary]'",
    "psycopg2": "psycopg2-binary",
    "MySQLdb": "mysqlclient",
    "pymysql": "PyMySQL",
}


def _missing_driver(error: ImportError, url: str) -> str:
    """What to install when the URL's database driver is missing (the module's name, never the URL)."""
    missing = error.__cause__ or error.__context__ or error
    module = getattr(missing, "name", None) or getattr(error, "name", None)
    dialect = re.match(r"^([A-Za-z][A-Za-z0-9+.-]*):", url.strip())
    database = dialect.group(1) if dialect else "this"
    if not module:
        return f"the database driver for {database} URLs is not installed; install it (pip install …)"
    package = DRIVER_PACKAGES.get(module.split(".")[0], module.split(".")[0])
    return (
        f"the database driver for {database} URLs is not installed (no module {module!r}); "
        f"install it: pip install {package}"
    )


def shown_storage(url: str) -> str:
    """The URL with every credential hidden, for config.json, messages and logs."""
    return redact(url, url)


def _storage(url: str) -> optuna.storages.RDBStorage:
    """Optuna's RDB storage with heartbeats (SQLite waits for a busy database rather than failing)."""
    if re.fullmatch(r"sqlite(\+\w+)?://(/(:memory:)?)?", url.strip()):
        raise ColdbenchError(
            f"--storage {url}: an in-memory SQLite database is gone when this process ends, and "
            "workers cannot share it; give a file: sqlite:///path/to/study.db"
        )
    check_sqlite_file(url)
    kwargs = {"connect_args": {"timeout": 60}} if url.startswith("sqlite") else {}
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
    try:
        with warnings.catch_warnings():  # SQLAlchemy's warnings (an ignored URL argument): not ours to print
            warnings.simplefilter("ignore")
            return optuna.storages.RDBStorage(
                url, engine_kwargs=kwargs, heartbeat_interval=HEARTBEAT_S, grace_period=2 * HEARTBEAT_S
            )
    except ImportError as error:  # Optuna's words for a driver that is not installed
        raise ColdbenchError(f"--storage {shown_storage(url)}: {_missing_driver(error, url)}") from None
    except Exception as error:  # SQLAlchemy raises many kinds for a bad URL or an unreachable server
        raise ColdbenchError(
            f"--storage {shown_storage(url)}: cannot open "
            f"({type(error).__name__}: {_driver_message(error, url)})"
        ) from None


def sqlite_file(url: str) -> Path | None:
    """The database file of an ``sqlite:///path`` URL (None for other databases)."""
    match = re.fullmatch(r"sqlite(?:\+\w+)?:///(.+?)(?:\?.*)?", url.strip())
    return Path(unquote(match.group(1))) if match else None


def check_sqlite_file(url: str) -> None:
    """An existing SQLite file must be an SQLite database with Optuna's tables or none at all:
    coldbench never writes its tables into another application's database."""
    import sqlite3

    path = sqlite_file(url)
    if path is None or not path.is_file() or path.stat().st_size == 0:
        return
    try:
        with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as connection:
            tables = {
                row[0] for row in connection.execute("SELECT name FROM sqlite_master WHERE type='table'")
            }
    except sqlite3.Error as error:
        raise ColdbenchError(
            f"--storage {shown_storage(url)}: {path} cannot be read as SQLite ({error})"
        ) from None
    if tables and "studies" not in tables:
        names = ", ".join(sorted(tables)[:3])
        raise ColdbenchError(
            f"--storage {shown_storage(url)}: {path} is another application's database (tables {names}); "
            "give a new file or an Optuna database"
        )


def check_storage_writable(url: str) -> None:
    """``tune`` writes trials: an SQLite file (or its folder) that cannot be written stops it first."""
    path = sqlite_file(url)
    if path is None:
        return
    target = path if path.exists() else path.parent
    if target.exists() and not os.access(target, os.W_OK):
        raise ColdbenchError(
            f"--storage {shown_storage(url)}: {target} is not writable (read-only file system or "
            "permissions), and tune writes every trial there; give a writable --storage"
        )


def check_study_readable(study: optuna.Study, url: str) -> None:
    """Every trial of ``study`` reads back as Optuna wrote it: a damaged database (a hand-edited
    row, a dropped table) stops here in one line, not in a traceback or a silent wrong setting."""
    where = f"study {study.study_name!r} in {shown_storage(url)}"
    try:
        if len(study.directions) != 1:
            raise ValueError(f"{len(study.directions)} directions")
        complete = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
    except Exception as error:  # Optuna and SQLAlchemy raise many kinds for a damaged row
        raise ColdbenchError(
            f"{where} cannot be read ({type(error).__name__}: {' '.join(str(error).split())[:200]}); the "
            "database is damaged: repair it or give another --storage"
        ) from None
    method = study.user_attrs.get("method")
    space = set(METHODS.get(method).search_space) if method in METHODS else set()
    fixed = set(study.user_attrs.get("fixed") or {})
    for trial in complete:
        value, params = trial.value, trial.params
        if not isinstance(value, (int, float)) or not math.isfinite(value):
            raise ColdbenchError(
                f"{where}: trial {trial.number} has no finite value ({value!r}); the database is damaged"
            )
        missing = sorted(space - fixed - set(params))
        if missing:
            raise ColdbenchError(
                f"{where}: trial {trial.number} lacks {missing[0]}; the database is damaged (a row or "
                "table is missing): repair it or give another --storage"
            )
        if method in METHODS:
            check_in_space(method, params, f"{where}, trial {trial.number}")


def make_pruner(name: str) -> optuna.pruners.BasePruner:
    if name == "median":
        return optuna.pruners.MedianPruner(n_startup_trials=5, n_warmup_steps=2)
    if name == "hyperband":
        return optuna.pruners.HyperbandPruner(min_resource=2)
    raise ColdbenchError(f"option --pruner {name!r}: expected one of {', '.join(PRUNERS)}")


def suggest(trial: optuna.Trial, space: dict[str, tuple]) -> dict[str, Any]:
    """One value per entry of a method's ``search_space``."""
    values: dict[str, Any] = {}
    for name, spec in space.items():
        kind = spec[0]
        if kind in ("log", "float"):
            values[name] = trial.suggest_float(name, spec[1], spec[2], log=kind == "log")
        elif kind == "int":
            values[name] = trial.suggest_int(name, spec[1], spec[2])
        elif kind == "cat":
            values[name] = trial.suggest_categorical(name, list(spec[1]))
        else:
            raise ColdbenchError(f"search space entry {name}: unknown kind {kind!r} (log, float, int, cat)")
    return values


def check_in_space(method: str, values: dict[str, Any], where: str) -> None:
    """Each tuned value is a setting of ``method``'s search space, inside its range or choices."""
    space = METHODS.get(method).search_space
    for name, value in values.items():
        spec = space.get(name)
        if spec is None:
            raise ColdbenchError(f"{where}: {name} is not in {method}'s search space; use another study")
        if spec[0] != "cat" and (isinstance(value, bool) or not isinstance(value, (int, float))):
            raise ColdbenchError(f"{where}: {name}={value!r} is not a number; the study is damaged")
        inside = value in spec[1] if spec[0] == "cat" else spec[1] <= value <= spec[2]
        if not inside:
            bounds = list(spec[1]) if spec[0] == "cat" else f"[{spec[1]:g}, {spec[2]:g}]"
            raise ColdbenchError(f"{where}: {name}={value!r} is outside {method}'s search space {bounds}")


def without_test(data: EncodedDataset) -> EncodedDataset:
    """The encoded data with only its training and validation users: a trial reads nothing else
    (no test user, and none of the four-state evaluation sets)."""
    return dataclasses.replace(data, splits={k: v for k, v in data.splits.items() if k in ("train", "valid")})


def _jsonable(overrides: dict[str, Any]) -> dict[str, Any]:
    return json.loads(json.dumps(overrides, default=str))


@dataclasses.dataclass
class StudyPlan:
    """Everything a tuning process needs; picklable, so worker processes can take it."""

    method: str
    dataset_path: str
    storage: str
    name: str
    fixed: dict[str, Any]
    seed: int
    pruner: str
    trials: int
    timeout: float | None
    device: str
    trials_dir: str


def check_fixed(method: str, overrides: dict[str, Any], origins: dict[str, str] | None) -> dict[str, tuple]:
    """The method's search space, after checking the fixed settings (none of them searched)."""
    cls = METHODS.get(method)
    space = dict(cls.search_space)
    if not space:
        raise ColdbenchError(f"{method} declares no search space (search_space); nothing to tune")
    searched = sorted(set(overrides) & set(space))
    if searched:
        raise ColdbenchError(
            f"--set {searched[0]}: the study searches it; leave it out of the fixed settings"
        )
    make_spec(method, overrides, "cpu", origins=origins)  # unknown keys and bad values stop here
    return space


def open_study(plan: StudyPlan, dataset_hash: str, create: bool) -> optuna.Study:
    """Create or load the study and check it was made for this dataset and these settings."""
    quiet_optuna()
    storage = _storage(plan.storage)
    attrs = {
        "method": plan.method,
        "dataset_hash": dataset_hash,
        "fixed": plan.fixed,
        "seed": plan.seed,
        "pruner": plan.pruner,
        "sampler": SAMPLER,
    }
    sampler = optuna.samplers.TPESampler(seed=plan.seed)
    pruner = make_pruner(plan.pruner)
    if create:
        study = optuna.create_study(
            study_name=plan.name,
            storage=storage,
            sampler=sampler,
            pruner=pruner,
            direction="minimize",
            load_if_exists=True,
        )
        if not study.user_attrs:
            if study.trials:  # a study of that name made outside coldbench: never adopt it
                raise ColdbenchError(
                    f"study {plan.name!r} in {shown_storage(plan.storage)} was not made by `coldbench "
                    f"tune` (it has {len(study.trials)} trials and none of coldbench's marks); use "
                    "another --storage, or delete that study"
                )
            for key, value in attrs.items():
                study.set_user_attr(key, value)
    else:
        study = optuna.load_study(study_name=plan.name, storage=storage, sampler=sampler, pruner=pruner)
    recorded = {key: study.user_attrs.get(key) for key in attrs}
    if recorded != attrs:
        differs = next(key for key in attrs if recorded[key] != attrs[key])
        raise ColdbenchError(
            f"study {plan.name!r} in {shown_storage(plan.storage)} was made with {differs}="
            f"{json.dumps(recorded[differs])}, not {json.dumps(attrs[differs])}; use the same settings "
            "or another --storage"
        )
    check_study_readable(study, plan.storage)
    optuna.storages.fail_stale_trials(study)  # trials of a killed tune, so counts and --show are right
    remove_dead_scratch(study, Path(plan.trials_dir))
    return study


def remove_dead_scratch(study: optuna.Study, trials_dir: Path) -> list[Path]:
    """Delete the scratch folders (``trial-<n>-*``) of trials no longer running: a killed trial's
    folder would otherwise stay for good. A running trial's (another worker's) is kept."""
    running = {t.number for t in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,))}
    removed = []
    for folder in sorted(trials_dir.glob("trial-*")) if trials_dir.is_dir() else []:
        number = folder.name.split("-")[1]
        if folder.is_dir() and not folder.is_symlink() and number.isdigit() and int(number) not in running:
            shutil.rmtree(folder, ignore_errors=True)
            removed.append(folder)
    return removed


def counted(study: optuna.Study) -> int:
    """Finished trials (complete or pruned): what ``--trials`` counts."""
    return len(study.get_trials(deepcopy=False, states=COUNTED))


class BudgetReached(ColdbenchError):
    """Another worker finished the study's last counted trial while this one was training."""


class TrialWriteFailed(Exception):
    """A trial could not write its files (a full disk, a read-only folder): not a ColdbenchError, so
    Optuna does not catch it as one trial's failure; the study stops and ``run_study`` says why."""


def quiet_optuna() -> None:
    """No Optuna log line, ever: coldbench prints its own (``trial_line``) and its own errors."""
    optuna.logging.disable_default_handler()
    optuna.logging.set_verbosity(logging.CRITICAL + 1)


def _write_failure(error: BaseException) -> str | None:
    """The one line of a failed write (an ``OSError``, or the ColdbenchError that ``atomic_io``
    made of one), or None for any other error."""
    if isinstance(error, OSError):
        return f"cannot write {error.filename or 'a trial file'}: {error.strerror or error}"
    if isinstance(error, ColdbenchError) and isinstance(error.__context__, OSError):
        return str(error)
    return None


def _objective(
    plan: StudyPlan, prepared: PreparedDataset, data: EncodedDataset, space: dict[str, tuple]
) -> Callable[[optuna.Trial], float]:
    def objective(trial: optuna.Trial) -> float:
        params = suggest(trial, space)
        spec = make_spec(plan.method, {**plan.fixed, **params}, plan.device)
        best = math.inf

        def report(kind: str, info: dict) -> None:
            nonlocal best
            if kind == "epoch":
                if counted(trial.study) >= plan.trials:  # a parallel worker filled the budget
                    trial.set_user_attr("stopped", "budget reached")
                    trial.set_user_attr("epochs_run", info["epoch"])
                    raise BudgetReached(f"stopped after epoch {info['epoch']}: the study has its trials")
                best = min(best, info["value"])
                trial.report(best, info["epoch"])
                if trial.should_prune():
                    raise optuna.TrialPruned(f"pruned after epoch {info['epoch']}")

        try:
            Path(plan.trials_dir).mkdir(parents=True, exist_ok=True)
            folder = Path(tempfile.mkdtemp(prefix=f"trial-{trial.number}-", dir=plan.trials_dir))
            try:
                fitted = fit(folder, spec, prepared, data, plan.seed, report)
            finally:
                shutil.rmtree(folder, ignore_errors=True)
        except Diverged:
            trial.set_user_attr("diverged", True)
            raise optuna.TrialPruned("diverged in its first epoch") from None
        except (OSError, ColdbenchError) as error:
            failure = _write_failure(error)
            if failure is None:
                raise
            raise TrialWriteFailed(f"trial {trial.number}: {failure}") from None
        for key, value in (("best_epoch", fitted.best_epoch), ("epochs_run", len(fitted.log))):
            trial.set_user_attr(key, value)
        trial.set_user_attr("stopped", fitted.stopped)
        return fitted.stopper.best_value

    return objective


def run_study(plan: StudyPlan, worker: int = 0, progress: Progress | None = None) -> int:
    """Optimise until the study has ``plan.trials`` finished trials (or the timeout); returns that count."""
    quiet_optuna()
    prepared = load_prepared(plan.dataset_path)
    data = without_test(encode(prepared))
    study = open_study(plan, prepared.manifest["content_hash"], create=False)
    # A resumed study (or a parallel worker) draws a fresh stream of proposals, not trial 0's again.
    offset = len(study.get_trials(deepcopy=False)) + 100_003 * worker
    study.sampler = optuna.samplers.TPESampler(seed=plan.seed + offset)
    remaining = plan.trials - counted(study)
    if remaining <= 0:
        return counted(study)
    space = dict(METHODS.get(plan.method).search_space)

    def done(study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
        if progress:
            progress("trial", {"trial": trial, "finished": counted(study), "total": plan.trials})

    where = shown_storage(plan.storage)
    try:
        study.optimize(
            _objective(plan, prepared, data, space),
            n_trials=remaining,
            timeout=plan.timeout,
            catch=(ColdbenchError,),
            callbacks=[optuna.study.MaxTrialsCallback(plan.trials, states=COUNTED), done],
        )
    except TrialWriteFailed as error:
        raise ColdbenchError(
            f"{error}; the study stopped, its {counted(study)} finished trials are kept in {where}; "
            "make room (or make it writable), then the same command resumes the study"
        ) from None
    except optuna.exceptions.StorageInternalError as error:
        raise ColdbenchError(
            f"--storage {where}: cannot write the study "
            f"({_driver_message(error.__cause__ or error, plan.storage)}); finished trials are kept"
        ) from None
    return counted(study)


def _worker(plan: StudyPlan, index: int, threads: int) -> int:
    torch.set_num_threads(threads)
    return run_study(plan, worker=index, progress=echo_trial)


def echo_trial(kind: str, info: dict) -> None:
    """Plain progress line of a finished trial (worker processes print their own)."""
    print(trial_line(info), flush=True)


def trial_line(info: dict) -> str:
    trial = info["trial"]
    state = trial.state.name.lower()
    if trial.user_attrs.get("stopped") == "budget reached":
        state = "stopped (the study has its trials)"
    value = f" value {trial.value:.5g}" if trial.value is not None else ""
    epochs = trial.user_attrs.get("epochs_run") or (trial.last_step if trial.last_step is not None else "?")
    return f"trial {trial.number}: {state}{value} after {epochs} epochs ({info['finished']}/{info['total']})"


def tune(
    method: str,
    prepared: PreparedDataset,
    *,
    trials: int,
    timeout: float | None = None,
    workers: int = 1,
    storage: str | None = None,
    seed: int = 0,
    overrides: dict[str, Any] | None = None,
    origins: dict[str, str] | None = None,
    pruner: str = "median",
    device: str = "cpu",
    results_dir: Path = Path("results"),
    progress: Progress | None = None,
    executor: str = "local",
    threads: int | None = None,
    address: str | None = None,
) -> optuna.Study:
    """Run (or resume) the study of ``method`` on ``prepared`` until it has ``trials`` finished trials.

    Every option is checked before a trial starts. ``workers`` > 1 runs that many processes against
    the shared storage (each with cores/workers threads and its own sampler seed); with
    ``executor="ray"`` they are Ray tasks on the cluster at ``address`` (or a local Ray), which
    need a storage every node reaches (``--storage``; the default SQLite file for a local Ray).
    """
    for option, value, low in (("--trials", trials, 1), ("--workers", workers, 1), ("--seed", seed, 0)):
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise ColdbenchError(f"option {option} {value}: must be a whole number ≥ {low}")
    if timeout is not None and not timeout > 0:
        raise ColdbenchError(f"option --timeout {timeout}: must be > 0 seconds")
    make_pruner(pruner)
    if address and executor == "ray" and storage is None:
        raise ColdbenchError(
            "--address: workers on other nodes cannot share the default SQLite file; give --storage "
            "with a database every node reaches (e.g. postgresql://…)"
        )
    check_executor(executor, workers, address)
    overrides = dict(overrides or {})
    check_fixed(method, overrides, origins)
    check_dataset_name(prepared)
    missing = [split for split in ("train", "valid") if split not in set(prepared.users["split"])]
    if missing:
        raise ColdbenchError(
            f"dataset {prepared.name!r} has no {missing[0]} users; prepare it with other --split"
        )
    folder = tune_dir(results_dir, prepared.name, method)
    folder.mkdir(parents=True, exist_ok=True)
    plan = StudyPlan(
        method=method,
        dataset_path=str(Path(prepared.path).resolve()),
        storage=storage or default_storage(results_dir, prepared.name, method),
        name=study_name(prepared.name, method),
        fixed=_jsonable(overrides),
        seed=seed,
        pruner=pruner,
        trials=trials,
        timeout=timeout,
        device=device,
        trials_dir=str((folder / "trials").resolve()),
    )
    check_storage_writable(plan.storage)
    try:
        open_study(plan, prepared.manifest["content_hash"], create=True)
    except optuna.exceptions.StorageInternalError as error:
        raise ColdbenchError(
            f"--storage {shown_storage(plan.storage)}: cannot write the study "
            f"({_driver_message(error.__cause__ or error, plan.storage)})"
        ) from None
    if executor == "ray":
        threads = threads or (1 if address else threads_per_worker(workers))
        with ray_session(workers * threads, address) as ray:
            task = ray.remote(num_cpus=threads)(_worker)
            ray.get([task.remote(plan, index, threads) for index in range(workers)])
    elif workers == 1:
        if threads:
            torch.set_num_threads(threads)
        run_study(plan, progress=progress)
    else:
        threads = threads_per_worker(workers, threads)
        with worker_pool(workers) as pool:
            futures = [pool.submit(_worker, plan, index, threads) for index in range(workers)]
            try:
                for future in futures:
                    future.result()
            except BrokenProcessPool:
                raise ColdbenchError(
                    f"a tune worker of {method} died (killed, or out of memory); finished trials are "
                    f"kept in {shown_storage(plan.storage)}, and the same command resumes the study"
                ) from None
    return optuna.load_study(study_name=plan.name, storage=_storage(plan.storage))


def load_tuned_study(
    method: str, prepared: PreparedDataset, storage: str | None, results_dir: Path
) -> tuple[optuna.Study, str]:
    """The study of ``method`` on ``prepared``, checked against the data; and its storage URL."""
    url = storage or default_storage(results_dir, prepared.name, method)
    name = study_name(prepared.name, method)
    if storage is None and not (tune_dir(results_dir, prepared.name, method) / "study.db").is_file():
        raise ColdbenchError(
            f"no study of {method} on {prepared.name} in {tune_dir(results_dir, prepared.name, method)}; "
            f"run `coldbench tune {method} --dataset {prepared.name} --trials N` first (or give --storage)"
        )
    quiet_optuna()
    try:
        study = optuna.load_study(study_name=name, storage=_storage(url))
    except KeyError:
        raise ColdbenchError(f"--storage {shown_storage(url)}: holds no study {name!r}") from None
    if study.user_attrs.get("method") != method or "dataset_hash" not in study.user_attrs:
        raise ColdbenchError(
            f"study {name!r} in {shown_storage(url)} was not made by `coldbench tune {method}`; "
            "use another --storage"
        )
    if study.user_attrs.get("dataset_hash") != prepared.manifest["content_hash"]:
        raise ColdbenchError(
            f"study {name!r} was tuned on other data than the prepared {prepared.name!r} now holds; "
            "tune again"
        )
    check_study_readable(study, url)
    optuna.storages.fail_stale_trials(study)
    return study, url


def first_finished(study: optuna.Study, budget: int) -> list[optuna.trial.FrozenTrial]:
    """The study's first ``budget`` finished trials (complete or pruned), in the order they
    finished: what a study of exactly that budget would have held."""
    done = study.get_trials(deepcopy=False, states=COUNTED)
    if len(done) < budget:
        raise ColdbenchError(
            f"--budget {budget}: study {study.study_name!r} has {len(done)} finished trials; tune it to "
            f"{budget} first (`coldbench tune … --trials {budget}`)"
        )
    return sorted(done, key=lambda t: (t.datetime_complete or t.datetime_start, t.number))[:budget]


def tuned_settings(
    method: str,
    prepared: PreparedDataset,
    overrides: dict[str, Any],
    storage: str | None,
    results_dir: Path,
    budget: int | None = None,
) -> tuple[dict[str, Any], dict]:
    """Settings of ``train --tuned``: the study's fixed settings, its best trial's, then ``overrides``.

    ``budget``: the best of the study's first ``budget`` finished trials only, so that studies that
    ran past a common budget (a second worker's last trial) are compared at that budget.
    Returns the settings and the provenance recorded in ``config.json`` (study, storage, trial,
    the tuning budget).
    """
    if budget is not None and (isinstance(budget, bool) or not isinstance(budget, int) or budget < 1):
        raise ColdbenchError(f"option --budget {budget}: must be a whole number ≥ 1")
    study, url = load_tuned_study(method, prepared, storage, results_dir)
    pool = study.get_trials(deepcopy=False) if budget is None else first_finished(study, budget)
    complete = [t for t in pool if t.state == optuna.trial.TrialState.COMPLETE]
    if not complete:
        raise ColdbenchError(f"study {study.study_name!r} has no finished trial yet; tune longer")
    best = min(complete, key=lambda t: (t.value, t.number))  # Optuna's best_trial, within the budget
    clash = sorted(set(overrides) & set(best.params))
    if clash:
        raise ColdbenchError(
            f"--set {clash[0]}: chosen by the study (trial {best.number}); leave it out or train "
            "without --tuned"
        )
    check_in_space(method, best.params, f"study {study.study_name!r}, trial {best.number}")
    fixed = dict(study.user_attrs.get("fixed", {}))
    provenance = {
        "study": study.study_name,
        "storage": portable_storage(shown_storage(url), results_dir),
        "trial": best.number,
        "valid_value": best.value,
        "trials": counted(study) if budget is None else budget,
        **({} if budget is None else {"trials_in_study": counted(study)}),
        "sampler": study.user_attrs.get("sampler", SAMPLER),
        "pruner": study.user_attrs.get("pruner", "median"),
        "settings": dict(best.params),
    }
    return {**fixed, **best.params, **overrides}, provenance


def _duration(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds < 60 else f"{seconds / 60:.1f} min"


def time_line(trials: list[optuna.trial.FrozenTrial]) -> str | None:
    """What the finished (complete or pruned) trials cost: summed durations, first start to last end.

    The span is the wall time of an uninterrupted study; it also counts any pause between resumes.
    Failed trials are left out: one interrupted by a stop ends only when a resume marks it failed.
    """
    ended = [t for t in trials if t.state in COUNTED and t.datetime_start and t.datetime_complete]
    if not ended:
        return None
    summed = sum((t.datetime_complete - t.datetime_start).total_seconds() for t in ended)
    span = (max(t.datetime_complete for t in ended) - min(t.datetime_start for t in ended)).total_seconds()
    return (
        f"time: {_duration(summed)} of training in {len(ended)} finished trial{'s' * (len(ended) != 1)}; "
        f"{_duration(span)} from the first start to the last end"
    )


def summary(study: optuna.Study) -> list[str]:
    """Lines for ``tune --show``: counts, the best trial, and parameter importances when computable."""
    states: dict[str, int] = {}
    for trial in study.get_trials(deepcopy=False):
        states[trial.state.name.lower()] = states.get(trial.state.name.lower(), 0) + 1
    lines = [
        f"study {study.study_name!r}: "
        + (", ".join(f"{n} {s}" for s, n in sorted(states.items())) or "no trials")
        + f" · sampler {study.user_attrs.get('sampler', SAMPLER)}, pruner {study.user_attrs.get('pruner')}"
    ]
    timing = time_line(study.get_trials(deepcopy=False))
    if timing:
        lines.append(timing)
    complete = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
    if not complete:
        return lines + ["no finished trial yet"]
    best = study.best_trial
    settings = ", ".join(
        f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in best.params.items()
    )
    epoch = best.user_attrs.get("best_epoch", "?")
    lines.append(f"best trial {best.number}: validation {best.value:.5g} (epoch {epoch}) · {settings}")
    if len(complete) < 2:
        return lines + ["importances: need at least 2 finished trials"]
    try:
        importances = optuna.importance.get_param_importances(study)
    except (RuntimeError, ValueError, ZeroDivisionError) as error:
        return lines + [f"importances: not computable yet ({error})"]
    lines.append("importances: " + ", ".join(f"{k} {v:.2f}" for k, v in importances.items()))
    return lines
