"""Report tables against hand-built result folders, scipy and hand-computed values."""

from __future__ import annotations

import csv
import io
import json
import math
import re

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from coldbench.errors import ColdbenchError
from coldbench.report.runs import Runs, load_runs, variant_label
from coldbench.report.stats import holm
from coldbench.report.tables import (
    FLOORS,
    METHOD_ORDER,
    Measurements,
    ablation_table,
    ctr_table,
    main_table,
    minor_major_table,
    one_dataset,
    shots_table,
    states_table,
    to_csv,
    to_latex,
    to_markdown,
    to_rich,
)
from coldbench.testing import write_fake_run
from coldbench.training.metrics import aggregate

N_USERS = 10
MAJOR = np.array([True] * 6 + [False] * 4)
USER_EFFECT = np.linspace(-0.2, 0.2, N_USERS)  # users differ; paired tests see through it
WOBBLE = np.array([1, -1] * (N_USERS // 2), dtype=float)  # per-user noise with mean 0


def _users(mse, ndcg=0.8, **extra) -> pd.DataFrame:
    mse = np.asarray(mse, dtype=float)
    ndcg = np.broadcast_to(np.asarray(ndcg, dtype=float), mse.shape)
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
            **extra,
        }
    )


def _write(results, method, seed, per_user, **kwargs):
    """``write_fake_run``, with every metric column of ``per_user`` (ndcg_lin too) in metrics.json."""
    folder = write_fake_run(results, method, seed, per_user, **kwargs)
    metrics = json.loads((folder / "metrics.json").read_text())
    columns = [c for c in per_user.columns if c in ("mse", "mae", "auc", "nel") or c.startswith("ndcg")]
    indexed = per_user.set_index("user_id")
    metrics["test"] = aggregate(indexed[columns], indexed["major"])
    (folder / "metrics.json").write_text(json.dumps(metrics))
    return folder


def _noisy(level: float, seed: int) -> np.ndarray:
    """Per-user values around ``level``; the noise differs by level and seed, so differences vary."""
    return level + USER_EFFECT + 0.02 * level * WOBBLE * (1 + 0.5 * seed) + 0.01 * seed


@pytest.fixture
def results(tmp_path):
    """melu, transfer (baselines) and reg-paml at two γ, 3 seeds, on 'movielens' (so --paper applies)."""
    levels = {
        ("melu", None): 1.50,
        ("transfer", None): 1.30,
        ("reg-paml", None): 1.10,
        ("reg-paml", 1e-5): 1.5,
    }
    for (method, gamma), level in levels.items():
        params = {"gamma": gamma} if gamma else {}
        for seed in range(3):
            _write(tmp_path, method, seed, _users(_noisy(level, seed)), dataset="movielens", params=params)
    return tmp_path


def _cell(report, variant: str, column: str):
    row = next(r for r in report.rows if r[0].text == variant)
    return row[report.columns.index(column)]


def _user_means(method_levels, seeds=3) -> np.ndarray:
    return np.mean([_noisy(method_levels, s) for s in range(seeds)], axis=0)


def _ci_text(mean: float, users: np.ndarray, star: str = "") -> str:
    low, high = stats.t.interval(0.95, len(users) - 1, loc=users.mean(), scale=stats.sem(users))
    return f"{mean:.3f}{star} [{low:.3f}, {high:.3f}]"


def test_main_table_means_intervals_marks_and_star(results):
    report = main_table(load_runs(results), "movielens")
    assert [r[0].text for r in report.rows] == ["transfer", "melu", "reg-paml"]  # default variants only
    reg, transfer = _user_means(1.10), _user_means(1.30)
    seed_mean = np.mean([_noisy(1.10, s).mean() for s in range(3)])
    # the star: reg-paml vs the best baseline (transfer), paired t-test over users, Holm over the family
    assert stats.ttest_rel(reg, transfer).pvalue < 0.05 / 3
    cell = _cell(report, "reg-paml", "MSE")
    assert cell.text == _ci_text(seed_mean, reg, "*") and cell.bold
    assert _cell(report, "transfer", "MSE").italic
    assert "*" not in _cell(report, "transfer", "nDCG@3").text  # equal nDCG everywhere: no test, no star
    assert any("paired t-test" in n and "one comparison, so no correction" in n for n in report.caption)
    assert not any("1 comparisons" in n or "1 tests" in n for n in report.caption)
    assert any("no bias run" in note for note in report.caption)


def test_interval_over_seeds_with_the_seeds_test(results, tmp_path):
    report = main_table(load_runs(results), "movielens", test="seeds")
    seed_means = np.array([_noisy(1.10, s).mean() for s in range(3)])
    low, high = stats.t.interval(0.95, 2, loc=seed_means.mean(), scale=stats.sem(seed_means))
    assert _cell(report, "reg-paml", "MSE").text == f"{seed_means.mean():.3f}* [{low:.3f}, {high:.3f}]"
    assert any("Student's t-test over per-seed means" in note for note in report.caption)
    one = tmp_path / "one"
    _write(one, "melu", 0, _users(_noisy(1.0, 0)), dataset="d")
    single = main_table(load_runs(one), "d", test="seeds")
    assert _cell(single, "melu", "MSE").text == f"{_noisy(1.0, 0).mean():.3f} [–]"


def test_measurements_p_matches_scipy(results):
    table, _ = one_dataset(load_runs(results), "movielens")
    reg, transfer = _user_means(1.10), _user_means(1.30)
    seed = [[_noisy(level, s).mean() for s in range(3)] for level in (1.10, 1.30)]
    expected = {
        "paired": stats.ttest_rel(reg, transfer).pvalue,
        "wilcoxon": stats.wilcoxon(reg, transfer).pvalue,
        "seeds": stats.ttest_ind(*seed).pvalue,
    }
    for test, p in expected.items():
        assert Measurements(table, test).p("reg-paml", "transfer", "mse") == pytest.approx(p, rel=1e-9)


