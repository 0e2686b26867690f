"""Report tables and statistics against hand-built result folders and hand-computed values."""

from __future__ import annotations

import csv
import io
import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from coldbench.report.runs import load_runs, variant_label
from coldbench.report.tables import (
    ablation_table,
    main_table,
    minor_major_table,
    to_csv,
    to_latex,
    to_markdown,
)
from coldbench.stats import ttest_p
from coldbench.testing import write_fake_run

N_USERS = 10
MAJOR = np.array([True] * 6 + [False] * 4)


def _users(mse: list[float] | np.ndarray, ndcg: float = 0.8) -> pd.DataFrame:
    mse = np.asarray(mse, dtype=float)
    return pd.DataFrame(
        {
            "user_id": [f"u{i}" for i in range(len(mse))],
            "major": MAJOR[: len(mse)],
            "n_support": 8,
            "n_query": 2,
            "inner_lr": 1e-5,
            "mse": mse,
            "mae": np.sqrt(mse),
            "ndcg@3": ndcg,
            "ndcg@5": ndcg,
        }
    )


def _flat(value: float) -> np.ndarray:
    return np.full(N_USERS, value)


@pytest.fixture
def results(tmp_path):
    """melu, transfer (baselines) and reg-paml at two γ, 3 seeds, on 'movielens' (so --paper applies)."""
    seed_mse = {
        ("melu", None): [1.50, 1.52, 1.48],
        ("transfer", None): [1.30, 1.31, 1.29],
        ("reg-paml", None): [1.10, 1.11, 1.09],
        ("reg-paml", 1e-5): [1.60, 1.40, 1.50],
    }
    for (method, gamma), values in seed_mse.items():
        params = {"gamma": gamma} if gamma else {}
        for seed, value in enumerate(values):
            write_fake_run(tmp_path, method, seed, _users(_flat(value)), dataset="movielens", params=params)
    return tmp_path


def _cell(report, variant: str, column: str):
    row = next(r for r in report.rows if r[0].text == variant)
    return row[report.columns.index(column)]


def test_main_table_means_marks_and_significance(results):
    report = main_table(load_runs(results), "movielens")
    assert [r[0].text for r in report.rows] == ["transfer", "melu", "reg-paml"]  # default variants only
    cell = _cell(report, "reg-paml", "MSE")
    assert cell.text == "1.100 ± 0.010*" and cell.bold
    assert _cell(report, "transfer", "MSE").italic
    assert _cell(report, "melu", "MSE").text == "1.500 ± 0.020"
    # the star: reg-paml vs the best baseline (transfer), Student's t-test over the three seeds
    p = stats.ttest_ind([1.10, 1.11, 1.09], [1.30, 1.31, 1.29]).pvalue
    assert p < 0.05
    assert "*" not in _cell(report, "transfer", "nDCG@3").text  # equal nDCG everywhere: no star


def test_no_star_without_significance(tmp_path):
    for seed, (a, b) in enumerate([(1.0, 1.2), (1.4, 1.1), (1.2, 1.3)]):
        write_fake_run(tmp_path, "melu", seed, _users(_flat(a)), dataset="d")
        write_fake_run(tmp_path, "paml", seed, _users(_flat(b)), dataset="d")
    report = main_table(load_runs(tmp_path), "d")
    assert all("*" not in row[2].text for row in report.rows)


def test_paper_numbers_are_labelled_with_the_difference(results):
    report = main_table(load_runs(results), "movielens", with_paper=True)
    row = next(r for r in report.rows if r[0].text == "melu")
    index = report.columns.index("MSE")
    assert report.columns[index + 1 : index + 3] == ["paper", "Δ"]
    assert row[index + 1].text == "1.451 ± 0.022"
    assert row[index + 2].text == f"{1.5 - 1.451:+.3f}"
    assert any("reported by Yu et al." in note and "not measured here" in note for note in report.caption)


def test_ablation_orders_gamma_and_marks_best(results):
    report = ablation_table(load_runs(results), "movielens", with_paper=True)
    assert [r[0].text for r in report.rows] == ["reg-paml (gamma=1e-05)", "reg-paml"]  # by γ, default 1e-3
    assert _cell(report, "reg-paml", "MSE").bold
    assert _cell(report, "reg-paml (gamma=1e-05)", "MSE").italic
    row = report.rows[0]
    assert row[report.columns.index("MSE") + 1].text == "1.509 ± 0.029"  # Table 3, γ = 1e-5


