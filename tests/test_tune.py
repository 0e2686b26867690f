"""`coldbench tune`: studies on validation users only, resume, --show, `train --tuned`."""

from __future__ import annotations

import importlib.util
import json
import logging
import shutil
import time
import warnings
from pathlib import Path

import optuna
import pytest

import coldbench.studies.tune as tune_module
import coldbench.training.trainer as trainer
from coldbench.data.prepare import prepare
from coldbench.data.prepared import load_prepared
from coldbench.errors import ColdbenchError
from coldbench.paths import default_storage
from coldbench.report.runs import load_runs
from coldbench.report.tables import main_table
from coldbench.studies.tune import tune
from coldbench.testing import TINY_SYNTHETIC

SMALL = {"hidden": "8,4", "embedding_dim": "4", "batch_size": "64", "epochs": "2"}


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    data_dir = tmp_path_factory.mktemp("tune-data")
    prepare("synthetic", options=TINY_SYNTHETIC, data_dir=data_dir)
    return load_prepared("synthetic", data_dir)


@pytest.fixture
def no_test_users(monkeypatch):
    """Evaluating test users fails the test."""
    real = trainer.evaluate_split

    def guarded(model, method, data, split, *args, **kwargs):
        if split == "test" or "test" in data.splits:
            raise AssertionError("a trial read test users")
        return real(model, method, data, split, *args, **kwargs)

    monkeypatch.setattr(trainer, "evaluate_split", guarded)


def _tune(dataset, results, trials=2, **kwargs):
    return tune("melu", dataset, trials=trials, overrides=SMALL, device="cpu", results_dir=results, **kwargs)


def _values(study):
    return [(t.state.name, t.value, t.params) for t in study.trials]


def test_tuning_reads_no_test_users_and_leaves_no_runs(dataset, tmp_path, no_test_users):
    study = _tune(dataset, tmp_path)
    assert [t.state for t in study.trials] == [optuna.trial.TrialState.COMPLETE] * 2
    assert {"outer_lr", "inner_lr"} == set(study.best_trial.params)
    assert 1 <= study.best_trial.user_attrs["best_epoch"] <= 2
    tune_folder = tmp_path / "synthetic" / "melu" / "tune"
    assert (tune_folder / "study.db").is_file()
    assert not list(tmp_path.rglob("metrics.json")) and not list(tmp_path.rglob("*.pt"))
    assert not list((tune_folder / "trials").iterdir())


def test_same_seed_same_study(dataset, tmp_path):
    first = _tune(dataset, tmp_path / "a", seed=3)
    second = _tune(dataset, tmp_path / "b", seed=3)
    assert _values(first) == _values(second)
    other = _tune(dataset, tmp_path / "c", seed=4)
    assert _values(other) != _values(first)