def _paired_case(tmp_path, p_mse: float, p_ndcg: float):
    """melu and paml whose per-user differences give paired p-values ``p_mse`` and ``p_ndcg``."""
    sem = 0.1 * np.sqrt(N_USERS / (N_USERS - 1)) / np.sqrt(N_USERS)  # of 0.1 * WOBBLE
    delta = {p: stats.t.ppf(1 - p / 2, N_USERS - 1) * sem for p in (p_mse, p_ndcg)}
    base = 1.0 + USER_EFFECT
    ndcg = 0.7 + USER_EFFECT / 4
    for seed in range(2):
        _write(tmp_path, "melu", seed, _users(base, ndcg=ndcg), dataset="d")
        better_mse = base - delta[p_mse] - 0.1 * WOBBLE
        better_ndcg = ndcg + delta[p_ndcg] + 0.1 * WOBBLE
        _write(tmp_path, "paml", seed, _users(better_mse, ndcg=better_ndcg), dataset="d")
    return load_runs(tmp_path)


def test_holm_over_the_tables_comparisons_removes_stars(tmp_path):
    runs = _paired_case(tmp_path, 0.03, 0.04)
    plain = main_table(runs, "d", correction="none")
    assert "*" in _cell(plain, "paml", "MSE").text and "*" in _cell(plain, "paml", "nDCG@3").text
    # Holm over the 3 comparisons (MSE 0.03, nDCG@3 0.04, nDCG@5 0.04): 0.09, 0.09, 0.09
    assert holm([0.03, 0.04, 0.04]) == pytest.approx([0.09, 0.09, 0.09])
    corrected = main_table(runs, "d")
    assert all("*" not in _cell(corrected, "paml", c).text for c in ("MSE", "nDCG@3", "nDCG@5"))
    assert any("Holm–Bonferroni correction over the 3 comparisons" in note for note in corrected.caption)
    assert any("no correction for the 3 comparisons" in note for note in plain.caption)


def test_wilcoxon_option(tmp_path):
    runs = _paired_case(tmp_path, 0.001, 0.001)
    report = main_table(runs, "d", test="wilcoxon")
    # every user improves under paml (delta > 0.1): exact two-sided p = 2 / 2^10 on each of 3 columns
    assert holm([2 / 2**10] * 3)[0] < 0.05
    assert all("*" in _cell(report, "paml", c).text for c in ("MSE", "nDCG@3", "nDCG@5"))
    assert any("Wilcoxon signed-rank" in note for note in report.caption)


def _ablation_runs(tmp_path):
    """Best vs second best differs from 'each against paml'."""
    variants = {  # (method, setting): (level, noise factor)
        ("paml", None): (1.30, 1.0),
        ("reg-paml", None): (1.00, -1.0),  # best, far better than paml
        ("at-paml", None): (1.01, 0.5),  # second, close to reg-paml, far better than paml
        ("reg-paml", 1e-5): (1.29, -0.5),  # barely better than paml: no star
        ("meta-sgd", None): (1.40, 1.0),
        ("meta-sgd", "lr"): (1.20, 0.3),  # better than plain meta-sgd
    }
    for (method, setting), (level, factor) in variants.items():
        params = {"gamma": setting} if isinstance(setting, float) else {"outer_lr": 1e-3} if setting else {}
        for seed in range(2):
            mse = level + USER_EFFECT + 0.05 * factor * WOBBLE
            _write(tmp_path, method, seed, _users(mse), dataset="d", params=params)
    for seed in range(2):
        _write(tmp_path, "bias", seed, _users(1.35 + USER_EFFECT), dataset="d")
    return load_runs(tmp_path)


def test_ablation_stars_improvements_over_paml(tmp_path):
    runs = _ablation_runs(tmp_path)
    runs.table.loc[runs.table["variant"] == "meta-sgd (outer_lr=0.001)", "variant"] = (
        "meta-sgd (bounded=True)"
    )
    report = ablation_table(runs, "d")
    assert [r[0].text for r in report.rows] == [
        "paml",
        "reg-paml (gamma=1e-05)",
        "reg-paml",
        "at-paml",
        "meta-sgd",
        "meta-sgd (bounded=True)",
        "bias",
    ]
    assert report.groups == ["PAML family"] * 4 + ["Meta-SGD"] * 2 + ["floors"]
    star = {r[0].text: "*" in r[report.columns.index("MSE")].text for r in report.rows}
    # best vs second best (reg-paml vs at-paml) would star nothing; against paml both get one
    assert star == {
        "paml": False,
        "reg-paml (gamma=1e-05)": False,
        "reg-paml": True,
        "at-paml": True,
        "meta-sgd": False,
        "meta-sgd (bounded=True)": True,
        "bias": False,
    }
    reg = pd.Series(1.0 + USER_EFFECT - 0.05 * WOBBLE)
    at = pd.Series(1.01 + USER_EFFECT + 0.025 * WOBBLE)
    assert stats.ttest_rel(reg, at).pvalue > 0.05
    assert "* improvement over PAML (the plain paml row)" in report.caption
    assert any("improvement over unbounded Meta-SGD" in note for note in report.caption)
    # 3 paml-family rows + 1 meta-sgd row, MSE only (nDCG is equal: no test)
    assert any("over the 4 comparisons" in note for note in report.caption)


def test_ablation_orders_gamma_and_marks_best(results):
    report = ablation_table(load_runs(results), "movielens", with_paper=True)
    assert [r[0].text for r in report.rows] == ["reg-paml (gamma=1e-05)", "reg-paml"]  # by γ, default 1e-3
    assert _cell(report, "reg-paml", "MSE").bold
    assert _cell(report, "reg-paml (gamma=1e-05)", "MSE").italic
    row = report.rows[0]
    assert row[report.columns.index("MSE") + 1].text == "1.509 ± 0.029"  # Table 3, γ = 1e-5
    assert any("no paml run" in note for note in report.caption)


