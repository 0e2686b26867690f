"""k-shot evaluation of finished runs: nested seeded subsets, the whole-support point, k = 0."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from coldbench.data.prepare import prepare
from coldbench.data.prepared import load_prepared
from coldbench.testing import TINY_SYNTHETIC
from coldbench.training.loaded import load_run
from coldbench.training.shots import cut_support, evaluate_shots, shot_ranks
from coldbench.training.trainer import train

SMALL = {"embedding_dim": "4", "hidden": "[8]", "batch_size": "16", "epochs": "2", "outer_lr": "1e-3"}


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    home = tmp_path_factory.mktemp("shots")
    result = prepare("synthetic", options=TINY_SYNTHETIC, data_dir=home)
    dataset = load_prepared(result.path.name, home)
    trained = {}
    methods = [(m, SMALL) for m in ("melu", "tanp", "transfer", "at-paml", "mamo", "paml")]
    for method, overrides in [*methods, ("bias", {}), ("mf", {}), ("user-mean", {})]:
        trained[method] = train(method, dataset, [0], overrides, device="cpu", results_dir=home / "r")[0].path
    return home, trained


def _support(split, user: int) -> set[int]:
    rows = slice(split.support.offsets[user], split.support.offsets[user + 1])
    return set(split.support.items[rows].tolist())


def test_subsets_are_nested_seeded_and_keep_the_query(runs):
    home, trained = runs
    split = load_run(trained["bias"], home).data.splits["test"]
    ranks = shot_ranks(split, seed=0)
    assert (ranks == shot_ranks(split, seed=0)).all() and not (ranks == shot_ranks(split, seed=1)).all()
    cuts = {k: cut_support(split, ranks, k) for k in (1, 2, 4)}
    for k, cut in cuts.items():
        assert (cut.support.sizes() == k).all()
        assert set(cut.user_ids) == set(split.user_ids[split.support.sizes() >= k])
    for user_id in cuts[4].user_ids:
        sets = [_support(cuts[k], list(cuts[k].user_ids).index(user_id)) for k in (1, 2, 4)]
        full = _support(split, list(split.user_ids).index(user_id))
        assert sets[0] < sets[1] < sets[2] <= full  # nested
        i, j = list(cuts[4].user_ids).index(user_id), list(split.user_ids).index(user_id)
        query = cuts[4].query
        original = split.query
        got = query.items[query.offsets[i] : query.offsets[i + 1]]
        want = original.items[original.offsets[j] : original.offsets[j + 1]]
        assert (got == want).all()  # the query is unchanged


@pytest.mark.parametrize("method", ["melu", "bias", "tanp"])
def test_the_whole_support_point_is_the_runs_own_test_evaluation(runs, method):
    home, trained = runs
    scored = evaluate_shots(load_run(trained[method], home), shots=(None,))
    own = pd.read_parquet(trained[method] / "per_user.parquet")
    columns = ["user_id", "mse", "mae", "ndcg@3", "ndcg@5", "n_support", "n_query"]
    pd.testing.assert_frame_equal(scored[columns].reset_index(drop=True), own[columns].reset_index(drop=True))
    assert (scored["k"] == -1).all()


def test_k0_is_the_prediction_without_adaptation(runs):
    home, trained = runs
    run = load_run(trained["melu"], home)
    at_zero = evaluate_shots(run, shots=(0,)).set_index("user_id")
    run.spec.train.inner_steps = 0  # the same weights, never adapted, on the whole support
    run.method.train_config.inner_steps = 0
    unadapted = evaluate_shots(run, shots=(None,)).set_index("user_id")
    assert len(at_zero) == len(unadapted)
    np.testing.assert_allclose(at_zero["mse"], unadapted.loc[at_zero.index, "mse"], rtol=1e-6)
    bias = load_run(trained["bias"], home)
    zero = evaluate_shots(bias, shots=(0,)).set_index("user_id")
    test = bias.data.splits["test"]
    mean, item_bias = float(bias.method.mean), bias.method.item_bias.numpy()
    for j, user_id in enumerate(test.user_ids[:5]):  # μ + b_i: the user bias of an empty support is 0
        rows = slice(test.query.offsets[j], test.query.offsets[j + 1])
        error = test.query.targets[rows] - (mean + item_bias[test.query.items[rows]])
        assert zero.loc[user_id, "mse"] == pytest.approx(float(np.mean(error**2)), rel=1e-5)


def test_fewer_users_at_larger_k(runs):
    home, trained = runs
    scored = evaluate_shots(load_run(trained["bias"], home), shots=(1, 4, 16))
    counts = scored.groupby("k")["user_id"].nunique()
    full = scored.drop_duplicates("user_id").set_index("user_id")["n_support_full"]
    for k, n in counts.items():
        assert n == (full >= k).sum()
    assert counts.is_monotonic_decreasing


@pytest.mark.parametrize(
    "method", ["melu", "tanp", "transfer", "at-paml", "mamo", "paml", "bias", "mf", "user-mean"]
)
def test_every_method_scores_every_k_including_an_empty_support(runs, method):
    home, trained = runs
    scored = evaluate_shots(load_run(trained[method], home), shots=(0, 1, 2))
    assert set(scored["k"]) == {0, 1, 2}
    assert np.isfinite(scored["mse"]).all(), scored.loc[~np.isfinite(scored["mse"]), ["k", "mse"]]


def test_evaluate_writes_checksummed_results_into_the_run_and_keeps_them(runs, cli, monkeypatch, tmp_path):
    import json
    import shutil

    from coldbench.training.run_files import CorruptRun, read_finished

    home, trained = runs
    method_folder = shutil.copytree(trained["bias"].parent.parent, tmp_path / "bias")  # a copy to damage
    folder = method_folder / trained["bias"].parent.name / trained["bias"].name
    monkeypatch.setenv("COLDBENCH_HOME", str(home))
    code, out, err = cli("evaluate", str(folder), "--shots", "0,2,4")
    assert code == 0, err
    assert "scored" in out
    metrics = read_finished(folder)  # the new file is covered by the run's checksums
    assert metrics["shots"]["k"] == [0, 2, 4] and "shots.parquet" in metrics["files"]
    shots = pd.read_parquet(folder / "shots.parquet")
    whole = shots[shots["k"] == -1]
    assert metrics["shots"]["by_k"]["-1"]["overall"]["mse"] == pytest.approx(
        metrics["test"]["overall"]["mse"]
    )
    assert metrics["shots"]["by_k"]["2"]["users"] == (whole["n_support_full"] >= 2).sum()
    code, out, _ = cli("evaluate", str(folder.parent.parent), "--shots", "0,2,4")
    assert code == 0 and "kept" in out
    code, out, _ = cli("evaluate", str(folder), "--shots", "0,2,4", "--force")
    assert code == 0 and "scored" in out
    (folder / "shots.parquet").write_bytes(b"damaged")
    with pytest.raises(CorruptRun, match="shots.parquet"):
        read_finished(folder)
    for bad in ("0,x", "-1", ""):
        code, _, err = cli("evaluate", str(folder), "--shots", bad)
        assert code == 1 and "--shots" in err
    json.loads((folder / "metrics.json").read_text())  # still whole


def test_sweep_can_ask_for_the_k_shot_and_catalogue_scores(runs, cli, monkeypatch, tmp_path):
    home, _ = runs
    monkeypatch.setenv("COLDBENCH_HOME", str(home))
    results = tmp_path / "results"
    code, _, err = cli(
        "sweep", "--methods", "bias", "--datasets", "synthetic", "--results-dir", str(results), "--shots", "x"
    )
    assert code == 1 and "--shots" in err and not results.exists()  # checked before anything trains
    code, out, err = cli(
        "sweep",
        "--methods",
        "bias",
        "--datasets",
        "synthetic",
        "--results-dir",
        str(results),
        "--shots",
        "0,1",
    )
    assert code == 0, err
    folder = next(results.rglob("metrics.json")).parent
    assert (folder / "shots.parquet").is_file() and (folder / "catalogue.parquet").is_file()
    assert "catalogue scored" in out
