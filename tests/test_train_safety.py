"""What a run folder survives: --force swaps, kills, leftovers, damage, a second process."""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass

import pandas as pd
import pytest

from coldbench.config import apply_overrides, setting
from coldbench.data.prepare import prepare
from coldbench.data.prepared import load_prepared
from coldbench.errors import ColdbenchError
from coldbench.report.runs import load_runs
from coldbench.testing import TINY_SYNTHETIC
from coldbench.training.run_files import RESULT_FILES
from coldbench.training.run_folder import old_path, recover_swap, staging_path, swap_in
from coldbench.training.trainer import train

SMALL = {"hidden": "8,4", "embedding_dim": "4", "batch_size": "64"}


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    data_dir = tmp_path_factory.mktemp("safety-data")
    prepare("synthetic", options=TINY_SYNTHETIC, data_dir=data_dir)
    return load_prepared("synthetic", data_dir)


def _train(dataset, results, epochs=2, seed=0, **kwargs):
    overrides = {**SMALL, "epochs": str(epochs)}
    return train("melu", dataset, [seed], overrides, device="cpu", results_dir=results, **kwargs)[0]


class Kill(Exception):
    pass


def _kill_at(event: str, epoch: int | None = None):
    def progress(kind, info):
        if kind == event and (epoch is None or info.get("epoch") == epoch):
            raise Kill

    return progress


def _files(folder):
    return {p.name: p.read_bytes() for p in folder.iterdir() if p.is_file()}


# ------------------------------------------------------------------ --force


@pytest.mark.parametrize("event,epoch", [("batch", 0), ("epoch", 1), ("test", None)])
def test_force_keeps_the_old_run_until_the_new_one_finishes(dataset, tmp_path, event, epoch):
    first = _train(dataset, tmp_path)
    kept = _files(first.path)
    with pytest.raises(Kill):
        _train(dataset, tmp_path, force=True, progress=_kill_at(event, epoch))
    assert _files(first.path) == kept  # killed mid-rerun: the finished run is intact
    assert _train(dataset, tmp_path).skipped  # and still counts as finished
    events = []
    again = _train(dataset, tmp_path, force=True, progress=lambda k, i: events.append(k))
    assert not again.skipped and again.metrics["test"] == first.metrics["test"]
    assert ("resume" in events) == (event != "batch")  # the rerun's own progress is kept
    assert not staging_path(first.path).exists() and not old_path(first.path).exists()
    assert len(load_runs(tmp_path)) == 1


def test_force_repairs_a_corrupt_run(dataset, tmp_path):
    first = _train(dataset, tmp_path, epochs=1)
    (first.path / "checkpoint.pt").write_bytes(b"")
    with pytest.raises(ColdbenchError, match="corrupt run.*checkpoint.pt.*--force"):
        _train(dataset, tmp_path, epochs=1)
    again = _train(dataset, tmp_path, epochs=1, force=True)
    assert again.metrics["test"] == first.metrics["test"]
    assert _train(dataset, tmp_path, epochs=1).skipped


def test_damaged_force_staging_is_started_again(dataset, tmp_path):
    first = _train(dataset, tmp_path, epochs=2)
    with pytest.raises(Kill):
        _train(dataset, tmp_path, epochs=2, force=True, progress=_kill_at("epoch", 1))
    (staging_path(first.path) / "last.pt").write_bytes(b"garbage")
    again = _train(dataset, tmp_path, epochs=2, force=True)
    assert again.metrics["test"] == first.metrics["test"]


@pytest.mark.parametrize("staging_finished", [True, False])
def test_a_kill_inside_the_swap_is_recovered(tmp_path, staging_finished):
    out = tmp_path / "seed-0"
    staging = staging_path(out)
    for folder, text in ((out, "old"), (staging, "new")):
        folder.mkdir()
        (folder / "metrics.json").write_text(text)
    if not staging_finished:
        (staging / "metrics.json").unlink()
    os.replace(out, old_path(out))  # the swap's first rename happened, then a kill
    recover_swap(out)
    expected = "new" if staging_finished else "old"
    assert (out / "metrics.json").read_text() == expected and not old_path(out).exists()
    if staging_finished:
        assert not staging.exists()
    else:
        swap_in(staging, out)
        assert not (out / "metrics.json").exists() and not old_path(out).exists()


# ------------------------------------------------------------------ resume repairs