def _floor_runs(tmp_path):
    levels = {"melu": 1.34, "paml": 1.0, "constant": 1.6, "user-mean": 1.45, "bias": 1.35}
    for method, level in levels.items():
        for seed in range(2):
            noise = WOBBLE * {"melu": 0.05, "paml": 0.01}.get(method, 0.0)
            ndcg = 0.7 + 0.1 * (method == "paml") + USER_EFFECT / 4 + noise / 2
            _write(tmp_path, method, seed, _users(level + USER_EFFECT + noise, ndcg=ndcg), dataset="d")
    return load_runs(tmp_path)


def test_floors_below_the_rule_and_the_bias_caption(tmp_path):
    report = main_table(_floor_runs(tmp_path), "d")
    assert set(FLOORS) <= set(METHOD_ORDER) and METHOD_ORDER[-len(FLOORS) :] == FLOORS
    assert [r[0].text for r in report.rows] == ["melu", "paml", "constant", "user-mean", "bias"]
    assert report.groups == ["methods", "methods", "floors", "floors", "floors"]
    # melu is no better than bias (its differences average 0.01 or less); paml beats it everywhere
    assert "does not beat the bias floor significantly: melu (MSE, nDCG@3, nDCG@5)" in report.caption
    assert "below the rule: floors (no meta-training)" in report.caption
    markdown = to_markdown(report)
    lines = markdown.splitlines()
    assert (
        lines.index("| *floors* | | | | |")
        == next(i for i, x in enumerate(lines) if x.startswith("| constant")) - 1
    )
    latex = to_latex(report).splitlines()
    assert latex[next(i for i, x in enumerate(latex) if x.startswith("constant")) - 1] == r"\midrule"
    rows = list(csv.reader(io.StringIO(to_csv(report))))
    assert rows[0][-1] == "group" and [r[-1] for r in rows[1:]] == report.groups
    rich = to_rich(report)
    assert [row.end_section for row in rich.rows] == [False, True, False, False, False]


def test_every_method_beats_the_floor(tmp_path):
    for seed in range(2):
        ndcg = 0.8 + 0.01 * WOBBLE
        _write(tmp_path, "paml", seed, _users(1.0 + USER_EFFECT + 0.01 * WOBBLE, ndcg=ndcg), dataset="d")
        _write(tmp_path, "bias", seed, _users(1.3 + USER_EFFECT, ndcg=0.7), dataset="d")
    report = main_table(load_runs(tmp_path), "d")
    assert "every method beats the bias floor significantly in every tested column" in report.caption


def test_metrics_option_and_older_runs_without_ndcg_lin(tmp_path):
    lin = 0.6 + USER_EFFECT / 4
    for seed in range(2):
        _write(tmp_path, "paml", seed, _users(1.0 + USER_EFFECT, **{"ndcg_lin@3": lin}), dataset="d")
        _write(tmp_path, "melu", seed, _users(1.2 + USER_EFFECT), dataset="d")  # an older run
    report = main_table(load_runs(tmp_path), "d", metrics="mse,ndcg_lin@3")
    assert report.columns == ["method", "seeds", "MSE", "nDCG_lin@3"]
    assert _cell(report, "melu", "nDCG_lin@3").text == "–"
    assert _cell(report, "paml", "nDCG_lin@3").text == _ci_text(lin.mean(), lin)
    with pytest.raises(ColdbenchError, match=r"--metrics 'auc': unknown for rating tables; known: mse, mae"):
        main_table(load_runs(tmp_path), "d", metrics=["mse", "auc"])
    with pytest.raises(ColdbenchError, match="--test 'anova'"):
        main_table(load_runs(tmp_path), "d", test="anova")


def test_minor_major_p_value_holm_and_intervals(tmp_path):
    rng = np.random.default_rng(0)
    per_seed = [rng.normal(1.0 + 0.3 * ~MAJOR, 0.2) for _ in range(3)]
    for seed, mse in enumerate(per_seed):
        _write(tmp_path, "melu", seed, _users(mse), dataset="d")
        _write(tmp_path, "paml", seed, _users(mse[::-1]), dataset="d")
    report = minor_major_table(load_runs(tmp_path), "d")
    averaged = np.mean(per_seed, axis=0)
    minor, major = averaged[~MAJOR], averaged[MAJOR]
    # Student's t with pooled variance, by hand
    n1, n2 = len(minor), len(major)
    pooled = ((n1 - 1) * minor.var(ddof=1) + (n2 - 1) * major.var(ddof=1)) / (n1 + n2 - 2)
    t = (minor.mean() - major.mean()) / math.sqrt(pooled * (1 / n1 + 1 / n2))
    p = 2 * stats.t.sf(abs(t), n1 + n2 - 2)
    assert _cell(report, "melu", "p-value").text == f"{p:.3g}"
    paml_p = stats.ttest_ind(averaged[::-1][~MAJOR], averaged[::-1][MAJOR]).pvalue
    assert _cell(report, "melu", "p Holm").text == f"{holm([p, paml_p])[0]:.3g}"
    assert _cell(report, "melu", "major / minor users").text == "6 / 4"
    major_mean = np.mean([m[MAJOR].mean() for m in per_seed])
    assert _cell(report, "melu", "MSE major").text == _ci_text(major_mean, major)
    welch = minor_major_table(load_runs(tmp_path), "d", welch=True, correction="none")
    assert (
        _cell(welch, "melu", "p-value").text == f"{stats.ttest_ind(minor, major, equal_var=False).pvalue:.3g}"
    )
    assert "p Holm" not in welch.columns


