"""Early stopping: the rule, runs that stop by patience on a crafted curve, presets and resume."""

from __future__ import annotations

import json
import math

import pandas as pd
import pytest

import coldbench.training.trainer as trainer
from coldbench.config import PRESETS
from coldbench.data.prepare import prepare
from coldbench.data.prepared import load_prepared
from coldbench.errors import ColdbenchError
from coldbench.report.runs import load_runs, variant_label
from coldbench.report.tables import main_table
from coldbench.testing import TINY_SYNTHETIC
from coldbench.training.stopping import EarlyStopping, still_improving
from coldbench.training.trainer import make_spec, train

SMALL = {"hidden": "8,4", "embedding_dim": "4", "batch_size": "32"}
# Validation MSE per epoch: best at epoch 3 (1-based), then 3 epochs without improvement.
CURVE = [5.0, 4.0, 3.0, 3.5, 3.2, 3.1, 2.0, 1.0]


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    data_dir = tmp_path_factory.mktemp("stopping-data")
    prepare("synthetic", options=TINY_SYNTHETIC, data_dir=data_dir)
    return load_prepared("synthetic", data_dir)


@pytest.fixture
def curve(monkeypatch):
    """Validation follows ``CURVE`` (by the epoch the method is in); training is real."""
    real = trainer._validate

    def crafted(model, method, data, spec, seed):
        values = real(model, method, data, spec, seed)
        return {**values, "mse": CURVE[method.epoch]}

    monkeypatch.setattr(trainer, "_validate", crafted)


def _train(dataset, results, epochs=8, progress=None, preset=None, **settings):
    overrides = {**SMALL, "epochs": str(epochs), **settings}
    return train(
        "melu", dataset, [0], overrides, device="cpu", results_dir=results, progress=progress, preset=preset
    )[0]


def test_rule_counts_epochs_without_an_improvement_larger_than_min_delta():
    stopper = EarlyStopping(patience=2, min_delta=0.5)
    assert stopper.step(0, 5.0) and not stopper.step(1, 4.6)  # 0.4 better: not enough
    assert not stopper.should_stop and stopper.step(2, 4.0) and stopper.best_epoch == 2
    assert not stopper.step(3, 3.9) and not stopper.step(4, 3.8) and stopper.should_stop
    assert EarlyStopping.replay(2, 0.5, [5.0, 4.6, 4.0, 3.9, 3.8]) == stopper
    never = EarlyStopping.replay(0, 0.0, [1.0] + [2.0] * 50)
    assert not never.should_stop and never.best_epoch == 0
    assert still_improving(8, 8, "maximum") and not still_improving(3, 8, "maximum")
    assert not still_improving(6, 6, "patience") and not still_improving(1, 1, "maximum")


def test_run_stops_by_patience_at_the_right_epoch(dataset, tmp_path, curve):
    result = _train(dataset, tmp_path, patience="3")
    metrics = result.metrics
    assert (metrics["stopped"], metrics["best_epoch"], metrics["epochs_run"]) == ("patience", 3, 6)
    assert metrics["selected_epoch"] == 3 and metrics["valid_mse"] == 3.0
    assert list(pd.read_csv(result.path / "epochs.csv")["valid_mse"]) == CURVE[:6]


def test_min_delta_and_maximum(dataset, tmp_path, curve):
    # With min_delta 0.6, 3.0 → 2.0 (epoch 7) is the next improvement after epoch 3; patience 4 waits for it.
    late = _train(dataset, tmp_path / "a", patience="4", min_delta="0.6").metrics
    assert (late["stopped"], late["best_epoch"], late["epochs_run"]) == ("maximum", 8, 8)
    cut = _train(dataset, tmp_path / "b", epochs=5, patience="5").metrics
    assert (cut["stopped"], cut["best_epoch"], cut["epochs_run"]) == ("maximum", 3, 5)


