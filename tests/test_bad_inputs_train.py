"""Bad input to ``coldbench train``: one line on stderr, a non-zero exit, and results untouched.

Every case runs against a copy of a results folder holding one finished run and one interrupted
run of the same settings; the folder's files are hashed before and after.
"""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import pytest
import torch

from coldbench.data.prepare import prepare
from coldbench.data.prepared import load_prepared
from coldbench.testing import TINY_SYNTHETIC
from coldbench.training.trainer import train

TINY = {"hidden": "8,4", "embedding_dim": "4", "batch_size": "64"}
TINY_ARGS = [x for key, value in TINY.items() for x in ("--set", f"{key}={value}")]


class _Stop(Exception):
    pass


def _stop_after_first_epoch(kind: str, info: dict) -> None:
    if kind == "epoch":
        raise _Stop


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> dict[str, Path]:
    """Prepared data, and results with seed 0 finished (1 epoch) and seed 1 interrupted (of 2)."""
    root = tmp_path_factory.mktemp("bad-inputs")
    data_dir = root / "data"
    prepare("synthetic", options=TINY_SYNTHETIC, data_dir=data_dir)
    dataset = load_prepared("synthetic", data_dir)
    results = root / "results"
    train("melu", dataset, [0], {**TINY, "epochs": "1"}, device="cpu", results_dir=results)
    with pytest.raises(_Stop):
        train(
            "melu",
            dataset,
            [1],
            {**TINY, "epochs": "2"},
            device="cpu",
            results_dir=results,
            progress=_stop_after_first_epoch,
        )
    return {"data": data_dir, "results": results}


@pytest.fixture
def results(world, tmp_path) -> Path:
    copy = tmp_path / "results"
    shutil.copytree(world["results"], copy)
    return copy


def snapshot(folder: Path) -> dict[str, str]:
    """Every file and folder under ``folder`` (hidden ones too) with a hash of its bytes."""
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else "dir"
        for p in sorted(folder.rglob("*"))
    }


def finished_run(results: Path, epochs: int = 1) -> Path:
    runs = [p.parent for p in results.rglob("metrics.json") if "seed-0" in str(p)]
    assert len(runs) == 1
    return runs[0]


def interrupted_run(results: Path) -> Path:
    return next(p.parent for p in results.rglob("last.pt"))


def assert_one_line_error(code: int, out: str, err: str, *needles: str) -> None:
    assert code == 1, (code, out, err)
    assert "Traceback" not in out + err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:"), err
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])
    assert "meta-batches" not in out, "no progress bar may be drawn before the error"


def run_train(
    cli, world, results, *args: str, epochs: str | None = "1", tiny: bool = True
) -> tuple[int, str, str]:
    """``coldbench train melu`` on the tiny data; ``tiny=False`` leaves the settings to ``args``."""
    epochs_args = ["--epochs", epochs] if epochs is not None and tiny else []
    return cli(
        "train",
        "melu",
        "--dataset",
        "synthetic",
        "--data-dir",
        str(world["data"]),
        "--results-dir",
        str(results),
        "--device",
        "cpu",
        *epochs_args,
        *(TINY_ARGS if tiny else []),
        *args,
    )


# ------------------------------------------------------------------ settings, with --force