def test_ctr_table_floors_against_user_mean(tmp_path):
    for method, auc in {"melu": 0.70, "paml": 0.75, "constant": 0.5, "user-mean": 0.69}.items():
        for seed in range(2):
            frame = pd.DataFrame(
                {
                    "user_id": [f"u{i}" for i in range(N_USERS)],
                    "major": MAJOR,
                    "n_query": 2,
                    "auc": auc + USER_EFFECT / 4 + WOBBLE * {"melu": 0.02, "paml": 0.005}.get(method, 0),
                    "nel": 0.6
                    - auc / 2
                    + USER_EFFECT / 4
                    + WOBBLE * {"melu": 0.02, "paml": 0.005}.get(method, 0),
                }
            )
            _write(tmp_path, method, seed, frame, dataset="d-ctr")
    report = ctr_table(load_runs(tmp_path), "d-ctr")
    assert report.columns[2] == "AUC all" and report.groups[-2:] == ["floors", "floors"]
    assert (
        "does not beat the user-mean floor significantly: melu (AUC all, NEL all) (all users)"
        in report.caption
    )
    assert len(_cell(report, "paml", "AUC all").text.split("[")[0].strip().split(".")[1]) == 4
    floors_only = load_runs(tmp_path).table
    floors_only = Runs(floors_only[floors_only["method"].isin(["constant", "user-mean"])])
    caption = " ".join(ctr_table(floors_only, "d-ctr").caption)
    assert "floor check" not in caption and "beat" not in caption  # floors only: nothing to check


def test_paper_numbers_are_labelled_with_the_difference(results):
    report = main_table(load_runs(results), "movielens", with_paper=True)
    row = next(r for r in report.rows if r[0].text == "melu")
    index = report.columns.index("MSE")
    assert report.columns[index + 1 : index + 3] == ["paper", "Δ"]
    assert row[index + 1].text == "1.451 ± 0.022"
    melu_mean = np.mean([_noisy(1.5, s).mean() for s in range(3)])
    assert row[index + 2].text == f"{melu_mean - 1.451:+.3f}"
    assert any("reported by Yu et al." in note and "not measured here" in note for note in report.caption)


def test_only_one_preparation_is_compared(results):
    write_fake_run(
        results,
        "melu",
        0,
        _users(np.full(N_USERS, 9.9)),
        dataset="movielens",
        dataset_hash="other-hash",
        config_id="other",
    )
    report = main_table(load_runs(results), "movielens")
    assert _cell(report, "melu", "MSE").text.startswith(
        f"{np.mean([_noisy(1.5, s).mean() for s in range(3)]):.3f} ["
    )
    assert any("left out" in note and "other-hash" in note for note in report.caption)


def test_variant_label_names_non_default_settings():
    assert variant_label("reg-paml", {"gamma": 1e-3, "outer_lr": 5e-5}) == "reg-paml"
    assert variant_label("reg-paml", {"gamma": 1e-2, "outer_lr": 5e-5}) == "reg-paml (gamma=0.01)"
    assert variant_label("melu", {}, {"epochs": 10, "hidden": [320, 192], "buckets": 8}) == "melu (epochs=10)"


def test_renderers(results):
    report = main_table(load_runs(results), "movielens")
    text = _cell(report, "reg-paml", "MSE").text
    markdown = to_markdown(report)
    assert "| method | seeds | MSE |" in markdown and f"**{text.replace('*', chr(92) + '*')}**" in markdown
    latex = to_latex(report)
    assert rf"\textbf{{{text}}}" in latex and r"\begin{tabular}" in latex
    rows = list(csv.reader(io.StringIO(to_csv(report))))
    assert rows[0][:3] == ["method", "seeds", "MSE"] and len(rows) == 4


def test_cli_report_options_and_errors(results, tmp_path, cli):
    out = tmp_path / "main.md"
    args = ("--results-dir", str(results))
    code, _, err = cli(
        "report", "--table", "main", "--format", "markdown", "--paper", "--out", str(out), *args
    )
    assert code == 0, err
    assert "1.451 ± 0.022" in out.read_text() and "paired t-test" in out.read_text()
    code, text, err = cli(
        "report", "--table", "main", "--format", "csv", "--test", "seeds", "--correction", "none",
        "--metrics", "mse,mae", *args,
    )  # fmt: skip
    assert code == 0, err
    assert text.splitlines()[0] == "method,seeds,MSE,MAE,group"
    code, text, err = cli(
        "report", "--table", "ablation", "--test", "wilcoxon", "--format", "markdown", *args
    )
    assert code == 0 and "Wilcoxon signed-rank" in text, err
    code, _, err = cli("report", "--table", "main", "--metrics", "nosuch", *args)
    assert code == 1 and "--metrics 'nosuch'" in err and "known: mse" in err
    code, _, err = cli("report", "--table", "main", "--test", "anova", *args)
    assert code == 1 and "--test 'anova'" in err
    code, _, err = cli("report", "--table", "main", "--correction", "bh", *args)
    assert code == 1 and "--correction 'bh'" in err
    code, _, err = cli("report", "--table", "nosuch", *args)
    assert code == 1 and "--table 'nosuch'" in err
    code, out_text, _ = cli("report", *args)
    assert code == 0 and "reg-paml" in out_text


def test_main_table_uses_each_methods_plainest_variant(tmp_path):
    demo = {"outer_lr": 1e-3}
    for seed in range(2):
        write_fake_run(tmp_path, "melu", seed, _users(_noisy(1.0, seed)), dataset="d", params=demo)
        write_fake_run(tmp_path, "paml", seed, _users(_noisy(0.5, seed)), dataset="d", params=demo)
        write_fake_run(tmp_path, "paml", seed, _users(_noisy(0.9, seed)), dataset="other")
    report = main_table(load_runs(tmp_path), "d")
    assert [r[0].text for r in report.rows] == ["melu (outer_lr=0.001)", "paml (outer_lr=0.001)"]


