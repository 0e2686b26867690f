"""The committed form of a study: what is written, what is not, and that tables match the runs."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from coldbench.errors import ColdbenchError
from coldbench.report.export import check_exported, export_study
from coldbench.report.runs import load_runs
from coldbench.testing import write_fake_run

REFERENCE = Path(__file__).resolve().parents[1] / "results" / "reference"


def _per_user(level: float, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    n = 40
    mse = level + rng.normal(0, 0.2, n) ** 2
    return pd.DataFrame(
        {
            "user_id": [f"u{i}" for i in range(n)],
            "major": np.arange(n) % 3 != 0,
            "n_support": 8,
            "n_query": 2,
            "inner_lr": 1e-3,
            "mse": mse,
            "mae": np.sqrt(mse),
            "ndcg@3": rng.uniform(0.5, 1, n),
            "ndcg@5": rng.uniform(0.5, 1, n),
        }
    )


@pytest.fixture
def study(tmp_path):
    for method, level in (("melu", 1.1), ("paml", 1.0), ("reg-paml", 0.95), ("bias", 0.9)):
        for seed in range(2):
            write_fake_run(tmp_path / "results", method, seed, _per_user(level, seed), dataset="d")
    return load_runs(tmp_path / "results")


def test_export_writes_tables_figures_and_small_run_files_only(study, tmp_path):
    out = tmp_path / "reference" / "d"
    written = export_study(study, "d", out)
    names = {p.name for p in written}
    assert {"table-main.md", "table-main.csv", "table-main.tex", "table-minor-major.csv"} <= names
    assert {"boxplot.png", "lr-hist.png", "curves.png"} <= names
    files = {p.name for p in out.rglob("*") if p.is_file()}
    assert not files & {"per_user.parquet", "predictions.parquet", "checkpoint.pt"}
    assert not any(name.endswith(".pdf") for name in files)
    from PIL import Image

    with Image.open(out / "figures" / "boxplot.png") as image:
        assert image.mode == "P" and image.size[0] > 500  # 256 colours, full resolution
    assert len(list(out.glob("runs/*/*/seed-*/metrics.json"))) == 8
    assert check_exported(out) > 0


def test_a_table_that_disagrees_with_its_runs_is_caught(study, tmp_path):
    out = tmp_path / "d"
    export_study(study, "d", out)
    metrics_path = next(out.glob("runs/paml/*/seed-0/metrics.json"))
    metrics = json.loads(metrics_path.read_text())
    metrics["test"]["overall"]["mse"] += 0.5
    metrics_path.write_text(json.dumps(metrics))
    with pytest.raises(ColdbenchError, match="paml MSE"):
        check_exported(out)


@pytest.mark.parametrize("folder", sorted(p for p in REFERENCE.glob("*") if p.is_dir()), ids=lambda p: p.name)
def test_committed_reference_tables_match_their_runs(folder):
    assert check_exported(folder) > 0


def test_a_study_with_both_presets_gets_one_set_of_tables_per_preset(tmp_path):
    """Paper-preset and tuned runs side by side: table-main-paper and table-main-tuned, each with
    its own rows and the floors, every mean checked against the committed runs."""
    from coldbench.config import PRESETS

    results = tmp_path / "results"
    for method, level in (("melu", 1.1), ("paml", 1.0), ("reg-paml", 0.95)):
        for seed in range(2):
            write_fake_run(results, method, seed, _per_user(level, seed), dataset="d", train=PRESETS["paper"])
            tuned = {"settings": {"outer_lr": 1e-4}, "trials": 4, "pruner": "median", "sampler": "TPE"}
            write_fake_run(
                results,
                method,
                seed,
                _per_user(level - 0.1, seed + 10),
                dataset="d",
                params={"outer_lr": 1e-4},
                tuned=tuned,
            )
    for seed in range(2):
        write_fake_run(results, "constant", seed, _per_user(1.3, seed), dataset="d")
    runs = load_runs(results)
    assert runs.tags() == ["paper", "tuned"]
    assert set(runs.for_preset("tuned").table["variant"]) == {
        "melu [tuned]",
        "paml [tuned]",
        "reg-paml [tuned]",
        "constant",
    }
    out = tmp_path / "d"
    names = {p.name for p in export_study(runs, "d", out)}
    assert {"table-main-paper.csv", "table-main-tuned.csv", "table-minor-major-tuned.md"} <= names
    assert "table-main.csv" not in names
    main_tuned = (out / "table-main-tuned.csv").read_text()
    assert "melu [tuned]" in main_tuned and "[paper]" not in main_tuned and "constant" in main_tuned
    assert check_exported(out) > 0
    tuned_runs = out.glob("runs/melu/*/seed-0/metrics.json")
    metrics_path = next(p for p in tuned_runs if '"tuned"' in (p.parent / "config.json").read_text())
    metrics = json.loads(metrics_path.read_text())
    metrics["test"]["overall"]["mse"] += 0.5
    metrics_path.write_text(json.dumps(metrics))
    with pytest.raises(ColdbenchError, match=r"melu \[tuned\] MSE"):
        check_exported(out)
