"""``coldbench rerun``: a committed study's runs trained again from their records."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pandas as pd
import pytest

from coldbench.errors import ColdbenchError
from coldbench.studies.rerun import spec_from_record
from coldbench.testing import tiny_dataset
from coldbench.training.trainer import make_spec


@pytest.fixture(scope="module")
def committed(tmp_path_factory) -> tuple[Path, Path]:
    """A tiny committed study (bias and a 2-epoch Meta-SGD, one seed) and its data home."""
    import sys

    from coldbench.cli import main

    root = tmp_path_factory.mktemp("rerun")
    home = root / "home"
    tiny_dataset(home)
    common = ["--dataset", "synthetic", "--data-dir", str(home), "--results-dir", str(root / "runs")]
    for args in (
        ["train", "bias", *common],
        ["train", "meta-sgd", "--epochs", "2", "--device", "cpu", *common],
        [
            "report",
            "--results-dir",
            str(root / "runs"),
            "--dataset",
            "synthetic",
            "--export",
            str(root / "study"),
        ],
    ):
        sys.argv = ["coldbench", *args]
        try:
            main()
        except SystemExit as done:
            assert not done.code, args
    return root / "study", home


def _records(study: Path) -> list[dict]:
    return [json.loads(line) for line in (study / "runs.jsonl").read_text().splitlines()]


def _edited(study: Path, tmp_path: Path, edit) -> Path:
    """A copy of the study's runs.jsonl with ``edit(record)`` applied to the Meta-SGD run."""
    out = tmp_path / "edited"
    out.mkdir()
    lines = []
    for record in _records(study):
        if record["config"]["method"] == "meta-sgd":
            edit(record)
        lines.append(json.dumps(record))
    (out / "runs.jsonl").write_text("\n".join(lines) + "\n")
    shutil.copy(study / "epochs.parquet", out)  # the study's epoch logs, unedited
    return out


def test_every_run_trains_again_to_its_recorded_means_with_per_user_scores(committed, cli, tmp_path):
    study, home = committed
    code, out, err = cli(
        "rerun",
        str(study),
        "--results-dir",
        str(tmp_path),
        "--data-dir",
        str(home),
        "--out",
        str(tmp_path / "c.csv"),
    )
    assert code == 0, err
    compared = pd.read_csv(tmp_path / "c.csv").set_index("run")
    recorded = {r["run"]: r["metrics"]["test"]["overall"]["mse"] for r in _records(study)}
    assert compared["mse_recorded"].to_dict() == pytest.approx(recorded, rel=1e-8)
    assert (compared["largest_difference"] <= 1e-6).all() and (compared["dataset"] == "synthetic").all()
    seconds = {
        run: json.loads((tmp_path / "synthetic" / run / "metrics.json").read_text())["train_seconds"]
        for run in compared.index
    }
    assert compared["train_seconds"].to_dict() == pytest.approx(seconds, rel=1e-8)
    runs = [record["run"] for record in _records(study)]
    for run in runs:
        assert f"{run}: same test means as recorded" in out
        per_user = pd.read_parquet(tmp_path / "synthetic" / run / "per_user.parquet")
        assert len(per_user) == _records(study)[runs.index(run)]["metrics"]["test"]["overall"]["n_users"]
    assert "2 of 2 runs give their recorded test means" in out and "--dataset synthetic --export" in out
    code, out, _ = cli("rerun", str(study), "--results-dir", str(tmp_path), "--data-dir", str(home))
    assert code == 0 and out.count("finished earlier, same test means") == 2


@pytest.mark.skipif((os.cpu_count() or 1) < 2, reason="two workers need two CPU cores")
def test_runs_trained_in_two_worker_processes_give_the_same_outcomes_in_the_study_order(
    committed, cli, tmp_path
):
    study, home = committed
    results = {}
    for workers in ("1", "2"):
        dest = tmp_path / workers
        code, out, err = cli(
            "rerun",
            str(study),
            "--workers",
            workers,
            "--threads",
            "1",
            "--results-dir",
            str(dest),
            "--data-dir",
            str(home),
            "--out",
            str(dest / "c.csv"),
        )
        assert code == 0, err
        assert "2 of 2 runs give their recorded test means" in out
        assert ("[1/2]" in out) == (workers == "1")  # a progress view only where the runs train here
        results[workers] = pd.read_csv(dest / "c.csv")
        for run in results[workers]["run"]:  # each trained in its own folder, with its per-user scores
            assert (dest / "synthetic" / run / "per_user.parquet").is_file()
    assert list(results["2"]["run"]) == [record["run"] for record in _records(study)]
    columns = ["run", "dataset", "largest_difference_at", "recorded", "rerun", "mse_recorded", "mse_rerun"]
    pd.testing.assert_frame_equal(results["2"][columns], results["1"][columns])