def test_a_floor_run_with_settings_is_still_the_floor_reference(tmp_path):
    for seed in range(2):
        ndcg = 0.8 + 0.01 * WOBBLE
        _write(tmp_path, "paml", seed, _users(1.0 + USER_EFFECT + 0.01 * WOBBLE, ndcg=ndcg), dataset="d")
        params = {"item_shrinkage": 5.0}
        _write(tmp_path, "bias", seed, _users(1.3 + USER_EFFECT, ndcg=0.7), dataset="d", params=params)
    report = main_table(load_runs(tmp_path), "d")
    assert [r[0].text for r in report.rows] == ["paml", "bias (item_shrinkage=5)"]
    assert "every method beats the bias floor significantly in every tested column" in report.caption


def _with_train(folder, **train) -> None:
    """Record engine settings (``epochs=2``...) in a fake run's config, as ``train`` writes them."""
    config = json.loads((folder / "config.json").read_text())
    config["train"] = train
    (folder / "config.json").write_text(json.dumps(config))


@pytest.fixture
def short_runs(tmp_path):
    """at-paml and reg-paml (γ = 0.01) trained for 2 epochs, and global, on 'movielens'."""
    for method, level, params in (
        ("at-paml", 1.2, {}),
        ("reg-paml", 1.1, {"gamma": 0.01}),
        ("global", 1.4, {}),
    ):
        for seed in range(2):
            folder = _write(
                tmp_path, method, seed, _users(_noisy(level, seed)), dataset="movielens", params=params
            )
            _with_train(folder, epochs=2)
    return load_runs(tmp_path)


def test_paper_numbers_match_by_method_and_mark_other_settings(short_runs):
    report = main_table(short_runs, "movielens", with_paper=True)
    index = report.columns.index("MSE") + 1
    assert _cell(report, "at-paml (epochs=2)", "MSE") is not None
    row = next(r for r in report.rows if r[0].text == "at-paml (epochs=2)")
    assert row[index].text == "1.322 ± 0.007 †"  # Table 2's AT-PAML, marked: the settings differ
    assert row[index + 1].text.startswith(("+", "-"))
    caption = " ".join(report.caption)
    assert "at-paml (epochs=2) (paper: at-paml; differs in epochs=2)" in caption
    assert "the paper reports no number for global" in caption
    ablation = ablation_table(short_runs, "movielens", with_paper=True)
    row = next(r for r in ablation.rows if r[0].text == "reg-paml (gamma=0.01, epochs=2)")
    assert row[ablation.columns.index("MSE") + 1].text == "1.191 ± 0.021 †"  # Table 3, γ = 1e-2
    minor_major = minor_major_table(short_runs, "movielens", with_paper=True)
    row = next(r for r in minor_major.rows if r[0].text == "at-paml (epochs=2)")
    assert row[minor_major.columns.index("paper major")].text.endswith(" †")


def test_paper_match_prefers_the_most_specific_entry():
    from coldbench.report.tables import paper_match

    paper = {"reg-paml": {}, "reg-paml (gamma=0.01)": {}, "melu": {}}
    assert paper_match(paper, "reg-paml (gamma=0.01)").differ == ()
    match = paper_match(paper, "reg-paml (epochs=2, gamma=0.01)")
    assert (match.key, match.differ) == ("reg-paml (gamma=0.01)", ("epochs=2",))
    assert paper_match(paper, "reg-paml (gamma=0.5)").key == "reg-paml"
    assert paper_match(paper, "melu (hidden=[64, 32])").differ == ("hidden=[64, 32]",)
    assert paper_match(paper, "global") is None and paper_match({}, "melu") is None


def _rendered(report, width: int = 80) -> str:
    from rich.console import Console

    console = Console(width=width, record=True, file=io.StringIO())
    console.print(to_rich(report))
    return console.export_text()


def test_rich_at_80_columns_keeps_labels_and_prints_no_markdown(short_runs):
    report = main_table(short_runs, "movielens", with_paper=True)
    report.caption.append("a **bold** note with [brackets]")
    text = _rendered(report)
    assert "…" not in text and "**" not in text
    assert "at-paml" in text and "(epochs=2)" in text and "reg-paml" in text
    assert "(gamma=0.01," in text and "epochs=2)" in text  # the settings may wrap, never cut
    assert "a bold note with [brackets]" in " ".join(text.split())
    assert max(len(line) for line in text.splitlines()) <= 80
    narrow = _rendered(minor_major_table(short_runs, "movielens"))
    assert "…" not in narrow and "at-paml" in narrow


def test_cli_report_help_shows_no_bool_for_flags(cli):
    code, text, _ = cli("report", "--help")
    assert code == 0
    lines = [line for line in text.splitlines() if "--paper" in line or "--welch" in line]
    assert lines and not any("<bool>" in line or "--no-" in line for line in lines)


def test_ablation_reference_is_the_plain_paml_row_whatever_its_preset_label(tmp_path):
    """Paper-preset runs are labelled `paml [paper]`: the Table 3 test still finds its reference."""
    train = {"epochs": 20, "patience": 0, "min_delta": 0.0}
    for seed in range(2):
        _write(tmp_path, "paml", seed, _users(1.3 + USER_EFFECT + 0.01 * WOBBLE), dataset="d")
        _write(tmp_path, "reg-paml", seed, _users(1.0 + USER_EFFECT + 0.03 * WOBBLE), dataset="d")
    for folder in tmp_path.glob("d/*/*/seed-*"):
        config = json.loads((folder / "config.json").read_text())
        (folder / "config.json").write_text(json.dumps({**config, "train": train}))
    report = ablation_table(load_runs(tmp_path), "d")
    assert [r[0].text for r in report.rows][:2] == ["paml [paper]", "reg-paml [paper]"]
    assert report.rows[1][2].text.split(" ")[0].endswith("*")  # reg-paml beats paml, tested
    assert not any("no paml run" in note for note in report.caption)