@pytest.mark.parametrize("damage", ["truncate", "delete", "garbage"])
def test_epochs_csv_is_rebuilt_on_resume(dataset, tmp_path, damage):
    whole = _train(dataset, tmp_path / "whole", epochs=3)
    with pytest.raises(Kill):
        _train(dataset, tmp_path / "cut", epochs=3, progress=_kill_at("epoch", 2))
    run = next((tmp_path / "cut").rglob("seed-0"))
    csv = run / "epochs.csv"
    if damage == "truncate":
        csv.write_bytes(csv.read_bytes()[:20])
    elif damage == "delete":
        csv.unlink()
    else:
        csv.write_bytes(b"\x00\x01")
    _train(dataset, tmp_path / "cut", epochs=3)
    cut = pd.read_csv(run / "epochs.csv").drop(columns="seconds")
    full = pd.read_csv(whole.path / "epochs.csv").drop(columns="seconds")
    pd.testing.assert_frame_equal(cut, full)


def test_temporary_files_left_by_a_kill_are_removed(dataset, tmp_path):
    with pytest.raises(Kill):
        _train(dataset, tmp_path, progress=_kill_at("epoch", 1))
    run = next(tmp_path.rglob("seed-0"))
    leftovers = [run / ".last.pt.abc123.tmp", run / ".epochs.csv.x.tmp"]
    for path in leftovers:
        path.write_bytes(b"half")
    (run / ".predictions.parquet.q.tmp").mkdir()
    _train(dataset, tmp_path)
    assert not list(run.glob(".*.tmp"))


def test_result_files_carry_checksums(dataset, tmp_path):
    result = _train(dataset, tmp_path, epochs=1)
    recorded = json.loads((result.path / "metrics.json").read_text())["files"]
    assert set(recorded) == set(RESULT_FILES)
    assert all(len(entry["sha256"]) == 64 and entry["bytes"] > 0 for entry in recorded.values())


def test_a_hand_edited_metrics_json_is_a_corrupt_run(dataset, tmp_path):
    """metrics.json's own sha256 is kept beside it: an edited number, or a removed checksum, is caught."""
    from coldbench.training.run_files import METRICS_CHECKSUM, CorruptRun, read_finished

    result = _train(dataset, tmp_path, epochs=1)
    metrics = result.path / "metrics.json"
    assert read_finished(result.path)["test"]["overall"]["mse"] > 0
    original = metrics.read_text()
    edited = json.loads(original)
    edited["test"]["overall"]["mse"] = -3.0
    metrics.write_text(json.dumps(edited, indent=2, sort_keys=True) + "\n")
    with pytest.raises(CorruptRun, match="does not match metrics.sha256"):
        read_finished(result.path)
    warnings: list[str] = []
    assert len(load_runs(tmp_path, warn=warnings.append)) == 0 and "edited by hand" in warnings[0]
    metrics.write_text(original)
    (result.path / METRICS_CHECKSUM).unlink()
    with pytest.raises(CorruptRun, match="metrics.sha256 is missing"):
        read_finished(result.path)


def test_non_finite_test_predictions_fail_the_run_instead_of_finishing_it(
    dataset, tmp_path, monkeypatch, cli
):
    """A diverged model (NaN predictions for some users) gets no metrics.json and a clear error."""
    import numpy as np

    import coldbench.training.trainer as trainer

    real = trainer.evaluate_test

    def diverged(*args, **kwargs):
        predictions, per_user = real(*args, **kwargs)
        first = predictions["user_id"] == predictions["user_id"].iloc[0]
        predictions.loc[first, "prediction"] = np.nan
        return predictions, per_user

    monkeypatch.setattr(trainer, "evaluate_test", diverged)
    with pytest.raises(
        ColdbenchError, match=r"stopped: divergence: \d+ test predictions of 1 of \d+ test users"
    ):
        _train(dataset, tmp_path, epochs=1)
    assert not list(tmp_path.rglob("metrics.json"))


def test_a_run_with_non_finite_test_metrics_does_not_count_as_finished(dataset, tmp_path):
    from coldbench.training.run_files import CorruptRun, read_finished, write_metrics

    result = _train(dataset, tmp_path, epochs=1)
    metrics = json.loads((result.path / "metrics.json").read_text())
    metrics["test"]["overall"]["mse"] = float("nan")
    write_metrics(result.path, metrics)  # even with a matching checksum
    with pytest.raises(CorruptRun, match="not finite"):
        read_finished(result.path)


# ------------------------------------------------------------------ reports skip corrupt runs


@pytest.mark.parametrize("file", ["per_user.parquet", "metrics.json", "checkpoint.pt", "config.json"])
def test_report_leaves_out_a_corrupt_run_with_a_warning(dataset, tmp_path, file):
    good = _train(dataset, tmp_path, epochs=1, seed=0)
    bad = _train(dataset, tmp_path, epochs=1, seed=1)
    path = bad.path / file
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    warnings: list[str] = []
    runs = load_runs(tmp_path, warn=warnings.append)
    assert list(runs.table["path"]) == [str(good.path)]
    assert len(warnings) == 1 and str(bad.path) in warnings[0] and "--force" in warnings[0]
    assert len(runs.per_user()) > 0