def test_paper_preset_is_a_mapping_with_its_own_config_id_and_label(dataset, tmp_path):
    paper = make_spec("melu", {}, device="cpu", preset="paper")
    default = make_spec("melu", {}, device="cpu")
    assert (paper.train.epochs, paper.train.patience) == (20, 0) and default.train.patience == 5
    assert paper.config_id != default.config_id
    by_hand = make_spec("melu", {"epochs": 20, "patience": 0}, device="cpu")
    assert by_hand.config_id == paper.config_id  # a preset is only its settings
    assert make_spec("melu", {"epochs": 30}, device="cpu", preset="paper").train.epochs == 30
    assert make_spec("bias", {}, device="cpu", preset="paper").config_id == make_spec("bias", {}).config_id
    with pytest.raises(ColdbenchError, match="--preset 'nosuch'"):
        make_spec("melu", {}, device="cpu", preset="nosuch")
    assert set(PRESETS["paper"]) == {"epochs", "patience", "min_delta"}

    train_paper = {"epochs": 20, "patience": 0, "min_delta": 0.0}
    assert variant_label("reg-paml", {}, train_paper) == "reg-paml [paper]"
    assert variant_label("reg-paml", {"gamma": 0.01}, train_paper) == "reg-paml [paper] (gamma=0.01)"
    assert variant_label("reg-paml", {}, {"epochs": 20}) == "reg-paml [paper]"  # before early stopping
    assert variant_label("reg-paml", {}, {"epochs": 100, "patience": 5}) == "reg-paml"
    assert variant_label("bias", {}, train_paper) == "bias"  # floors ignore training settings


def test_paper_preset_trains_all_epochs_and_reports_label_it(dataset, tmp_path, curve, cli):
    args = ["train", "melu", "--dataset", str(dataset.path), "--device", "cpu"]
    args += ["--results-dir", str(tmp_path)] + [x for k, v in SMALL.items() for x in ("--set", f"{k}={v}")]
    code, out, err = cli(*args, "--preset", "paper", "--epochs", "8")
    assert code == 0, err
    metrics = json.loads(next(tmp_path.rglob("metrics.json")).read_text())
    assert (metrics["stopped"], metrics["epochs_run"], metrics["best_epoch"]) == ("maximum", 8, 8)
    assert "still improving" in " ".join(out.split())  # the best epoch was the last one
    code, out, err = cli(*args, "--epochs", "8", "--set", "patience=3")
    assert code == 0, err
    assert "still improving" not in " ".join(out.split())
    labels = set(load_runs(tmp_path).table["variant"])
    assert len(labels) == 2 and all(label.startswith("melu (") and "epochs=8" in label for label in labels)
    assert {("patience=0" in label, "patience=3" in label) for label in labels} == {
        (True, False),
        (False, True),
    }
    caption = " ".join(main_table(load_runs(tmp_path), "synthetic").caption)
    improving = caption.split("still improving")[1]
    assert "patience=0" in improving and "patience=3" not in improving


@pytest.mark.parametrize("stop_at", [4, 6])
def test_resume_keeps_the_stopping_state(dataset, tmp_path, curve, stop_at):
    whole = _train(dataset, tmp_path / "whole", patience="3")

    class Interrupt(Exception):
        pass

    def interrupt(kind, info):
        if kind == "epoch" and info["epoch"] == stop_at:
            raise Interrupt

    with pytest.raises(Interrupt):
        _train(dataset, tmp_path / "cut", patience="3", progress=interrupt)
    events = []
    resumed = _train(dataset, tmp_path / "cut", patience="3", progress=lambda k, i: events.append(k))
    assert "resume" in events and events.count("epoch") == 6 - stop_at  # the 6th epoch was the last
    for key in ("stopped", "best_epoch", "epochs_run", "test"):
        assert resumed.metrics[key] == whole.metrics[key]
    assert pd.read_parquet(resumed.path / "predictions.parquet").equals(
        pd.read_parquet(whole.path / "predictions.parquet")
    )


def test_floors_fit_once_whatever_the_maximum(dataset, tmp_path):
    result = train("bias", dataset, [0], {"epochs": "50"}, device="cpu", results_dir=tmp_path)[0]
    metrics = result.metrics
    assert (metrics["epochs_run"], metrics["best_epoch"], metrics["stopped"]) == (1, 1, "maximum")
    assert not math.isnan(metrics["test"]["overall"]["mse"])