def test_minor_major_p_value_matches_hand_computation(tmp_path):
    rng = np.random.default_rng(0)
    per_seed = [rng.normal(1.0 + 0.3 * ~MAJOR, 0.2) for _ in range(3)]
    for seed, mse in enumerate(per_seed):
        write_fake_run(tmp_path, "melu", seed, _users(mse), dataset="d")
    report = minor_major_table(load_runs(tmp_path), "d")
    averaged = np.mean(per_seed, axis=0)
    minor, major = averaged[~MAJOR], averaged[MAJOR]
    # Student's t with pooled variance, by hand
    n1, n2 = len(minor), len(major)
    pooled = ((n1 - 1) * minor.var(ddof=1) + (n2 - 1) * major.var(ddof=1)) / (n1 + n2 - 2)
    t = (minor.mean() - major.mean()) / math.sqrt(pooled * (1 / n1 + 1 / n2))
    p = 2 * stats.t.sf(abs(t), n1 + n2 - 2)
    assert _cell(report, "melu", "p-value").text == f"{p:.3g}"
    assert _cell(report, "melu", "major / minor users").text == "6 / 4"
    major_means = [m[MAJOR].mean() for m in per_seed]
    assert (
        _cell(report, "melu", "MSE major").text
        == f"{np.mean(major_means):.3f} ± {np.std(major_means, ddof=1):.3f}"
    )
    welch = minor_major_table(load_runs(tmp_path), "d", welch=True)
    assert (
        _cell(welch, "melu", "p-value").text == f"{stats.ttest_ind(minor, major, equal_var=False).pvalue:.3g}"
    )


def test_ttest_p_hand_case_and_edges():
    a, b = [1.0, 2.0, 3.0], [4.0, 5.0, 6.0]
    # means 2 and 5, both variances 1: t = -3 / sqrt(1 * (1/3 + 1/3)) = -3.674, df = 4
    t = -3 / math.sqrt(2 / 3)
    assert ttest_p(a, b) == pytest.approx(2 * stats.t.sf(abs(t), 4), rel=1e-12)
    assert math.isnan(ttest_p([1.0], [2.0, 3.0]))
    assert math.isnan(ttest_p([1.0, 1.0], [1.0, 1.0]))


def test_only_one_preparation_is_compared(results):
    write_fake_run(
        results,
        "melu",
        0,
        _users(_flat(9.9)),
        dataset="movielens",
        dataset_hash="other-hash",
        config_id="other",
    )
    report = main_table(load_runs(results), "movielens")
    assert _cell(report, "melu", "MSE").text == "1.500 ± 0.020"
    assert any("left out" in note and "other-hash" in note for note in report.caption)


def test_variant_label_names_non_default_settings():
    assert variant_label("reg-paml", {"gamma": 1e-3, "outer_lr": 5e-5}) == "reg-paml"
    assert variant_label("reg-paml", {"gamma": 1e-2, "outer_lr": 5e-5}) == "reg-paml (gamma=0.01)"
    assert variant_label("melu", {}, {"epochs": 10, "hidden": [320, 192], "buckets": 8}) == "melu (epochs=10)"


def test_renderers(results):
    report = main_table(load_runs(results), "movielens")
    markdown = to_markdown(report)
    assert "| method | seeds | MSE |" in markdown and "**1.100 ± 0.010*" in markdown
    latex = to_latex(report)
    assert r"\textbf{1.100 $\pm$ 0.010*}" in latex and r"\begin{tabular}" in latex
    rows = list(csv.reader(io.StringIO(to_csv(report))))
    assert rows[0][:3] == ["method", "seeds", "MSE"] and len(rows) == 4


def test_cli_report_writes_markdown_and_errors(results, tmp_path, cli):
    out = tmp_path / "main.md"
    code, _, err = cli(
        "report",
        "--table",
        "main",
        "--format",
        "markdown",
        "--paper",
        "--out",
        str(out),
        "--results-dir",
        str(results),
    )
    assert code == 0, err
    assert "1.451 ± 0.022" in out.read_text()
    code, _, err = cli("report", "--table", "nosuch", "--results-dir", str(results))
    assert code == 1 and "--table 'nosuch'" in err
    code, out_text, _ = cli("report", "--results-dir", str(results))
    assert code == 0 and "reg-paml" in out_text


def test_main_table_uses_each_methods_plainest_variant(tmp_path):
    demo = {"outer_lr": 1e-3}
    for seed in range(2):
        write_fake_run(tmp_path, "melu", seed, _users(_flat(1.0 + seed)), dataset="d", params=demo)
        write_fake_run(tmp_path, "paml", seed, _users(_flat(0.5 + seed)), dataset="d", params=demo)
        write_fake_run(tmp_path, "paml", seed, _users(_flat(0.9)), dataset="other")
    report = main_table(load_runs(tmp_path), "d")
    assert [r[0].text for r in report.rows] == ["melu (outer_lr=0.001)", "paml (outer_lr=0.001)"]