def test_ablation_shows_first_order_and_last_layer_melu_against_plain_melu(tmp_path):
    """FO-MAML and ANIL readings of MeLU get their own block, each tested against plain MeLU."""
    for train, level, factor in (
        ({}, 1.30, 1.0),
        ({"first_order": True}, 1.20, -1.0),
        ({"adapt": "last"}, 1.29, 0.5),
    ):
        for seed in range(2):
            mse = level + USER_EFFECT + 0.05 * factor * WOBBLE
            config_id = "melu-" + "-".join(train) if train else None
            folder = _write(tmp_path, "melu", seed, _users(mse), dataset="d", config_id=config_id)
            _with_train(folder, **train)
    for seed in range(2):
        _write(tmp_path, "paml", seed, _users(1.3 + USER_EFFECT), dataset="d")
    report = ablation_table(load_runs(tmp_path), "d")
    rows = [r[0].text for r in report.rows]
    assert rows == ["paml", "melu", "melu (adapt=last)", "melu (first_order=True)"]
    assert report.groups == ["PAML family", "MeLU", "MeLU", "MeLU"]
    star = {r[0].text: "*" in r[report.columns.index("MSE")].text for r in report.rows}
    assert star == {"paml": False, "melu": False, "melu (adapt=last)": False, "melu (first_order=True)": True}
    assert "in the MeLU block, * improvement over plain MeLU" in report.caption


def test_a_run_without_its_per_user_file_is_a_one_line_error(tmp_path, cli):
    """An older run (no checksums recorded) whose per_user.parquet is gone: named, not a traceback."""
    for seed in range(2):
        write_fake_run(tmp_path, "melu", seed, _users(_noisy(1.0, seed)), dataset="d")
    lost = write_fake_run(tmp_path, "paml", 0, _users(_noisy(0.5, 0)), dataset="d") / "per_user.parquet"
    lost.unlink()
    code, _, err = cli("report", "--table", "main", "--results-dir", str(tmp_path))
    assert code == 1
    assert str(lost) in err and "Traceback" not in err


def _state_users(seed: int, level: float) -> pd.DataFrame:
    """Per-user rows of the four states: training users t0..t7 (warm, item-cold), test users u0..u9."""
    frames = []
    for k, state in enumerate(("warm", "user-cold", "item-cold", "user-item-cold")):
        n = 8 if state in ("warm", "item-cold") else 10
        mse = level + 0.1 * k + np.linspace(-0.2, 0.2, n) + 0.03 * np.sin(np.arange(n) * (seed + 2) * level)
        prefix = "t" if state in ("warm", "item-cold") else "u"
        frames.append(
            pd.DataFrame(
                {
                    "user_id": [f"{prefix}{i}" for i in range(n)],
                    "major": MAJOR[:n],
                    "mse": mse,
                    "mae": np.sqrt(mse),
                    "state": state,
                }
            )
        )
    return pd.concat(frames, ignore_index=True)


def test_states_table_against_pandas_and_scipy(tmp_path):
    from coldbench.report.stats import holm

    levels = {"melu": 1.2, "paml": 0.9, "mf": 1.0, "bias": 1.1}
    for method, level in levels.items():
        for seed in range(2):
            write_fake_run(tmp_path, method, seed, _state_users(seed, level), dataset="d")
    report = states_table(load_runs(tmp_path), "d")
    rows = {row[0]: row for row in csv.reader(io.StringIO(to_csv(report)))}
    assert report.columns[2:] == ["MSE warm", "MSE user-cold", "MSE item-cold", "MSE user-item-cold"]
    frames = {m: pd.concat([_state_users(s, level) for s in range(2)]) for m, level in levels.items()}
    tests = []
    for j, state in enumerate(("warm", "user-cold", "item-cold", "user-item-cold")):
        per_user = {m: f[f["state"] == state].groupby("user_id")["mse"].mean() for m, f in frames.items()}
        for method in levels:
            seeds = [_state_users(s, levels[method]) for s in range(2)]
            mean = np.mean([f.loc[f["state"] == state, "mse"].mean() for f in seeds])
            values = per_user[method]
            low, high = stats.t.interval(0.95, len(values) - 1, loc=values.mean(), scale=stats.sem(values))
            cell = rows[method][2 + j]
            assert cell.startswith(f"{mean:.3f}") and cell.endswith(f"[{low:.3f}, {high:.3f}]"), (
                method,
                state,
            )
        tests.append((state, "melu", "bias", stats.ttest_rel(per_user["melu"], per_user["bias"]).pvalue))
        tests.append((state, "mf", "bias", stats.ttest_rel(per_user["mf"], per_user["bias"]).pvalue))
        tests.append((state, "melu", "mf", stats.ttest_rel(per_user["melu"], per_user["mf"]).pvalue))
        tests.append((state, "paml", "bias", stats.ttest_rel(per_user["paml"], per_user["bias"]).pvalue))
        tests.append((state, "paml", "mf", stats.ttest_rel(per_user["paml"], per_user["mf"]).pvalue))
    assert "Holm–Bonferroni correction over the 20 comparisons" in " ".join(report.caption)
    adjusted = dict(zip([t[:3] for t in tests], holm([t[3] for t in tests])))
    # melu is worse than mf everywhere: no star; mf beats bias wherever its adjusted p is below 0.05
    assert not any("*" in cell for cell in rows["melu"][2:6])
    for j, state in enumerate(("warm", "user-cold", "item-cold", "user-item-cold")):  # paml beats mf
        assert ("*" in rows["paml"][2 + j]) == (adjusted[(state, "paml", "mf")] < 0.05), state
    assert any("*" in cell for cell in rows["paml"][2:6])
    from coldbench.report.tables.states import states_tests

    listed = states_tests(load_runs(tmp_path), "d").set_index(["state", "variant", "reference"])
    assert len(listed) == len(tests) == 20
    for state, variant, reference, p in tests:
        assert listed.loc[(state, variant, reference), "p"] == pytest.approx(p, rel=1e-9)
        assert listed.loc[(state, variant, reference), "p_adjusted"] == pytest.approx(
            adjusted[(state, variant, reference)], rel=1e-9
        )
    failing = [
        s for s in ("warm", "user-cold", "item-cold", "user-item-cold") if adjusted[(s, "mf", "bias")] >= 0.05
    ]
    note = next(line for line in report.caption if "bias floor" in line)
    assert ("MSE " + failing[0]) in note if failing else "mf (" not in note
    assert "melu (MSE warm, MSE user-cold, MSE item-cold, MSE user-item-cold)" in note