BAD_SETTINGS = [
    ("eval_batch_size=0", "eval_batch_size must be ≥ 1"),
    ("eval_batch_size=-5", "eval_batch_size must be ≥ 1"),
    ("buckets=0", "buckets must be ≥ 1"),
    ("buckets=-2", "buckets must be ≥ 1"),
    ("hidden=0", "hidden entries must all be ≥ 1"),
    ("hidden=8,0", "hidden entries must all be ≥ 1"),
    ("hidden=8,-4", "hidden entries must all be ≥ 1"),
    ("hidden=", "hidden needs at least one entry"),
    ("hidden=a,b", "expected a list of integers"),
    ("hidden=8.5", "expected a list of integers"),
    ("embedding_dim=0", "embedding_dim must be ≥ 1"),
    ("embedding_dim=four", "expected an integer"),
    ("batch_size=0", "batch_size must be ≥ 1"),
    ("inner_steps=-1", "inner_steps must be ≥ 0"),
    ("epochs=two", "expected an integer"),
    ("epochs=2.5", "expected an integer"),
    ("outer_lr=-1", "outer_lr must be > 0"),
    ("outer_lr=0", "outer_lr must be > 0"),
    ("outer_lr=nan", "outer_lr must be a finite number"),
    ("outer_lr=inf", "outer_lr must be a finite number"),
    ("outer_lr=-inf", "outer_lr must be a finite number"),
    ("outer_lr=fast", "expected a number"),
    ("inner_lr=nan", "inner_lr must be a finite number"),
    ("outer_lr=1e300", "outer_lr must lie within ±3.4e+38"),
    ("inner_lr=-1e39", "inner_lr must lie within ±3.4e+38"),
    ("first_order=maybe", "expected true or false"),
    ("implicit_step=2", "expected true or false"),
    ("no_such_key=1", "unknown setting"),
    ("gamma=0.1", "unknown setting"),
    ("oops", "key=value"),
    ("=5", "key=value"),
]


@pytest.mark.parametrize("pair,message", BAD_SETTINGS, ids=[p for p, _ in BAD_SETTINGS])
def test_bad_setting_touches_nothing_even_with_force(cli, world, results, pair, message):
    before = snapshot(results)
    epochs = None if pair.startswith("epochs") else "1"
    code, out, err = run_train(cli, world, results, "--force", "--set", pair, epochs=epochs)
    assert_one_line_error(code, out, err, message)
    if "=" in pair.strip("="):
        assert f"--set {pair}" in err or "unknown setting" in err
    assert snapshot(results) == before


# ------------------------------------------------------------------ command-line options

BAD_OPTIONS = [
    (["--seed", "-1"], "--seed -1"),
    (["--seeds", "0"], "--seeds 0"),
    (["--seeds", "-3"], "--seeds -3"),
    (["--seeds", "2", "--seed", "1"], "either --seeds"),
    (["--seeds", "5000000000"], "--seeds 5000000000: must be 1 to 1,000"),
    (["--seed", "4294967296"], "--seed 4294967296: must be 0 to 4,294,967,295"),
    (["--seed", "99999999999999999999999"], "--seed"),
    (["--device", "tpu"], "--device"),
    (["--dataset", "not-prepared"], "not prepared"),
    (["--data-dir", "/nonexistent/coldbench"], "not prepared"),
]


@pytest.mark.parametrize("args,message", BAD_OPTIONS, ids=[" ".join(a) for a, _ in BAD_OPTIONS])
def test_bad_option_touches_nothing(cli, world, results, args, message):
    before = snapshot(results)
    code, out, err = run_train(cli, world, results, "--force", *args)
    assert_one_line_error(code, out, err, message)
    assert snapshot(results) == before
    assert not any("seed--" in p for p in before) and not list(results.rglob("seed--*"))


@pytest.mark.parametrize("epochs", ["0", "-1"])
def test_bad_epochs_option(cli, world, results, epochs):
    before = snapshot(results)
    code, out, err = run_train(cli, world, results, "--force", epochs=epochs)
    assert_one_line_error(code, out, err, f"--epochs {epochs}", "epochs must be ≥ 1")
    assert snapshot(results) == before


@pytest.mark.parametrize("args", [["--force", "true"], ["--force=true"], ["--force", "1"]])
def test_plain_flag_takes_no_value(cli, world, results, args):
    before = snapshot(results)
    code, out, err = run_train(cli, world, results, *args)
    assert code == 2 and "Traceback" not in out + err
    assert snapshot(results) == before


def test_help_shows_no_bool_metavar_for_force(cli):
    code, out, _ = cli("train", "--help")
    assert code == 0
    line = next(line for line in out.splitlines() if "--force" in line)
    assert "<bool>" not in line and "--no-force" not in line


