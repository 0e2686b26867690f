"""Training runs end to end: results on disk, resume, skip, divergence, the CLI."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from coldbench.data.prepare import prepare
from coldbench.data.prepared import load_prepared
from coldbench.errors import ColdbenchError
from coldbench.methods import METHODS
from coldbench.testing import TINY_SYNTHETIC
from coldbench.training.trainer import train

SMALL = {"hidden": "16,8", "embedding_dim": "4", "batch_size": "16"}


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    data_dir = tmp_path_factory.mktemp("trainer-data")
    prepare("synthetic", options=TINY_SYNTHETIC, data_dir=data_dir)
    return load_prepared("synthetic", data_dir)


def _train(dataset, results, method="melu", epochs=2, **kwargs):
    overrides = {**SMALL, "epochs": str(epochs), **kwargs.pop("overrides", {})}
    return train(method, dataset, [0], overrides, device="cpu", results_dir=results, **kwargs)[0]


def test_run_writes_results_a_user_can_recompute(dataset, tmp_path):
    result = _train(dataset, tmp_path)
    files = {p.name for p in result.path.iterdir()}
    assert {
        "config.json",
        "epochs.csv",
        "metrics.json",
        "per_user.parquet",
        "predictions.parquet",
        "checkpoint.pt",
    } <= files
    assert "last.pt" not in files
    config = json.loads((result.path / "config.json").read_text())
    assert config["dataset_hash"] == dataset.manifest["content_hash"]
    assert config["train"]["hidden"] == [16, 8] and config["seed"] == 0 and "torch" in config["versions"]
    assert result.path.parts[-4:-1] == ("synthetic", "melu", config["config_id"])

    predictions = pd.read_parquet(result.path / "predictions.parquet")
    per_user = pd.read_parquet(result.path / "per_user.parquet")
    test_users = dataset.users[dataset.users["split"] == "test"]
    assert set(predictions["user_id"]) == set(test_users["user_id"])
    assert (
        len(predictions)
        == ((dataset.interactions["split"] == "test") & (dataset.interactions["role"] == "query")).sum()
    )
    recomputed = predictions.assign(err=(predictions["rating"] - predictions["prediction"]) ** 2)
    user_mse = recomputed.groupby("user_id")["err"].mean()
    metrics = json.loads((result.path / "metrics.json").read_text())
    assert metrics["test"]["overall"]["mse"] == pytest.approx(user_mse.mean(), rel=1e-6)
    major = per_user.set_index("user_id")["major"]
    assert metrics["test"]["major"]["mse"] == pytest.approx(user_mse[major[major].index].mean(), rel=1e-6)
    assert metrics["test"]["minor"]["n_users"] == int((~major).sum())
    assert np.allclose(per_user["inner_lr"], 1e-5)
    assert len(pd.read_csv(result.path / "epochs.csv")) == 2


def test_finished_seed_is_skipped_and_force_reruns(dataset, tmp_path):
    first = _train(dataset, tmp_path)
    again = _train(dataset, tmp_path)
    assert again.skipped and again.metrics == first.metrics
    forced = _train(dataset, tmp_path, force=True)
    assert not forced.skipped and forced.metrics["test"] == first.metrics["test"]


@pytest.mark.parametrize("method", ["melu", "at-paml"])
def test_interrupted_run_resumes_to_the_same_numbers(dataset, tmp_path, method):
    whole = _train(dataset, tmp_path / "whole", method=method, epochs=3)

    class Interrupt(Exception):
        pass

    def stop_after_second_epoch(kind, info):
        if kind == "epoch" and info["epoch"] == 2:
            raise Interrupt

    with pytest.raises(Interrupt):
        _train(dataset, tmp_path / "cut", method=method, epochs=3, progress=stop_after_second_epoch)
    run = next((tmp_path / "cut").rglob("seed-0"))
    assert (run / "last.pt").exists() and not (run / "metrics.json").exists()
    events = []
    resumed = _train(
        dataset, tmp_path / "cut", method=method, epochs=3, progress=lambda k, i: events.append(k)
    )
    assert "resume" in events and events.count("epoch") == 1
    assert resumed.metrics["test"] == whole.metrics["test"]
    assert pd.read_parquet(run / "predictions.parquet").equals(
        pd.read_parquet(whole.path / "predictions.parquet")
    )


def _poison_epoch(monkeypatch, bad_epoch):
    cls = METHODS.get("melu")
    original = cls.training_loss

    def poisoned(self, model, batch):
        loss, output = original(self, model, batch)
        return (loss * float("nan") if self.epoch == bad_epoch else loss), output

    monkeypatch.setattr(cls, "training_loss", poisoned)


def test_divergence_in_the_first_epoch_stops_with_a_clear_message(dataset, tmp_path, monkeypatch):
    _poison_epoch(monkeypatch, 0)  # the first meta-batch: no outer step yet, so the inner rate is named
    with pytest.raises(ColdbenchError, match=r"diverged at epoch 1, meta-batch 1.*--set inner_lr="):
        _train(dataset, tmp_path)
    run = next(tmp_path.rglob("seed-0"))
    assert not (run / "metrics.json").exists() and not (run / "last.pt").exists()


def test_divergence_after_a_good_epoch_finishes_on_the_best_epoch(dataset, tmp_path, monkeypatch):
    _poison_epoch(monkeypatch, 1)
    events = []
    result = _train(dataset, tmp_path, epochs=3, progress=lambda kind, info: events.append((kind, info)))
    diverged = [info for kind, info in events if kind == "diverged"]
    assert len(diverged) == 1 and diverged[0]["epoch"] == 2 and "outer_lr" in diverged[0]["message"]
    metrics = result.metrics
    assert (metrics["stopped"], metrics["epochs_run"], metrics["best_epoch"]) == ("divergence", 1, 1)
    assert len(pd.read_csv(result.path / "epochs.csv")) == 1 and (result.path / "metrics.json").exists()


def test_unknown_setting_is_an_error_naming_it(dataset, tmp_path):
    with pytest.raises(ColdbenchError, match="no_such_key"):
        _train(dataset, tmp_path, overrides={"no_such_key": "1"})
    with pytest.raises(ColdbenchError, match="epochs"):
        _train(dataset, tmp_path, overrides={"epochs": "two"})


@pytest.mark.parametrize("method", METHODS.names())
def test_cli_trains_every_method_on_synthetic(method, dataset, tmp_path, cli):
    settings = [x for key, value in SMALL.items() for x in ("--set", f"{key}={value}")]
    code, out, err = cli(
        "train",
        method,
        "--dataset",
        str(dataset.path),
        "--epochs",
        "2",
        "--seeds",
        "2",
        "--device",
        "cpu",
        "--results-dir",
        str(tmp_path),
        *settings,
    )
    assert code == 0, err
    assert "mean" in out and "MSE" in out
    assert len(list(tmp_path.rglob("metrics.json"))) == 2


def test_cli_errors_are_one_line(dataset, tmp_path, cli):
    code, _, err = cli("train", "nosuch", "--dataset", str(dataset.path))
    assert code == 1 and "Unknown method 'nosuch'" in err and "melu" in err
    code, _, err = cli("train", "melu", "--dataset", "not-prepared")
    assert code == 1 and "not prepared" in err
    code, _, err = cli("train", "melu", "--dataset", str(dataset.path), "--set", "oops")
    assert code == 1 and "key=value" in err


def test_cli_lists_methods(cli):
    code, out, _ = cli("methods")
    assert code == 0
    for name in METHODS.names():
        assert name in out


def test_finished_run_on_other_data_is_not_silently_reused(dataset, tmp_path):
    _train(dataset, tmp_path)
    rebuilt = type(dataset)(
        dataset.path,
        {**dataset.manifest, "content_hash": "something-else"},
        dataset.interactions,
        dataset.users,
        dataset.items,
    )
    with pytest.raises(ColdbenchError, match="prepared again"):
        _train(rebuilt, tmp_path)


def test_kill_between_checkpoint_and_metrics_still_resumes(dataset, tmp_path, monkeypatch):
    import coldbench.training.trainer as trainer

    def crash(folder, metrics):
        raise KeyboardInterrupt

    monkeypatch.setattr(trainer, "write_metrics", crash)
    with pytest.raises(KeyboardInterrupt):
        _train(dataset, tmp_path)
    monkeypatch.undo()
    result = _train(dataset, tmp_path)  # finds last.pt and best.pt, evaluates, finishes
    assert (result.path / "metrics.json").exists() and not (result.path / "best.pt").exists()


def test_cli_usage_error_exits_2_with_usage(cli):
    code, out, err = cli("train", "melu", "--no-such-option")
    assert code == 2 and "No such option" in out + err


def test_cli_says_what_it_trains_and_what_it_skips(dataset, tmp_path, cli):
    prepare("synthetic", options=TINY_SYNTHETIC, name="movielens")  # under the test's own data home
    args = ["train", "melu", "--results-dir", str(tmp_path), "--device", "cpu", "--epochs", "1"]
    args += ["--seeds", "2", "--set", "hidden=8,4", "--set", "embedding_dim=4"]
    code, out, err = cli(*args)
    assert code == 0, err
    plan = out.splitlines()[0]
    assert plan.startswith("train melu on movielens (the default --dataset)")
    for part in (
        "epochs=1",
        "embedding_dim=4",
        "hidden=8,4",
        "seeds 0, 1",
        str(tmp_path / "movielens" / "melu"),
    ):
        assert part in plan
    assert "seed 1 (2/2)" in out and "ETA" in out
    code, out, err = cli(*args)
    assert code == 0, err
    assert "seed 0 (1/2) already finished — skipped (use --force" in out
    assert "seed 1 (2/2) already finished" in out and "meta-batches" not in out


def test_train_and_reproduce_share_the_default_dataset():
    import inspect

    from coldbench.cli.reproduce import reproduce_cli
    from coldbench.cli.train import train_cli
    from coldbench.studies.reproduce import DEFAULT_DATASET, reproduce

    assert DEFAULT_DATASET == "movielens"
    for command in (train_cli, reproduce_cli):
        assert inspect.signature(command).parameters["dataset"].default is None  # → DEFAULT_DATASET
    assert {"epochs", "subset", "seeds"} <= set(inspect.signature(reproduce).parameters)


@pytest.mark.parametrize(
    "args,message",
    [
        (["--set", "outer_lr=-1"], "--set outer_lr=-1"),
        (["--epochs", "0"], "--epochs 0"),
        (["--seeds", "0"], "--seeds 0"),
        (["--subset", "0"], "--subset=0"),
        (["--set", "hidden=0"], "hidden entries"),
        (["--shots", "1,x"], "--shots"),
    ],
)
def test_reproduce_checks_everything_before_preparing(cli, tmp_path, args, message):
    from coldbench.paths import prepared_root

    code, out, err = cli("reproduce", "--dataset", "synthetic", "--results-dir", str(tmp_path / "r"), *args)
    assert code == 1 and message in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1
    assert not prepared_root().exists() and not (tmp_path / "r").exists()


@pytest.mark.parametrize("option", ["--out", "--export"])
def test_reproduce_checks_its_output_folders_before_training(cli, tmp_path, option):
    """--out or --export under a file used to fail only after every run had trained."""
    from coldbench.paths import prepared_root

    (tmp_path / "afile").write_text("")
    target = str(tmp_path / "afile" / "paper")
    code, out, err = cli(
        "reproduce", "--dataset", "synthetic", "--results-dir", str(tmp_path / "r"), option, target
    )
    assert code == 1 and f"option {option} {target}: " in err and "is a file, not a folder" in err
    assert "Traceback" not in err and not prepared_root().exists() and not (tmp_path / "r").exists()


def test_reproduce_takes_epochs_and_subset(tmp_path, monkeypatch):
    import coldbench.studies.reproduce as reproduce_module

    calls = []
    monkeypatch.setattr(
        reproduce_module,
        "prepare",
        lambda *a, **k: calls.append(k) or (_ for _ in ()).throw(KeyboardInterrupt),
    )
    with pytest.raises(KeyboardInterrupt):
        reproduce_module.reproduce("synthetic", tmp_path, epochs=2, subset=50, overrides=SMALL)
    assert calls[0]["config"].subset == 50