def test_states_table_needs_four_state_runs(results):
    with pytest.raises(ColdbenchError, match="no runs of the four-state protocol"):
        states_table(load_runs(results), "movielens")


def _shots(folder, level: float, seed: int, support: np.ndarray, ks=(0, 1, 2, 4)) -> pd.DataFrame:
    """A hand-made shots.parquet: user i has support[i] ratings; its MSE falls with k."""
    rows = []
    for k in (*ks, -1):
        for i, n in enumerate(support):
            if k <= n:
                mse = level + 0.5 / (1 + max(k, 0)) + 0.05 * np.sin(3 * i + seed + k + 7 * level)
                rows.append(
                    {
                        "user_id": f"u{i}",
                        "major": bool(MAJOR[i]),
                        "k": k,
                        "n_support_full": int(n),
                        "mse": mse,
                    }
                )
    frame = pd.DataFrame(rows)
    frame.to_parquet(folder / "shots.parquet", index=False)
    return frame


def test_shots_table_against_pandas_and_scipy(tmp_path):
    from coldbench.report.stats import holm

    support = np.array([1, 2, 4, 4, 8, 3, 5, 6, 2, 9])
    levels = {"melu": 1.0, "bias": 1.1}
    frames = {m: [] for m in levels}
    for method, level in levels.items():
        for seed in range(2):
            folder = write_fake_run(tmp_path, method, seed, _users(_noisy(level, seed)), dataset="d")
            frames[method].append(_shots(folder, level, seed, support).assign(seed=seed))
    report = shots_table(load_runs(tmp_path), "d")
    rows = {row[0]: row for row in csv.reader(io.StringIO(to_csv(report)))}
    assert report.columns[2:] == [f"k={k} (n={(support >= k).sum()})" for k in (0, 1, 2, 4)]
    pvalues = []
    for j, k in enumerate((0, 1, 2, 4)):
        per_user = {}
        for method in levels:
            both = pd.concat(frames[method])
            at_k = both[both["k"] == k]
            per_user[method] = at_k.groupby("user_id")["mse"].mean()
            mean = at_k.groupby("seed")["mse"].mean().mean()
            values = per_user[method]
            low, high = stats.t.interval(0.95, len(values) - 1, loc=values.mean(), scale=stats.sem(values))
            cell = rows[method][2 + j]
            assert cell.startswith(f"{mean:.3f}") and cell.endswith(f"[{low:.3f}, {high:.3f}]"), (method, k)
        pvalues.append(stats.ttest_rel(per_user["melu"], per_user["bias"]).pvalue)
    adjusted = holm(pvalues)
    for j, p in enumerate(adjusted):
        assert ("*" in rows["melu"][2 + j]) == (p < 0.05)
    fixed = shots_table(load_runs(tmp_path), "d", users="fixed")
    assert fixed.columns[2:] == [f"k={k} (n={(support >= 4).sum()})" for k in (0, 1, 2, 4)]
    write_fake_run(tmp_path / "x", "melu", 0, _users(_noisy(1.0, 0)), dataset="e")
    with pytest.raises(ColdbenchError, match="no k-shot results"):
        shots_table(load_runs(tmp_path / "x"), "e")


def test_captions_speak_only_of_what_the_table_shows(tmp_path):
    for seed in range(2):
        _write(tmp_path, "melu", seed, _users(_noisy(1.2, seed)), dataset="d")
        _write(tmp_path, "paml", seed, _users(_noisy(1.0, seed)), dataset="d")
        _write(tmp_path, "melu", seed, _users(_noisy(1.1, seed)), dataset="d", params={"outer_lr": 0.001})
    for path in tmp_path.rglob("metrics.json"):  # every run chose its last of 2 epochs: "still improving"
        metrics = json.loads(path.read_text())
        path.write_text(json.dumps({**metrics, "selected_epoch": 2, "epochs_run": 2, "stopped": "maximum"}))
    runs = load_runs(tmp_path)
    main = " | ".join(main_table(runs, "d").caption)
    assert "below the rule" not in main  # no floors ran: no rule
    warning = next(note for note in main.split(" | ") if note.startswith("WARNING: still improving"))
    assert "melu, paml" in warning
    assert "outer_lr=0.001" not in warning  # a variant the main table leaves out is not warned about
    ablation = " | ".join(ablation_table(runs, "d").caption)
    assert "Meta-SGD block" not in ablation and "MeLU block" in ablation


def test_a_starred_cell_in_italics_keeps_its_star_in_markdown():
    """Second best and significant: the star is escaped, so Markdown shows it instead of reading
    it as emphasis; the caption's star legend is no nested bullet."""
    from markdown_it import MarkdownIt

    from coldbench.report.tables.base import Cell, ReportTable

    report = ReportTable(
        "t",
        ["method", "MSE"],
        rows=[[Cell("a"), Cell("1.014* [1.009, 1.020]", italic=True)]],
        groups=["methods"],
    )
    report.caption = ["* improvement over PAML (the plain paml row)", "below the rule: floors"]
    html = MarkdownIt("commonmark").enable("table").render(to_markdown(report))
    assert "<em>1.014* [1.009, 1.020]</em>" in html
    assert "<li>* improvement over PAML (the plain paml row)</li>" in html and html.count("<ul>") == 1


