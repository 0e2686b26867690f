"""``--preset recommended``: the committed tuned studies' settings, shipped with the package."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from coldbench.data.prepare import prepare
from coldbench.report.runs import load_runs
from coldbench.studies.recommended import RECOMMENDED_FILE, build_recommended, recommended_for
from coldbench.testing import TINY_SYNTHETIC

REFERENCE = Path(__file__).resolve().parents[1] / "results" / "reference"


def test_the_shipped_settings_are_the_committed_tuned_studies():
    """Rebuilt from results/reference, the table is the shipped one: a re-tuned study must ship."""
    assert json.loads(RECOMMENDED_FILE.read_text()) == build_recommended(REFERENCE)
    entry = recommended_for("paml", "movielens-states-year", "movielens")
    assert entry["for"] == "movielens" and entry["from"] == "results/reference/movielens"
    tuned = next(
        json.loads(line)["config"]["tuned"]
        for line in (REFERENCE / "movielens" / "runs.jsonl").read_text().splitlines()
        if '"method":"paml"' in line and '"tuned"' in line
    )
    assert entry["settings"] == tuned["settings"] and entry["trial"] == tuned["trial"]
    assert recommended_for("paml", "my-data", "atomic") is None


@pytest.fixture(scope="module")
def home(tmp_path_factory):
    data = tmp_path_factory.mktemp("data")
    prepare("synthetic", options=TINY_SYNTHETIC, data_dir=data)
    return data


def test_train_with_the_recommended_preset_uses_and_labels_them(home, tmp_path, cli):
    common = [
        "--dataset",
        "synthetic",
        "--data-dir",
        str(home),
        "--results-dir",
        str(tmp_path),
        "--epochs",
        "1",
    ]
    code, out, err = cli("train", "melu", "--preset", "recommended", *common)
    assert code == 0, err
    assert "recommended for synthetic (best trial" in out and "results/reference/synthetic" in out
    config = json.loads(next(tmp_path.rglob("config.json")).read_text())
    want = recommended_for("melu", "synthetic")["settings"]
    assert {k: config["params"][k] for k in want} == want and config["tuned"]["label"] == "recommended"
    assert set(load_runs(tmp_path).table["variant"]) == {"melu [recommended] (epochs=1)"}


def test_a_method_without_recommended_settings_keeps_its_defaults_and_says_so(home, tmp_path, cli):
    common = ["--dataset", "synthetic", "--data-dir", str(home), "--results-dir", str(tmp_path)]
    code, out, err = cli("train", "constant", "--preset", "recommended", *common)
    assert code == 0, err
    assert "no recommended settings for constant on synthetic" in out
    assert set(load_runs(tmp_path).table["variant"]) == {"constant"}