# ------------------------------------------------------------------ --config files

BAD_TOML = {
    "bool-for-int": ("epochs = true\n", "epochs = true: expected an integer"),
    "int-for-bool": ("first_order = 1\n", "first_order = 1: expected true or false"),
    "float-for-int": ("epochs = 1.5\n", "expected an integer"),
    "zero-hidden": ("hidden = 0\n", "hidden entries must all be ≥ 1"),
    "zero-in-hidden": ("hidden = [8, 0]\n", "hidden entries must all be ≥ 1"),
    "bool-in-hidden": ("hidden = [8, true]\n", "expected a list of integers"),
    "empty-hidden": ("hidden = []\n", "hidden needs at least one entry"),
    "nan-lr": ("outer_lr = nan\n", "outer_lr must be a finite number"),
    "negative-lr": ("[method]\nouter_lr = -1.0\n", "outer_lr must be > 0"),
    "zero-eval-batch": ("[train]\neval_batch_size = 0\n", "eval_batch_size must be ≥ 1"),
    "negative-buckets": ("buckets = -2\n", "buckets must be ≥ 1"),
    "text-for-int": ('embedding_dim = "four"\n', "expected an integer"),
    "table-for-int": ("[train.epochs]\nx = 1\n", "expected an integer"),
    "conflict": ("[train]\nepochs = 2\n[method]\nepochs = 3\n", "epochs is set twice"),
    "syntax": ("epochs = \n", "--config"),
    "unknown-key": ("learning_rate = 0.1\n", "unknown setting"),
}


@pytest.mark.parametrize("name", sorted(BAD_TOML))
def test_bad_config_file_touches_nothing(cli, world, results, tmp_path, name):
    text, message = BAD_TOML[name]
    config = tmp_path / "run.toml"
    config.write_text(text)
    before = snapshot(results)
    code, out, err = run_train(cli, world, results, "--force", "--config", str(config), tiny=False)
    assert_one_line_error(code, out, err, message)
    if "unknown" not in message:
        assert str(config) in err
    assert snapshot(results) == before


@pytest.mark.parametrize("kind", ["binary", "folder", "missing", "latin-1"])
def test_unreadable_config_file(cli, world, results, tmp_path, kind):
    path = tmp_path / "settings.toml"
    if kind == "binary":
        path.write_bytes(bytes(range(256)) * 4)
    elif kind == "folder":
        path.mkdir()
    elif kind == "latin-1":
        path.write_bytes("epochs = 2 # caf\xe9\n".encode("latin-1"))
    before = snapshot(results)
    code, out, err = run_train(cli, world, results, "--force", "--config", str(path))
    assert_one_line_error(code, out, err, f"--config {path}")
    assert snapshot(results) == before


# ------------------------------------------------------------------ damaged files in the results


