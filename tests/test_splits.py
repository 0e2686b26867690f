"""Data splits as replicates: preparing splits, the hierarchical bootstrap, the split-level test,
and the splits table and its export against a direct pandas/scipy computation."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from coldbench.data.prepare import prepare
from coldbench.data.prepared import load_prepared
from coldbench.data.protocol import ProtocolConfig
from coldbench.data.splits import prepare_splits, split_base, split_name
from coldbench.errors import ColdbenchError
from coldbench.report.export import check_exported, export_splits
from coldbench.report.runs import load_runs
from coldbench.report.stats import hierarchical_bootstrap, holm, nested_mean, one_sample_p
from coldbench.report.tables import splits_table, to_markdown
from coldbench.report.tables.splits import split_studies, splits_tests, study_splits
from coldbench.testing import TINY_SYNTHETIC, write_fake_run

# ---------------------------------------------------------------- names and preparing


def test_a_split_is_named_by_its_protocol_seed_and_maps_back_to_its_study():
    assert split_name("movielens", 2) == "movielens-seed2"
    assert split_base("movielens-seed2", 2) == ("movielens", 2)
    assert split_base("movielens", 0) == ("movielens", 0)
    assert split_base("movielens-seed2", 0) == ("movielens-seed2", 0)  # a name, not a split
    assert split_base("ml-seed7-x", 7) == ("ml-seed7-x", 7)


def test_splits_are_the_same_recipe_with_the_next_protocol_seeds_and_are_reused(tmp_path):
    first = prepare("synthetic", config=ProtocolConfig(), options=TINY_SYNTHETIC, data_dir=tmp_path)
    prepared = load_prepared(first.path.name, tmp_path)
    splits = prepare_splits(prepared, 3, tmp_path)
    assert [s.name for s in splits] == ["synthetic", "synthetic-seed1", "synthetic-seed2"]
    assert [s.manifest["protocol"]["seed"] for s in splits] == [0, 1, 2]
    for split in splits[1:]:
        same = {k: v for k, v in split.manifest["protocol"].items() if k != "seed"}
        assert same == {k: v for k, v in prepared.manifest["protocol"].items() if k != "seed"}
        assert split.manifest["source_options"] == prepared.manifest["source_options"]
    test_users = [set(s.users.loc[s.users["split"] == "test", "user_id"]) for s in splits]
    assert test_users[0] != test_users[1] and test_users[1] != test_users[2]
    again = prepare_splits(prepared, 3, tmp_path)
    assert [s.manifest["content_hash"] for s in again] == [s.manifest["content_hash"] for s in splits]


@pytest.mark.parametrize("count", [0, 101])
def test_a_split_count_out_of_range_is_one_line(tmp_path, count):
    first = prepare("synthetic", config=ProtocolConfig(), options=TINY_SYNTHETIC, data_dir=tmp_path)
    with pytest.raises(ColdbenchError, match=f"--splits {count}"):
        prepare_splits(load_prepared(first.path.name, tmp_path), count, tmp_path)


# ---------------------------------------------------------------- statistics


def _reference_bootstrap(splits, resamples, rng):
    """The three-level bootstrap as a plain loop: splits, then seeds, then users, each resampled."""
    out = []
    for _ in range(resamples):
        split_means = []
        for s in rng.integers(0, len(splits), len(splits)):
            seeds = splits[s]
            seed_means = [
                seeds[k][rng.integers(0, len(seeds[k]), len(seeds[k]))].mean()
                for k in rng.integers(0, len(seeds), len(seeds))
            ]
            split_means.append(np.mean(seed_means))
        out.append(np.mean(split_means))
    return np.quantile(out, [0.025, 0.975])


def test_the_hierarchical_bootstrap_agrees_with_a_plain_three_level_loop():
    rng = np.random.default_rng(1)
    splits = [
        [rng.normal(level + shift, 1.0, n) for shift in (0.0, 0.1, -0.05)]
        for level, n in ((1.0, 60), (1.3, 45), (0.8, 70), (1.1, 50))
    ]
    low, high = hierarchical_bootstrap(splits, resamples=4000, seed=3)
    ref_low, ref_high = _reference_bootstrap(splits, 4000, np.random.default_rng(5))
    width = ref_high - ref_low
    assert abs(low - ref_low) < 0.08 * width and abs(high - ref_high) < 0.08 * width
    assert low < nested_mean(splits) < high


def test_without_user_or_seed_spread_the_interval_is_the_bootstrap_of_the_split_means():
    splits = [[np.full(5, 1.0), np.full(7, 1.0)], [np.full(4, 2.0)], [np.full(6, 3.0), np.full(6, 3.0)]]
    assert nested_mean(splits) == pytest.approx(2.0)
    assert hierarchical_bootstrap(splits) == (1.0, 3.0)  # all-1 and all-3 resamples are 1/27 each


def test_one_split_has_no_split_level_interval_and_nans_are_dropped():
    assert np.isnan(hierarchical_bootstrap([[np.arange(5.0)]])).all()
    with_nan = [[np.array([1.0, np.nan, 3.0])], [np.array([2.0, 2.0])]]
    assert nested_mean(with_nan) == pytest.approx(2.0)


def test_the_split_level_test_is_scipys_paired_t_test_over_split_means():
    a, b = np.array([1.0, 1.2, 0.9, 1.1]), np.array([0.8, 1.1, 0.95, 0.9])
    assert one_sample_p(a - b) == pytest.approx(stats.ttest_rel(a, b).pvalue, rel=1e-12)
    assert np.isnan(one_sample_p([0.1])) and np.isnan(one_sample_p([0.2, 0.2]))


# ---------------------------------------------------------------- the table


def _scores(level: float, seed: int, n: int = 30) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    mse = level + rng.normal(0, 0.3, n) ** 2
    return pd.DataFrame(
        {
            "user_id": [f"u{i}" for i in range(n)],
            "major": np.arange(n) % 2 == 0,
            "n_support": 5,
            "n_query": 2,
            "mse": mse,
            "mae": np.sqrt(mse),
            "ndcg@3": rng.uniform(0.4, 1, n),
            "ndcg@5": rng.uniform(0.4, 1, n),
        }
    )


@pytest.fixture
def split_study(tmp_path):
    results = tmp_path / "results"
    for split in range(3):
        name = "d" if split == 0 else f"d-seed{split}"
        for method, level in (("melu", 1.0 + 0.1 * split), ("reg-paml", 0.9 + 0.05 * split), ("bias", 0.95)):
            for seed in range(2):
                write_fake_run(
                    results,
                    method,
                    seed,
                    _scores(level, 1000 * split + 10 * seed + sum(map(ord, method))),
                    dataset=name,
                    dataset_hash=f"h{split}",
                    protocol={"seed": split},
                )
    return load_runs(results)


def _direct(results, method: str, metric: str):
    """Per split: the mean over seeds of each run's mean, and the users' seed means (pandas)."""
    split_means, users = [], []
    for split in range(3):
        name = "d" if split == 0 else f"d-seed{split}"
        frames = [
            pd.read_parquet(path).assign(seed=path.parent.name)
            for path in sorted((results / name / method).glob("*/seed-*/per_user.parquet"))
        ]
        frame = pd.concat(frames)
        split_means.append(frame.groupby("seed")[metric].mean().mean())
        users.append(frame.groupby("user_id")[metric].mean().rename(lambda u, s=split: f"{s}:{u}"))
    return np.array(split_means), pd.concat(users)


def test_the_splits_table_is_a_direct_pandas_and_scipy_computation(split_study, tmp_path):
    results = tmp_path / "results"
    assert study_splits(split_study, "d") == {0: "d", 1: "d-seed1", 2: "d-seed2"}
    assert split_studies(split_study) == ["d"]
    tests = splits_tests(split_study, "d", metrics="mse,ndcg@3").set_index(["variant", "metric"])
    p_splits, p_users = [], []
    for method in ("melu", "reg-paml"):
        for metric in ("mse", "ndcg@3"):
            means, users = _direct(results, method, metric)
            ref_means, ref_users = _direct(results, "bias", metric)
            row = tests.loc[(method, metric)]
            assert row["mean"] == pytest.approx(means.mean(), rel=1e-12)
            assert row["by_split"] == pytest.approx(list(means), rel=1e-12)
            assert row["p_splits"] == pytest.approx(stats.ttest_rel(means, ref_means).pvalue, rel=1e-9)
            both = pd.concat([users, ref_users], axis=1, join="inner")
            assert row["p_users"] == pytest.approx(
                stats.ttest_rel(both.iloc[:, 0], both.iloc[:, 1]).pvalue, rel=1e-9
            )
            p_splits.append(row["p_splits"])
            p_users.append(row["p_users"])
    order = [(m, k) for m in ("melu", "reg-paml") for k in ("mse", "ndcg@3")]
    assert [tests.loc[key, "p_splits_adjusted"] for key in order] == pytest.approx(holm(p_splits), rel=1e-12)
    assert [tests.loc[key, "p_users_adjusted"] for key in order] == pytest.approx(holm(p_users), rel=1e-12)
    text = to_markdown(splits_table(split_study, "d", metrics="mse"))
    melu = _direct(results, "melu", "mse")[0]
    assert f"| melu | 3 × 2 | {melu.mean():.3f} [" in text
    assert " / ".join(f"{x:.3f}" for x in melu) in text
    assert "unit: data split, n = 3" in text and "hierarchical bootstrap" in text


def test_a_study_on_one_split_or_without_bias_is_refused_in_one_line(split_study):
    one = type(split_study)(split_study.table[split_study.table["dataset"] == "d"])
    with pytest.raises(ColdbenchError, match="runs on 1 data split"):
        splits_table(one, "d")
    no_bias = type(split_study)(split_study.table[split_study.table["method"] != "bias"])
    with pytest.raises(ColdbenchError, match="tests against bias"):
        splits_table(no_bias, "d")


def test_a_method_missing_from_a_split_is_left_out_and_named(split_study):
    table = split_study.table
    partial = type(split_study)(table[~((table["method"] == "melu") & (table["dataset"] == "d-seed2"))])
    report = splits_table(partial, "d")
    assert [row[0].text for row in report.rows] == ["reg-paml", "bias"]
    assert any("left out (not run on every split): melu" in line for line in report.caption)


def test_a_splits_study_exports_each_split_and_its_table_and_an_edit_fails_the_check(split_study, tmp_path):
    out = tmp_path / "export"
    export_splits(split_study, "d", out)
    assert sorted(p.name for p in out.iterdir() if p.is_dir()) == ["d", "d-seed1", "d-seed2"]
    assert check_exported(out) > 0
    assert load_runs(out).table["dataset"].nunique() == 3  # a folder of committed studies reads back
    table = out / "table-splits.md"
    original = table.read_text()
    table.write_text(original.replace(" / ", " / 9", 1))  # one per-split mean changed
    with pytest.raises(ColdbenchError, match="table-splits.md"):
        check_exported(out)
    table.write_text(original)
    users = out / "d-seed1" / "per_user.parquet"
    frame = pd.read_parquet(users)
    edited = frame.copy()
    edited.loc[edited.index[0], "mse"] += 5.0  # one user: the run's mean no longer matches its users
    edited.to_parquet(users, index=False)
    with pytest.raises(ColdbenchError, match=r"not [\d.]+, the mean of its rows in per_user\.parquet"):
        check_exported(out)
    run = frame["run"].iloc[0]
    first = frame[frame["run"] == run].iloc[0]  # two users of one group, so every group's mean stays
    rows = frame.index[(frame["run"] == run) & (frame["major"] == first["major"])]
    frame.loc[rows[0], "mse"] += 0.5  # two users of one run: the mean kept, the interval and p moved
    frame.loc[rows[1], "mse"] -= 0.5
    frame.to_parquet(users, index=False)
    with pytest.raises(ColdbenchError, match="differs from the one its committed runs give"):
        check_exported(out)


def test_sweep_runs_every_split_with_the_committed_recommended_settings(tmp_path, cli):
    first = prepare("synthetic", config=ProtocolConfig(), options=TINY_SYNTHETIC, data_dir=tmp_path / "data")
    results = tmp_path / "results"
    common = ["--datasets", str(first.path), "--results-dir", str(results), "--device", "cpu"]
    code, out, err = cli(
        "sweep", "--methods", "bias,constant", "--splits", "2", "--preset", "recommended", *common
    )
    assert code == 0, err
    assert (
        tmp_path / "data" / "prepared" / "synthetic-seed1" / "manifest.json"
    ).is_file()  # beside the first
    runs = load_runs(results).table
    assert sorted(set(runs["dataset"])) == ["synthetic", "synthetic-seed1"]
    bias = runs[runs["method"] == "bias"]
    assert set(bias["variant"]) == {"bias [recommended]"}  # the committed synthetic study's settings
    code, out, err = cli("report", "--results-dir", str(results), "--table", "splits", "--format", "markdown")
    assert code == 0, err
    assert "Over data splits — synthetic" in out and "unit: data split, n = 2" in out
    code, _, err = cli("sweep", "--methods", "bias", "--splits", "0", *common)
    assert code == 1 and "--splits 0: expected 1 to 100" in err


def test_a_pair_of_methods_is_tested_over_splits_as_a_row_against_bias(split_study, tmp_path):
    from coldbench.report.tables.splits import pair_test

    results = tmp_path / "results"
    a, _ = _direct(results, "melu", "mse")
    b, _ = _direct(results, "reg-paml", "mse")
    test = pair_test(split_study, "d", "melu", "reg-paml")
    assert test.by_split == pytest.approx(list(a), rel=1e-12)
    assert test.p_splits == pytest.approx(stats.ttest_rel(a, b).pvalue, rel=1e-9)