def test_interrupted_study_resumes_and_counts_finished_trials(dataset, tmp_path, monkeypatch):
    _tune(dataset, tmp_path, trials=1)
    real = tune_module.fit

    def interrupted(folder, *args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(tune_module, "fit", interrupted)
    with pytest.raises(KeyboardInterrupt):
        _tune(dataset, tmp_path, trials=3)
    assert not list((tmp_path / "synthetic" / "melu" / "tune" / "trials").iterdir())
    monkeypatch.setattr(tune_module, "fit", real)
    study = _tune(dataset, tmp_path, trials=3)
    states = [t.state.name for t in study.trials]
    assert states == ["COMPLETE", "FAIL", "COMPLETE", "COMPLETE"]
    assert len({json.dumps(t.params, sort_keys=True) for t in study.trials}) == 4  # no proposal repeated
    again = _tune(dataset, tmp_path, trials=3)  # already has 3: nothing runs
    assert len(again.trials) == 4


def test_tune_then_train_tuned_records_the_study_and_labels_the_run(dataset, tmp_path, cli):
    common = ["--dataset", str(dataset.path), "--device", "cpu", "--results-dir", str(tmp_path)]
    settings = [x for key, value in SMALL.items() for x in ("--set", f"{key}={value}")]
    code, out, err = cli("tune", "melu", "--trials", "2", *common, *settings)
    assert code == 0, err
    assert "trial 1: complete" in out and "best trial" in out and "importances" in out
    code, out, err = cli("train", "melu", "--tuned", *common, "--seeds", "2")
    assert code == 0, err
    assert "best trial" in out
    config = json.loads(next(tmp_path.rglob("seed-0/config.json")).read_text())
    study = optuna.load_study(
        study_name="synthetic/melu", storage=default_storage(tmp_path, "synthetic", "melu")
    )
    best = study.best_trial
    assert config["tuned"]["study"] == "synthetic/melu" and config["tuned"]["trial"] == best.number
    assert config["tuned"]["storage"] == "<results-dir>/synthetic/melu/tune/study.db"  # no machine path
    assert config["tuned"]["trials"] == 2
    assert config["params"]["outer_lr"] == best.params["outer_lr"] and config["train"]["hidden"] == [8, 4]
    runs = load_runs(tmp_path)
    tuned_label = (
        "melu [tuned] (batch_size=64, embedding_dim=4, epochs=2, hidden=[8, 4])"  # the study's fixed
    )
    assert set(runs.table["variant"]) == {tuned_label} and len(runs) == 2
    caption = " ".join(main_table(runs, "synthetic").caption)
    assert "2 trials, median pruner" in caption

    code, out, err = cli("train", "melu", *common, *settings)  # the same settings untuned: another run
    assert code == 0, err
    labels = set(load_runs(tmp_path).table["variant"])
    assert labels == {tuned_label, "melu (batch_size=64, embedding_dim=4, epochs=2, hidden=[8, 4])"}


def test_show_handles_a_study_with_one_trial(dataset, tmp_path, cli):
    _tune(dataset, tmp_path, trials=1)
    code, out, err = cli(
        "tune", "melu", "--show", "--dataset", str(dataset.path), "--results-dir", str(tmp_path)
    )
    assert code == 0, err
    assert "1 complete" in out and "best trial 0" in out and "need at least 2" in out
    assert "in 1 finished trial" in out


def _stale_trial(dataset, results):
    """A running trial whose process was killed: its last heartbeat is older than the grace period."""
    storage = tune_module._storage(default_storage(results, dataset.name, "melu"))
    study = optuna.load_study(study_name=tune_module.study_name(dataset.name, "melu"), storage=storage)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # Optuna: heartbeats are meant for optimize()
        trial = study.ask()
    storage.record_heartbeat(trial._trial_id)
    time.sleep(1.2)  # grace period 0.8 s; SQLite keeps whole seconds, so the gap reads ≥ 1 s


def test_a_killed_tunes_trials_are_failed_by_show_and_by_a_full_study(dataset, tmp_path, cli, monkeypatch):
    monkeypatch.setattr(tune_module, "HEARTBEAT_S", 0.4)
    _tune(dataset, tmp_path, trials=1)
    _stale_trial(dataset, tmp_path)
    code, out, err = cli(
        "tune", "melu", "--show", "--dataset", str(dataset.path), "--results-dir", str(tmp_path)
    )
    assert code == 0, err
    assert "1 complete, 1 fail ·" in out
    _stale_trial(dataset, tmp_path)
    study = _tune(dataset, tmp_path, trials=1)  # already full: runs nothing, yet sees the dead trial
    assert [t.state.name for t in study.trials] == ["COMPLETE", "FAIL", "FAIL"]


@pytest.mark.parametrize(
    "args,message",
    [
        (["constant", "--trials", "1"], "declares no search space"),
        (["melu", "--trials", "1", "--set", "outer_lr=1e-3"], "--set outer_lr: the study searches it"),
        (["melu", "--trials", "0"], "--trials 0"),
        (["melu", "--trials", "1", "--pruner", "nosuch"], "--pruner 'nosuch'"),
        (["melu", "--trials", "1", "--set", "nosuch=1"], "nosuch"),
        (["melu"], "give --trials N"),
        (["melu", "--show"], "no study of melu"),
    ],
)
def test_bad_tune_input_is_one_line(dataset, tmp_path, cli, args, message):
    code, out, err = cli("tune", *args, "--dataset", str(dataset.path), "--results-dir", str(tmp_path))
    assert code == 1 and message in err and len(err.strip().splitlines()) == 1, err
    assert not (tmp_path / "synthetic" / "melu" / "tune" / "study.db").exists()


def test_study_refuses_other_settings_and_train_checks_its_options(dataset, tmp_path, cli):
    _tune(dataset, tmp_path, trials=1)
    with pytest.raises(ColdbenchError, match="was made with fixed="):
        tune(
            "melu", dataset, trials=2, overrides={**SMALL, "hidden": "4"}, device="cpu", results_dir=tmp_path
        )
    common = ["--dataset", str(dataset.path), "--results-dir", str(tmp_path), "--device", "cpu"]
    code, _, err = cli("train", "melu", "--tuned", "--preset", "paper", *common)
    assert code == 1 and "either --tuned or --preset" in err
    code, _, err = cli("train", "melu", "--tuned", "--set", "inner_lr=1e-3", *common)
    assert code == 1 and "chosen by the study" in err
    code, _, err = cli("train", "paml", "--tuned", *common)
    assert code == 1 and "no study of paml" in err


def test_a_trial_stops_when_other_workers_fill_the_budget(dataset, tmp_path):
    """A trial still training once the study holds its --trials stops after an epoch, failed, quietly."""
    _tune(dataset, tmp_path, trials=1)
    plan = tune_module.StudyPlan(
        method="melu",
        dataset_path=str(dataset.path),
        storage=default_storage(tmp_path, dataset.name, "melu"),
        name=tune_module.study_name(dataset.name, "melu"),
        fixed=tune_module._jsonable(SMALL),
        seed=0,
        pruner="median",
        trials=1,  # already filled, as if by another worker
        timeout=None,
        device="cpu",
        trials_dir=str(tmp_path / "trials"),
    )
    study = tune_module.open_study(plan, dataset.manifest["content_hash"], create=False)
    data = tune_module.without_test(tune_module.encode(dataset))
    objective = tune_module._objective(
        plan, dataset, data, dict(tune_module.METHODS.get("melu").search_space)
    )
    logged: list[logging.LogRecord] = []
    handler = logging.Handler()
    handler.emit = logged.append
    logging.getLogger("optuna").addHandler(handler)  # what Optuna's own handler would print
    try:
        study.optimize(objective, n_trials=1, catch=(ColdbenchError,))
    finally:
        logging.getLogger("optuna").removeHandler(handler)
    stopped = study.trials[-1]
    assert stopped.state.name == "FAIL" and stopped.user_attrs["stopped"] == "budget reached"
    assert stopped.intermediate_values == {}  # stopped at its first epoch's report, before reporting it
    line = tune_module.trial_line({"trial": stopped, "finished": 1, "total": 1})
    assert line.startswith(f"trial {stopped.number}: stopped (the study has its trials) after 1 epochs")
    assert tune_module.counted(study) == 1
    assert not [r for r in logged if r.levelno >= logging.WARNING]  # no failure, no traceback


def test_a_dead_worker_is_one_line_saying_how_to_resume(dataset, tmp_path, monkeypatch):
    from concurrent.futures import Future
    from concurrent.futures.process import BrokenProcessPool

    class DeadPool:  # a pool whose worker was killed (kill -9, out of memory)
        def __init__(self, *args, **kwargs):
            pass

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

        def submit(self, *args, **kwargs):
            future = Future()
            future.set_exception(BrokenProcessPool("a process in the pool was terminated abruptly"))
            return future

    monkeypatch.setattr(tune_module, "worker_pool", lambda workers: DeadPool())
    with pytest.raises(ColdbenchError, match="a tune worker of melu died .* the same command resumes"):
        _tune(dataset, tmp_path, trials=2, workers=2)


def test_parallel_workers_share_the_study(dataset, tmp_path):
    study = _tune(dataset, tmp_path, trials=2, workers=2)
    finished = [t for t in study.trials if t.state.name in ("COMPLETE", "PRUNED")]
    assert 2 <= len(finished) <= 3  # each worker stops once the study holds 2 (one may overshoot)
    assert not list(tmp_path.rglob("metrics.json"))


def test_ray_workers_share_the_study(dataset, tmp_path):
    pytest.importorskip("ray")
    study = _tune(dataset, tmp_path, trials=2, workers=2, executor="ray")
    finished = [t for t in study.trials if t.state.name in ("COMPLETE", "PRUNED")]
    assert 2 <= len(finished) <= 3  # each Ray task stops once the study holds 2 (one may overshoot)
    assert {t.user_attrs.get("epochs_run") for t in finished} <= {1, 2}
    assert not list(tmp_path.rglob("metrics.json"))


def test_address_without_ray_is_refused_before_a_trial(dataset, tmp_path):
    with pytest.raises(ColdbenchError, match="--address: only with --executor ray"):
        _tune(dataset, tmp_path, address="127.0.0.1:6379")
    with pytest.raises(ColdbenchError, match="give --storage"):  # a cluster needs a shared database
        _tune(dataset, tmp_path, executor="ray", address="127.0.0.1:6379")
    assert not list(tmp_path.rglob("study.db"))


def test_reproduce_tuned_gives_every_method_the_same_budget(dataset, tmp_path, monkeypatch):
    """`reproduce --tuned`: one study per method with a search space, same trials and pruner,
    then one tuned run per method (no γ or reading variants: the studies search those)."""
    import coldbench.studies.reproduce as reproduce_module
    from coldbench.methods import METHODS
    from coldbench.report.tables import METHOD_ORDER

    calls = []
    monkeypatch.setattr(
        tune_module, "tune", lambda method, prepared, **kwargs: calls.append((method, kwargs))
    )
    assert [m for m, _ in reproduce_module.plan({}, tuned=True)] == [m for m in METHOD_ORDER if m in METHODS]
    reproduce_module.tune_all(
        [m for m, _ in reproduce_module.plan({}, tuned=True)],
        dataset,
        overrides=SMALL,
        origins={},
        trials=3,
        pruner="hyperband",
        device="cpu",
        results_dir=tmp_path,
        executor="local",
        workers=1,
        address=None,
        progress=lambda kind, info: None,
    )
    tuned = [method for method, _ in calls]
    assert tuned == [m for m in METHOD_ORDER if m in METHODS and METHODS.get(m).search_space]
    assert "bias" in tuned and "constant" not in tuned  # floors with settings are tuned too
    assert {(k["trials"], k["pruner"]) for _, k in calls} == {(3, "hyperband")}
    with pytest.raises(ColdbenchError, match="either --tuned or --preset"):
        reproduce_module.reproduce("synthetic", tmp_path, tuned=True, preset="paper")


def test_show_states_what_the_trials_cost():
    from datetime import datetime, timedelta

    from coldbench.studies.tune import time_line

    start = datetime(2026, 1, 1, 12, 0, 0)

    def trial(number, begin_s, seconds, state=optuna.trial.TrialState.COMPLETE):
        begun = start + timedelta(seconds=begin_s)
        return optuna.trial.FrozenTrial(
            number=number,
            state=state,
            value=1.0 if state == optuna.trial.TrialState.COMPLETE else None,
            datetime_start=begun,
            datetime_complete=None if seconds is None else begun + timedelta(seconds=seconds),
            params={},
            distributions={},
            user_attrs={},
            system_attrs={},
            intermediate_values={},
            trial_id=number,
        )

    # two workers: 0–600 s and 60–300 s, then 300–480 s; a running trial has no end, and a failed
    # one (marked so by a resume long after it stopped) has no trustworthy end: both are left out
    trials = [trial(0, 0, 600), trial(1, 60, 240), trial(2, 300, 180, optuna.trial.TrialState.PRUNED)]
    running = trial(3, 480, None, optuna.trial.TrialState.RUNNING)
    failed = trial(4, 500, 9000, optuna.trial.TrialState.FAIL)
    assert time_line([*trials, running, failed]) == (
        "time: 17.0 min of training in 3 finished trials; 10.0 min from the first start to the last end"
    )
    assert (
        time_line([trials[1]])
        == "time: 4.0 min of training in 1 finished trial; 4.0 min from the first start to the last end"
    )
    assert (
        time_line([trial(5, 0, 12)])
        == "time: 12 s of training in 1 finished trial; 12 s from the first start to the last end"
    )
    assert time_line([running, failed]) is None


def test_no_optuna_log_line_leaks_into_tunes_output(dataset, tmp_path):
    import subprocess
    import sys

    code = "import sys; from coldbench.cli import main; sys.argv = ['coldbench', *sys.argv[1:]]; main()"
    args = ["tune", "bias", "--trials", "1", "--dataset", str(dataset.path), "--results-dir", str(tmp_path)]
    done = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    assert "trial 0: complete" in done.stdout
    assert "A new study created" not in done.stdout + done.stderr and "[I " not in done.stderr


@pytest.mark.parametrize(
    ("url", "secrets"),
    [
        ("postgresql://user:p@ss:word@host/db", ["p@ss:word"]),
        ("postgresql://user:simple@host:5432/db", ["simple"]),
        ("postgresql://host/db?user=u&password=hunter2&sslmode=require", ["hunter2"]),
        ("mysql://u:pa%40ss@host/db?sslpassword=x1y2z3&api_key=k3y", ["pa%40ss", "pa@ss", "x1y2z3", "k3y"]),
        ("sqlite:///results/d/melu/tune/study.db", []),
    ],
)
def test_every_credential_form_in_a_storage_url_is_hidden(url, secrets):
    from coldbench.studies.tune import redact, shown_storage

    shown = shown_storage(url)
    assert not any(secret in shown for secret in secrets), shown
    assert shown.count("***") == len({s for s in secrets if "%" not in s}) or not secrets
    message = f"connection to {url} failed: password {secrets[0] if secrets else ''} rejected"
    assert not any(secret in redact(message, url) for secret in secrets)
    if not secrets:
        assert shown == url


def test_a_storage_error_message_hides_the_password(tmp_path):
    from coldbench.errors import ColdbenchError
    from coldbench.studies.tune import _storage

    with pytest.raises(ColdbenchError) as caught:
        _storage("postgresql://user:p@ss:word@127.0.0.1:9/db?password=hunter2")
    assert (
        "p@ss" not in str(caught.value)
        and "hunter2" not in str(caught.value)
        and "word@" not in str(caught.value)
    )


def _foreign_study(url: str, name: str, outer_lr: float) -> None:
    """A study of coldbench's name made with Optuna directly: no marks, a value outside the space."""
    study = optuna.create_study(study_name=name, storage=url, direction="minimize")
    study.add_trial(
        optuna.trial.create_trial(
            params={"outer_lr": outer_lr, "inner_lr": 1e-3},
            distributions={
                "outer_lr": optuna.distributions.FloatDistribution(1e-9, 10.0, log=True),
                "inner_lr": optuna.distributions.FloatDistribution(1e-9, 10.0, log=True),
            },
            value=0.5,
        )
    )


def test_a_study_made_outside_coldbench_is_refused_by_tune_and_by_train_tuned(dataset, tmp_path, cli):
    url = f"sqlite:///{tmp_path / 'foreign.db'}"
    _foreign_study(url, "synthetic/melu", outer_lr=5.0)
    with pytest.raises(ColdbenchError, match="was not made by `coldbench tune`"):
        _tune(dataset, tmp_path, storage=url)
    common = ["--dataset", str(dataset.path), "--device", "cpu", "--results-dir", str(tmp_path)]
    code, _, err = cli("train", "melu", "--tuned", "--storage", url, *common)
    assert code != 0 and "was not made by `coldbench tune melu`" in err and "Traceback" not in err
    assert not list(tmp_path.rglob("metrics.json"))


def test_tuned_values_outside_the_search_space_are_refused(dataset, tmp_path):
    from coldbench.studies.tune import tuned_settings

    url = f"sqlite:///{tmp_path / 'marked.db'}"
    _foreign_study(url, "synthetic/melu", outer_lr=5.0)
    study = optuna.load_study(study_name="synthetic/melu", storage=url)
    study.set_user_attr("method", "melu")
    study.set_user_attr("dataset_hash", dataset.manifest["content_hash"])
    with pytest.raises(ColdbenchError, match=r"outer_lr=5.0 is outside melu's search space \[1e-06, 0.01\]"):
        tuned_settings("melu", dataset, {}, url, tmp_path)


@pytest.mark.parametrize("url", ["sqlite://", "sqlite:///:memory:"])
def test_an_in_memory_sqlite_study_is_refused_in_one_line(dataset, tmp_path, url):
    with pytest.raises(ColdbenchError, match="in-memory SQLite database is gone when this process ends"):
        _tune(dataset, tmp_path, storage=url)


def test_a_killed_trials_scratch_folder_is_removed_a_running_ones_kept(dataset, tmp_path):
    from coldbench.studies.tune import remove_dead_scratch

    _tune(dataset, tmp_path, trials=1)
    storage = tune_module._storage(default_storage(tmp_path, dataset.name, "melu"))
    study = optuna.load_study(study_name=tune_module.study_name(dataset.name, "melu"), storage=storage)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        running = study.ask()  # another worker's trial, still running
    scratch = tmp_path / "trials"
    dead, live = scratch / "trial-0-abc12345", scratch / f"trial-{running.number}-def67890"
    for folder in (dead, live):
        folder.mkdir(parents=True)
        (folder / "last.pt").write_bytes(b"partial")
    assert remove_dead_scratch(study, scratch) == [dead]
    assert not dead.exists() and (live / "last.pt").is_file()


@pytest.fixture(scope="module")
def bias_study(dataset, tmp_path_factory) -> Path:
    """A finished two-trial study of the closed-form ``bias`` floor (seconds to tune)."""
    results = tmp_path_factory.mktemp("bias-study")
    tune("bias", dataset, trials=2, device="cpu", results_dir=results)
    return results / "synthetic" / "bias" / "tune" / "study.db"


DAMAGE = {
    "no direction": ("DELETE FROM study_directions", "cannot be read"),
    "unknown state": ("UPDATE trials SET state='BOGUS'", "cannot be read"),
    "text value": ("UPDATE trial_values SET value='abc'", "has no finite value"),
    "text setting": ("UPDATE trial_params SET param_value='x'", "is not a number"),
    "setting row gone": (
        "DELETE FROM trial_params WHERE param_name='user_shrinkage'",
        "lacks user_shrinkage",
    ),
    "settings table gone": ("DROP TABLE trial_params", "lacks item_shrinkage"),
}


@pytest.mark.parametrize("name", sorted(DAMAGE))
def test_a_damaged_study_is_one_line_for_tune_show_and_train_tuned(dataset, bias_study, tmp_path, cli, name):
    import sqlite3

    edit, message = DAMAGE[name]
    copy = tmp_path / "study.db"
    shutil.copy(bias_study, copy)
    with sqlite3.connect(copy) as connection:
        connection.execute(edit)
    url = f"sqlite:///{copy}"
    common = ["--dataset", str(dataset.path), "--results-dir", str(tmp_path / "r"), "--storage", url]
    for args in (["tune", "bias", "--trials", "3"], ["tune", "bias", "--show"], ["train", "bias", "--tuned"]):
        code, _, err = cli(*args, *common, *(["--device", "cpu"] if args[0] == "train" else []))
        assert code == 1 and "Traceback" not in err and message in err, (args, err)
        assert len(err.strip().splitlines()) == 1
    assert not list((tmp_path / "r").rglob("metrics.json"))


def test_another_applications_sqlite_file_is_refused_and_left_as_it_was(dataset, tmp_path, cli):
    import sqlite3

    foreign = tmp_path / "app.db"
    with sqlite3.connect(foreign) as connection:
        connection.execute("CREATE TABLE notes (text)")
    before = foreign.read_bytes()
    common = ["--dataset", str(dataset.path), "--results-dir", str(tmp_path)]
    code, _, err = cli("tune", "bias", "--trials", "2", "--storage", f"sqlite:///{foreign}", *common)
    assert code == 1 and "another application's database (tables notes)" in err
    assert foreign.read_bytes() == before
    garbage = tmp_path / "garbage.db"
    garbage.write_bytes(bytes(range(256)) * 20)
    code, _, err = cli("tune", "bias", "--trials", "2", "--storage", f"sqlite:///{garbage}", *common)
    assert code == 1 and "cannot be read as SQLite" in err and "Traceback" not in err


def test_tune_on_a_read_only_file_system_is_one_line_and_train_tuned_still_reads_it(
    dataset, bias_study, tmp_path, cli, tmpfs
):
    disk = tmp_path / "ro"
    tmpfs(disk, "1m")
    shutil.copy(bias_study, disk / "study.db")
    import subprocess

    subprocess.run(["mount", "-o", "remount,ro", str(disk)], check=True)
    common = ["--dataset", str(dataset.path), "--results-dir", str(tmp_path / "r")]
    for db in ("study.db", "new.db"):
        code, _, err = cli("tune", "bias", "--trials", "3", "--storage", f"sqlite:///{disk / db}", *common)
        assert code == 1 and "not writable (read-only file system" in err and "Traceback" not in err
    code, _, err = cli("train", "bias", "--tuned", "--storage", f"sqlite:///{disk / 'study.db'}", *common)
    assert code == 0, err


def test_tune_on_a_full_file_system_is_one_line(dataset, tmp_path, cli, tmpfs):
    disk = tmp_path / "full"
    tmpfs(disk, "64k")
    common = ["--dataset", str(dataset.path), "--results-dir", str(disk)]
    code, _, err = cli("tune", "bias", "--trials", "2", *common)
    assert code == 1 and "database or disk is full" in err and "Traceback" not in err
    assert "[SQL:" not in err  # the driver's words, not the statement


def test_a_budget_takes_the_best_of_the_first_n_finished_trials(dataset, tmp_path, cli):
    from coldbench.studies.tune import tuned_settings

    study = tune("bias", dataset, trials=4, device="cpu", results_dir=tmp_path)
    finished = sorted(study.trials, key=lambda t: (t.datetime_complete, t.number))
    for budget in (1, 2, 4):
        want = min(finished[:budget], key=lambda t: (t.value, t.number))
        settings, provenance = tuned_settings("bias", dataset, {}, None, tmp_path, budget)
        assert provenance["trial"] == want.number and provenance["trials"] == budget
        assert provenance["trials_in_study"] == 4
        assert {k: settings[k] for k in want.params} == want.params
    _, whole = tuned_settings("bias", dataset, {}, None, tmp_path)
    assert whole["trial"] == study.best_trial.number and "trials_in_study" not in whole
    with pytest.raises(ColdbenchError, match="--budget 5: study 'synthetic/bias' has 4 finished trials"):
        tuned_settings("bias", dataset, {}, None, tmp_path, 5)
    common = ["--dataset", str(dataset.path), "--results-dir", str(tmp_path), "--device", "cpu"]
    code, _, err = cli("train", "bias", "--budget", "2", *common)
    assert code == 1 and "--budget: only with --tuned" in err
    code, _, err = cli("train", "bias", "--tuned", "--budget", "2", *common)
    assert code == 0, err
    record = json.loads(next(tmp_path.rglob("config.json")).read_text())
    assert record["tuned"]["trials"] == 2 and record["tuned"]["trials_in_study"] == 4


def _fill(disk: Path) -> None:
    """Fill the file system at ``disk`` to the last byte."""
    with open(disk / "filler", "wb") as filler:
        try:
            while True:
                filler.write(b"\0" * 65536)
                filler.flush()
        except OSError:
            pass


def test_a_trial_that_cannot_write_stops_tune_in_one_line_and_keeps_finished_trials(
    dataset, tmp_path, cli, tmpfs
):
    url = f"sqlite:///{tmp_path / 'study.db'}"
    common = ["--dataset", str(dataset.path), "--storage", url]
    code, _, err = cli("tune", "bias", "--trials", "1", *common, "--results-dir", str(tmp_path / "r"))
    assert code == 0, err
    disk = tmp_path / "full"
    tmpfs(disk, "1m")
    _fill(disk)
    code, out, err = cli("tune", "bias", "--trials", "2", *common, "--results-dir", str(disk / "r"))
    assert code == 1 and len(err.strip().splitlines()) == 1, err
    assert f"cannot write {disk}" in err and "no space left" in err and "1 finished trials are kept" in err
    assert "Traceback" not in err + out and "[W " not in err + out and "trial 1: fail" not in out
    study = optuna.load_study(study_name="synthetic/bias", storage=url)
    assert [t.state.name for t in study.trials] == ["COMPLETE", "FAIL"]


def test_interrupted_tune_says_how_to_resume(dataset, tmp_path, cli, monkeypatch):
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(tune_module, "fit", interrupted)
    code, _, err = cli(
        "tune", "bias", "--trials", "1", "--dataset", str(dataset.path), "--results-dir", str(tmp_path)
    )
    assert code == 130 and "Traceback" not in err and "[W " not in err
    assert err.strip() == (
        f"interrupted: the study keeps its finished trials in sqlite:///{tmp_path}/synthetic/bias/tune/"
        "study.db; the same command resumes it"
    )


def test_tune_prints_no_library_warning_and_names_a_missing_driver(dataset, tmp_path, cli):
    common = ["--dataset", str(dataset.path), "--results-dir", str(tmp_path)]
    url = f"sqlite:///{tmp_path / 'x.db'}?password=hunter2"
    code, _, err = cli("tune", "bias", "--trials", "1", "--storage", url, *common)
    assert code == 0 and "Warning" not in err and err.strip() == "", err
    code, _, err = cli(
        "tune", "bias", "--trials", "1", "--storage", "mysql+nosuchdriver://u:pw@h/db", *common
    )
    assert code == 1 and "Traceback" not in err, err
    if importlib.util.find_spec("MySQLdb") is not None:
        pytest.skip("mysqlclient is installed here")
    code, _, err = cli("tune", "bias", "--trials", "1", "--storage", "mysql://u:pw@h/db", *common)
    assert code == 1 and "the database driver for mysql URLs is not installed" in err, err
    assert "pip install mysqlclient" in err and "URL's form" not in err and "pw" not in err