def _truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: max(path.stat().st_size // 2, 1) - 1])


def _empty(path: Path) -> None:
    path.write_bytes(b"")


def _garbage(path: Path) -> None:
    path.write_bytes(b"\x00not a checkpoint\xff" * 10)


def _wrong_object(path: Path) -> None:
    torch.save([1, 2, 3], path)


def _wrong_log(path: Path) -> None:
    state = torch.load(path, weights_only=False)
    torch.save({**state, "log": "cut"}, path)


DAMAGED_LAST = {
    "empty": ("last.pt", _empty),
    "truncated": ("last.pt", _truncate),
    "garbage": ("last.pt", _garbage),
    "not-a-dict": ("last.pt", _wrong_object),
    "damaged-log": ("last.pt", _wrong_log),
    "best-empty": ("best.pt", _empty),
    "best-truncated": ("best.pt", _truncate),
    "best-missing": ("best.pt", lambda p: p.unlink()),
}


@pytest.mark.parametrize("name", sorted(DAMAGED_LAST))
def test_damaged_checkpoint_of_an_unfinished_run(cli, world, results, name):
    file, damage = DAMAGED_LAST[name]
    damage(interrupted_run(results) / file)
    before = snapshot(results)
    code, out, err = run_train(cli, world, results, "--seed", "1", epochs="2")
    assert_one_line_error(code, out, err, file, "--force")
    assert snapshot(results) == before


DAMAGED_FINISHED = {
    "checkpoint-truncated": ("checkpoint.pt", _truncate),
    "checkpoint-empty": ("checkpoint.pt", _empty),
    "per-user-truncated": ("per_user.parquet", _truncate),
    "predictions-missing": ("predictions.parquet", lambda p: p.unlink()),
    "epochs-truncated": ("epochs.csv", _truncate),
    "config-garbage": ("config.json", _garbage),
    "metrics-truncated": ("metrics.json", _truncate),
    "metrics-empty": ("metrics.json", _empty),
    "metrics-not-an-object": ("metrics.json", lambda p: p.write_text("[1, 2]\n")),
}


@pytest.mark.parametrize("name", sorted(DAMAGED_FINISHED))
def test_corrupt_finished_run_is_named_not_reused(cli, world, results, name):
    file, damage = DAMAGED_FINISHED[name]
    run = finished_run(results)
    damage(run / file)
    before = snapshot(results)
    code, out, err = run_train(cli, world, results, "--seed", "0")
    assert_one_line_error(code, out, err, str(run), "corrupt", "--force")
    assert snapshot(results) == before


# ------------------------------------------------------------------ the results folder itself


def test_results_dir_that_is_a_file(cli, world, tmp_path):
    target = tmp_path / "results.txt"
    target.write_text("keep me\n")
    code, out, err = run_train(cli, world, target)
    assert_one_line_error(code, out, err, str(target), "nothing written before was lost")
    assert target.read_text() == "keep me\n"


@pytest.mark.skipif(hasattr(__import__("os"), "geteuid") and __import__("os").geteuid() == 0, reason="root")
def test_read_only_results_dir(cli, world, results):
    before = snapshot(results)
    for path in [results, *results.rglob("*")]:
        if path.is_dir():
            path.chmod(0o555)
    try:
        code, out, err = run_train(cli, world, results, "--seed", "3")
    finally:
        for path in [results, *results.rglob("*")]:
            if path.is_dir():
                path.chmod(0o755)
    assert_one_line_error(code, out, err, "Permission denied", "nothing written before was lost")
    assert snapshot(results) == before


def test_run_held_by_another_process(cli, world, results):
    import fcntl
    import os

    from coldbench.training.run_folder import lock_path

    run = finished_run(results)
    before = snapshot(results)
    with open(lock_path(run), "r+") as holder:
        fcntl.flock(holder, fcntl.LOCK_EX | fcntl.LOCK_NB)
        code, out, err = run_train(cli, world, results, "--seed", "0", "--force")
    assert_one_line_error(code, out, err, str(run), f"pid {os.getpid()}", "another coldbench process")
    assert snapshot(results) == before


def _full_disk(path, *args, **kwargs):
    import errno

    raise OSError(errno.ENOSPC, "No space left on device", str(path))


@pytest.mark.parametrize("where", ["write_json", "_save"])
def test_full_disk_keeps_what_was_written(cli, world, results, monkeypatch, where):
    import coldbench.training.trainer as trainer

    run = interrupted_run(results)
    before = snapshot(results)
    monkeypatch.setattr(trainer, where, _full_disk)
    code, out, err = run_train(cli, world, results, "--seed", "1", epochs="2")
    assert "No space left on device" in err and str(run) in err
    assert code == 1 and "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert snapshot(results) == before
    monkeypatch.undo()
    code, _, err = run_train(cli, world, results, "--seed", "1", epochs="2")  # resumes afterwards
    assert code == 0, err
    assert (run / "metrics.json").exists() and not (run / "last.pt").exists()


@pytest.mark.parametrize("name", ["../escape", "a/b", "", ".hidden", "x y"])
def test_dataset_name_that_cannot_be_a_folder(cli, world, results, tmp_path, name):
    import json

    copy = tmp_path / "renamed"
    shutil.copytree(world["data"] / "prepared" / "synthetic", copy)
    manifest = json.loads((copy / "manifest.json").read_text())
    (copy / "manifest.json").write_text(json.dumps({**manifest, "name": name}))
    before = snapshot(results)
    code, out, err = run_train(cli, world, results, "--dataset", str(copy))
    assert_one_line_error(code, out, err, "manifest.json", "cannot name a results folder")
    assert out == ""
    assert snapshot(results) == before and not (results.parent / "escape").exists()


def test_a_real_full_file_system_is_one_line_and_the_run_resumes_once_there_is_room(
    cli, world, tmp_path, tmpfs
):
    """Not a faked OSError: a 256 KiB tmpfs."""
    import subprocess

    disk = tmpfs(tmp_path / "small", "256k")
    results = disk / "results"
    code, out, err = run_train(cli, world, results, "--seed", "0", "--epochs", "2", tiny=False)
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == 1 and "Traceback" not in out + err and len(lines) == 1, err
    assert lines[0].startswith("error: cannot write") and "no space left on the device" in lines[0]
    assert not list(results.rglob("metrics.json")) and not list(results.rglob(".*.tmp"))
    subprocess.run(["mount", "-o", "remount,size=64m", str(disk)], check=True)
    code, _, err = run_train(cli, world, results, "--seed", "0", "--epochs", "2", tiny=False)
    assert code == 0, err
    assert len(list(results.rglob("metrics.json"))) == 1


# ------------------------------------------------------------------ an OSError naming a path, at main()


def test_report_out_under_a_regular_file_is_one_line(cli, world, results, tmp_path):
    afile = tmp_path / "afile"
    afile.write_text("not a folder")
    before = snapshot(results)
    common = ["--results-dir", str(results), "--dataset", "synthetic"]
    code, out, err = cli("report", "--figure", "boxplot", *common, "--out", str(afile / "figs"))
    assert_one_line_error(code, out, err, f"error: cannot write {afile / 'figs'}: Not a directory")
    assert snapshot(results) == before and afile.read_text() == "not a folder"


def test_report_out_and_export_on_a_read_only_file_system_are_one_line(cli, world, results, tmp_path, tmpfs):
    """A read-only tmpfs."""
    disk = tmpfs(tmp_path / "ro", "64k", read_only=True)
    common = ["--results-dir", str(results)]
    for args, path in (
        (["--figure", "boxplot", "--dataset", "synthetic", "--out", str(disk / "figs")], disk / "figs"),
        (["--export", str(disk / "exp")], disk / "exp"),
    ):
        code, out, err = cli("report", *args, *common)
        assert_one_line_error(code, out, err, f"error: cannot write {path}: Read-only file system")


def test_an_oserror_naming_no_path_is_not_hidden(cli, monkeypatch):
    """A bug keeps its traceback: only an OSError that names its file is bad input."""
    import coldbench.cli

    def broken() -> None:
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(coldbench.cli, "app", broken)
    with pytest.raises(OSError, match="Input/output error"):
        cli("datasets")

    def unreadable() -> None:
        raise FileNotFoundError(2, "No such file or directory", "/nowhere/runs.jsonl")

    monkeypatch.setattr(coldbench.cli, "app", unreadable)
    code, out, err = cli("datasets")
    assert_one_line_error(code, out, err, "error: cannot read /nowhere/runs.jsonl: No such file or directory")


def test_a_divergence_before_any_outer_step_names_the_inner_rate(cli, world, results):
    """An inner rate that diverges the first meta-batch: lowering outer_lr could not help."""
    code, _, err = run_train(cli, world, results, "--seed", "2", "--set", "inner_lr=1e8")
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == 1 and len(lines) == 1 and "Traceback" not in err, err  # the bars had started: stdout
    assert "before any outer step" in err and "(--set inner_lr=1e+07)" in err and "outer_lr" not in err