def test_report_cli_warns_and_still_reports(dataset, tmp_path, cli):
    _train(dataset, tmp_path, epochs=1, seed=0)
    bad = _train(dataset, tmp_path, epochs=1, seed=1)
    (bad.path / "per_user.parquet").write_bytes(b"PAR1")
    code, out, err = cli("report", "--results-dir", str(tmp_path), "--table", "main", "--format", "csv")
    assert code == 0, err
    assert "warning" in err and str(bad.path) in err and "Traceback" not in err


# ------------------------------------------------------------------ two processes


def test_second_process_on_the_same_run_stops_at_once(dataset, tmp_path):
    """A real second process: it fails naming the run and our pid, and leaves our run alone."""
    import subprocess
    import sys

    with pytest.raises(Kill):
        _train(dataset, tmp_path, progress=_kill_at("epoch", 1))
    run = next(tmp_path.rglob("seed-0"))
    from coldbench.training.run_folder import run_lock

    script = (
        "import sys; from coldbench.cli import main; sys.argv = ['coldbench', 'train', 'melu', "
        f"'--dataset', {str(dataset.path)!r}, '--results-dir', {str(tmp_path)!r}, '--device', 'cpu', "
        "'--epochs', '2', '--set', 'hidden=8,4', '--set', 'embedding_dim=4', "
        "'--set', 'batch_size=64']; main()"
    )
    before = _files(run)
    with run_lock(run):
        done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert f"pid {os.getpid()}" in done.stderr and str(run) in done.stderr.replace("\n", "")
    assert _files(run) == before
    assert _train(dataset, tmp_path).metrics  # the lock is free again


# ------------------------------------------------------------------ setting ranges


@dataclass
class _Base:
    rate: float = setting(0.1, above=0, max=1)
    mode: str = setting("a", choices=("a", "b"))


@dataclass
class _Child(_Base):
    rate: float = 0.5  # restates the default only: the base's range still holds
    plain: int = 3  # declares nothing: only the type is checked
    sizes: tuple[int, ...] = setting((2,), min=2)


@pytest.mark.parametrize(
    "overrides,message",
    [
        ({"rate": "0"}, "rate must be > 0"),
        ({"rate": "1.5"}, "rate must be ≤ 1"),
        ({"rate": "nan"}, "finite"),
        ({"rate": True}, "expected a number"),
        ({"mode": "c"}, "mode must be one of a, b"),
        ({"mode": 3}, "expected text"),
        ({"plain": "x"}, "expected an integer"),
        ({"plain": False}, "expected an integer"),
        ({"sizes": "2,1"}, "sizes entries must all be ≥ 2"),
    ],
)
def test_declared_ranges_are_checked(overrides, message):
    with pytest.raises(ColdbenchError, match=message):
        apply_overrides(_Child(), overrides)


def test_undeclared_fields_accept_any_value_of_their_type():
    config, rest = apply_overrides(_Child(), {"plain": "-7", "rate": 1, "sizes": [2, 3], "other": "x"})
    assert (config.plain, config.rate, config.sizes, rest) == (-7, 1.0, (2, 3), {"other": "x"})


@pytest.mark.parametrize("key", ["dataset", "method", "config_id"])
def test_a_run_whose_config_names_a_path_is_left_out_and_nothing_is_written_outside(
    dataset, tmp_path, cli, key
):
    """config.json is read as typed input: a dataset, method or config id with ../ is no name."""
    from coldbench.training.run_files import record_files, write_metrics

    good = _train(dataset, tmp_path / "results", epochs=1, seed=0)
    bad = _train(dataset, tmp_path / "results", epochs=1, seed=1)
    config = json.loads((bad.path / "config.json").read_text())
    config[key] = "../../escaped"
    (bad.path / "config.json").write_text(json.dumps(config))
    metrics = json.loads((bad.path / "metrics.json").read_text())  # re-sealed: only the name is wrong
    metrics["files"] = record_files(bad.path)
    write_metrics(bad.path, metrics)
    warnings: list[str] = []
    runs = load_runs(tmp_path / "results", warn=warnings.append)
    assert list(runs.table["path"]) == [str(good.path)] and "not a plain name" in warnings[0]
    out = tmp_path / "paper" / "deep" / "main.md"
    code, _, err = cli(
        "report", "--results-dir", str(tmp_path / "results"), "--table", "main", "--out", str(out)
    )
    assert code == 0, err
    assert out.is_file()
    assert not (tmp_path / "escaped").exists() and not (tmp_path / "paper" / "escaped").exists()