def test_a_run_whose_recorded_mean_is_not_its_per_user_mean_is_refused(tmp_path, cli):
    """metrics.json's test MSE edited (its checksum recomputed, or none recorded): the table would
    average −3 with intervals from the real per-user scores; instead one line names the run."""
    for seed in range(2):
        _write(tmp_path, "melu", seed, _users(_noisy(8.0, seed)), dataset="d")
        _write(tmp_path, "bias", seed, _users(_noisy(1.0, seed)), dataset="d")
    edited = next((tmp_path / "d" / "melu").glob("*/seed-0"))
    metrics = json.loads((edited / "metrics.json").read_text())
    metrics["test"]["overall"]["mse"] = -3.0
    (edited / "metrics.json").write_text(json.dumps(metrics))
    runs = load_runs(tmp_path)
    for build in (main_table, minor_major_table):
        with pytest.raises(
            ColdbenchError,
            match=rf"^{re.escape(str(edited))}: metrics.json's test overall mse is -3, not 8\b",
        ):
            build(runs, "d")
    code, out, err = cli("report", "--table", "main", "--results-dir", str(tmp_path))
    assert code == 1 and "2.740" not in out and "-3" not in out
    assert err.count("\n") == 1 and str(edited) in err and "Traceback" not in err
    metrics["test"]["overall"]["mse"] = float(_noisy(8.0, 0).mean()) * (1 + 1e-9)  # float rounding: fine
    (edited / "metrics.json").write_text(json.dumps(metrics))
    assert main_table(load_runs(tmp_path), "d").rows[0][0].text == "melu"


def test_no_caption_line_speaks_of_what_the_table_lacks(tmp_path):
    """Bias alone: one minor/major test, so nothing for Holm to adjust; floors alone: no star line
    and no floor check; the plain paml row alone in the ablation: no star legend for it."""
    bias, floors, paml = tmp_path / "bias", tmp_path / "floors", tmp_path / "paml"
    for seed in range(2):
        _write(bias, "bias", seed, _users(_noisy(1.0, seed)), dataset="d")
        for method, level in (("bias", 1.0), ("constant", 1.3)):
            _write(floors, method, seed, _users(_noisy(level, seed)), dataset="d")
        for method, level in (("paml", 1.1), ("bias", 1.0)):
            _write(paml, method, seed, _users(_noisy(level, seed)), dataset="d")
    one = minor_major_table(load_runs(bias), "d").caption
    assert "p Holm: one test in this table, so not adjusted" in one
    assert not any("over the 1 tests" in line for line in one)
    main = " | ".join(main_table(load_runs(floors), "d").caption)
    assert "* " not in main and "floor check" not in main and "beat" not in main
    ablation = " | ".join(ablation_table(load_runs(paml), "d").caption)
    assert "improvement over PAML" not in ablation
    both = " | ".join(main_table(load_runs(paml), "d").caption)  # paml and bias: both lines stand
    assert "* would mark the best PAML-family method" in both and "bias floor" in both
    for seed in range(2):  # one Meta-SGD row: no star is possible in its block, so no legend for it
        _write(paml, "meta-sgd", seed, _users(_noisy(1.05, seed)), dataset="d")
    assert "Meta-SGD block" not in " | ".join(ablation_table(load_runs(paml), "d").caption)
    for seed in range(2):  # a second row (bounded): now it has a star to explain
        _write(paml, "meta-sgd", seed, _users(_noisy(1.0, seed)), dataset="d", params={"bounded": True})
    assert "in the Meta-SGD block, * improvement" in " | ".join(ablation_table(load_runs(paml), "d").caption)


def test_a_preset_keeps_its_own_runs_and_the_floors_only(tmp_path, cli):
    """--preset tuned: the [tuned] runs and the floors, as the help says; an untagged run of a
    meta-trained method (melu (epochs=1)) is neither a row nor counted in the caption."""
    tuned = {"settings": {"outer_lr": 1e-4}, "trials": 4, "pruner": "median", "sampler": "TPE"}
    for seed in range(2):
        _write(
            tmp_path,
            "paml",
            seed,
            _users(_noisy(1.0, seed)),
            dataset="d",
            params={"outer_lr": 1e-4},
            tuned=tuned,
        )
        _with_train(_write(tmp_path, "melu", seed, _users(_noisy(1.2, seed)), dataset="d"), epochs=1)
        _with_train(_write(tmp_path, "reg-paml", seed, _users(_noisy(1.1, seed)), dataset="d"), epochs=1)
        _write(tmp_path, "bias", seed, _users(_noisy(0.9, seed)), dataset="d")
    runs = load_runs(tmp_path).for_preset("tuned")
    assert sorted(set(runs.table["variant"])) == ["bias", "paml [tuned]"]
    report = main_table(runs, "d")
    assert [r[0].text for r in report.rows] == ["paml [tuned]", "bias"]
    assert report.caption[0] == "d: prepared data hash0 (4 runs)"
    code, text, err = cli(
        "report",
        "--table",
        "main",
        "--preset",
        "tuned",
        "--format",
        "markdown",
        "--results-dir",
        str(tmp_path),
    )
    assert code == 0, err
    assert "epochs=1" not in text and "(4 runs)" in text


def test_rich_at_80_columns_takes_two_lines_for_a_label_and_splits_no_number(short_runs):
    """reg-paml (gamma=0.01, epochs=2) and p-values such as 0.000265 in the minor/major table: the
    label takes two lines (it took three, one per setting), every number stays whole, nothing is cut."""
    report = minor_major_table(short_runs, "movielens")
    text = _rendered(report)
    assert max(len(line) for line in text.splitlines()) <= 80 and "…" not in text
    lines = text.splitlines()
    first = next(i for i, line in enumerate(lines) if "reg-paml" in line)
    label = " ".join(line.split("│")[0].strip() for line in lines[first : first + 3])
    assert label.startswith("reg-paml (gamma=0.01, epochs=2)"), label  # two lines, then an empty one
    words = {word for line in lines for word in line.replace("│", " ").replace("┃", " ").split()}
    for row in report.rows:
        for cell in row[1:]:
            assert set(cell.text.split()) <= words, cell.text  # each number printed whole