def test_more_workers_than_cores_is_one_line_before_anything_trains(committed, cli, tmp_path):
    study, home = committed
    workers = str((os.cpu_count() or 1) + 1)
    code, _, err = cli(
        "rerun",
        str(study),
        "--workers",
        workers,
        "--results-dir",
        str(tmp_path / "r"),
        "--data-dir",
        str(home),
    )
    assert code == 1 and f"option --workers {workers}" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "r").exists()


def test_a_recorded_mean_that_the_run_does_not_give_is_named(committed, cli, tmp_path):
    study, home = committed

    def edit(record: dict) -> None:
        record["metrics"]["test"]["minor"]["mse"] += 0.01

    edited = _edited(study, tmp_path, edit)
    code, out, err = cli(
        "rerun",
        str(edited),
        "--methods",
        "meta-sgd",
        "--results-dir",
        str(tmp_path / "r"),
        "--data-dir",
        str(home),
    )
    assert code == 0, err
    assert "meta-sgd/" in out and "differs, minor mse" in out and "0 of 1 runs give" in out


def test_an_out_file_that_cannot_be_written_stops_before_anything_trains(committed, cli, tmp_path):
    study, home = committed
    (tmp_path / "file").write_text("")
    code, _, err = cli(
        "rerun",
        str(study),
        "--results-dir",
        str(tmp_path / "r"),
        "--data-dir",
        str(home),
        "--out",
        str(tmp_path / "file" / "c.csv"),
    )
    assert code == 1 and "option --out" in err and not (tmp_path / "r").exists()


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda r: r["config"]["params"].update(outer_lr=0.5), "its recorded settings give config id"),
        (lambda r: r["config"].update(dataset_hash="0" * 64), "has content hash"),
    ],
)
def test_a_record_that_cannot_be_trained_again_stops_before_anything_trains(
    committed, cli, tmp_path, edit, message
):
    study, home = committed
    edited = _edited(study, tmp_path, edit)
    code, out, err = cli("rerun", str(edited), "--results-dir", str(tmp_path / "r"), "--data-dir", str(home))
    assert code == 1 and message in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "r").exists()


def test_a_folder_without_runs_jsonl_or_an_absent_method_is_one_line(committed, cli, tmp_path):
    study, home = committed
    code, _, err = cli("rerun", str(tmp_path), "--data-dir", str(home))
    assert code == 1 and "runs.jsonl: no such file" in err
    code, _, err = cli(
        "rerun", str(study), "--methods", "bias,paml", "--data-dir", str(home)
    )  # bias ran, paml not
    assert code == 1 and err.strip().endswith("has no run of paml") and len(err.strip().splitlines()) == 1


def test_a_tuned_record_keeps_its_study_and_trial_in_the_config_id(tmp_path):
    tuned = {"study": "d/meta-sgd", "trial": 3, "settings": {"outer_lr": 1e-4}}
    spec = make_spec("meta-sgd", {"outer_lr": 1e-4}, "cpu", tmp_path, tuned=tuned)
    untuned = make_spec("meta-sgd", {"outer_lr": 1e-4}, "cpu", tmp_path)
    assert spec.config_id != untuned.config_id
    record = {
        "run": "x",
        "config": {
            "method": "meta-sgd",
            "config_id": spec.config_id,
            "train": json.loads(json.dumps(vars(spec.train))),
            "params": json.loads(json.dumps(vars(spec.params))),
            "tuned": tuned,
        },
    }
    assert spec_from_record(record, tmp_path).config_id == spec.config_id
    record["config"]["tuned"] = {**tuned, "trial": 4}
    with pytest.raises(ColdbenchError, match="config id"):
        spec_from_record(record, tmp_path)


def test_a_record_from_before_a_setting_existed_keeps_what_the_run_did(tmp_path):
    """A paper-preset run trained before early stopping existed records no ``patience``: it ran
    without early stopping, which is ``patience=0`` now, and its config id says so."""
    from coldbench.config import as_dict

    spec = make_spec("meta-sgd", {"epochs": 20, "patience": 0, "min_delta": 0.0}, "cpu", tmp_path)
    train = {
        k: v for k, v in as_dict(spec.train).items() if k not in ("patience", "min_delta", "adapt", "item_id")
    }
    record = {
        "run": "x",
        "config": {
            "method": "meta-sgd",
            "config_id": spec.config_id,
            "train": train,
            "params": as_dict(spec.params),
        },
    }
    rebuilt = spec_from_record(record, tmp_path)
    assert rebuilt.config_id == spec.config_id and rebuilt.train.patience == 0