def test_a_run_worse_than_the_constant_floor_says_so_with_the_cause_and_the_fix(dataset, tmp_path):
    """metrics.json records what the constant floor scores on the same test users (checked against a
    trained constant run); a run above it gets a warning naming the budget, the rates and the fix."""
    from coldbench.cli.train import convergence_warnings
    from coldbench.training.trainer import RunResult

    melu = _train(dataset, tmp_path, epochs=1)
    constant = train("constant", dataset, [0], {}, device="cpu", results_dir=tmp_path)[0]
    assert melu.metrics["constant_mse"] == pytest.approx(
        constant.metrics["test"]["overall"]["mse"], rel=1e-6
    )  # float32 model
    worse = {**melu.metrics, "test": {"overall": {"mse": melu.metrics["constant_mse"] + 1}}, "epochs_run": 3}
    lines = convergence_warnings([RunResult(seed=0, path=melu.path, metrics=worse, skipped=False)])
    assert len(lines) == 1 and "worse than the constant floor's" in lines[0] and "(3 epochs)" in lines[0]
    assert "--epochs" in lines[0] and "outer_lr" in lines[0]
    better = {**worse, "test": {"overall": {"mse": melu.metrics["constant_mse"] - 0.01}}}
    assert not convergence_warnings([RunResult(seed=0, path=melu.path, metrics=better, skipped=False)])


def test_a_closed_form_floor_is_never_worse_than_the_constant_floor(dataset, tmp_path, cli):
    """The constant floor scores the constant floor's MSE (to float noise): no warning, in train or sweep."""
    from coldbench.cli.sweep import job_line
    from coldbench.cli.train import convergence_warnings
    from coldbench.studies.sweep import Job, JobResult
    from coldbench.training.trainer import RunResult

    constant = train("constant", dataset, [0], {}, device="cpu", results_dir=tmp_path)[0]
    worse = {**constant.metrics, "test": {"overall": {"mse": constant.metrics["constant_mse"] + 1e-9}}}
    result = RunResult(seed=0, path=constant.path, metrics=worse, skipped=False)
    assert not convergence_warnings([result], meta_trained=False)
    assert convergence_warnings([result])  # a trained method so close to it is still told
    for method, warned in (("constant", False), ("bias", False), ("melu", True)):
        job = Job(method=method, dataset="synthetic", dataset_path=str(dataset.path), seed=0, label=method)
        line = job_line({"result": JobResult(job, str(constant.path), worse), "done": 1, "total": 1})
        assert ("worse than the constant floor" in line) == warned, line
    common = ["--dataset", str(dataset.path), "--device", "cpu", "--results-dir", str(tmp_path / "cli")]
    code, out, err = cli("train", "constant", *common)
    assert code == 0 and "worse than the constant floor" not in out + err, out


def test_divergence_advice_names_rates_that_would_change():
    from coldbench.methods import METHODS
    from coldbench.training.trainer import smaller_rates

    melu = METHODS.get("melu").Config(inner_lr=1e8)
    assert smaller_rates(melu, outer=False) == "--set inner_lr=1e+07"  # no outer step taken yet
    assert smaller_rates(melu) == "--set inner_lr=1e+07 or --set outer_lr=5e-06"
    paml = METHODS.get("paml").Config()
    assert smaller_rates(paml) == "--set max_lr=0.0001 or --set outer_lr=5e-07"  # PAML's outer_lr: 5e-6
    tanp = METHODS.get("tanp").Config()
    assert smaller_rates(tanp, outer=False) == "--set outer_lr=1e-05"  # no inner rate: the outer one


def test_the_train_table_fits_80_columns_and_cuts_no_number(tmp_path, cli, monkeypatch):
    """Two seeds trained, then shown again as earlier runs, on an 80-column console: every metric
    is printed whole (it was cut to "8.19…"), and the stop reason and earlier runs are explained."""
    import io

    from rich.console import Console

    import coldbench.cli.train as train_cli
    from coldbench.data.prepare import prepare
    from coldbench.data.protocol import ProtocolConfig
    from coldbench.testing import TINY_SYNTHETIC

    data = prepare("synthetic", config=ProtocolConfig(), options=TINY_SYNTHETIC, data_dir=tmp_path / "data")
    common = ["--dataset", str(data.path), "--results-dir", str(tmp_path / "r"), "--device", "cpu"]
    code, _, err = cli("train", "melu", "--epochs", "1", "--seeds", "2", *common)
    assert code == 0, err
    narrow = io.StringIO()
    monkeypatch.setattr(train_cli, "console", Console(file=narrow, width=80))
    code, _, err = cli("train", "melu", "--epochs", "1", "--seeds", "2", *common)
    assert code == 0, err
    text = narrow.getvalue()
    table = text[text.index("test users, epoch selected") : text.index("epoch: selected / run")]
    assert "…" not in table and max(len(line) for line in table.splitlines()) <= 80
    numbers = re.findall(r"\d+\.\d{4}", table)
    assert len(numbers) == 2 * 6  # two seeds × six metrics, each whole
    assert "stopped: maximum (seeds 0, 1); * an earlier run (skipped)" in " ".join(text.split())
