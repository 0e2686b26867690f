"""Figures from hand-made result folders (and one tiny real run for the t-SNE)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from coldbench.errors import ColdbenchError
from coldbench.report import figures
from coldbench.report.runs import Runs, load_runs
from coldbench.testing import write_fake_run

N_USERS = 30
# method -> params: three variants, the last one with a non-default setting
RATING_METHODS = {"melu": {}, "paml": {}, "reg-paml": {"gamma": 1e-5}}


def _per_user(method: str, seed: int, ctr: bool = False) -> pd.DataFrame:
    rng = np.random.default_rng([seed, len(method)])
    major = np.arange(N_USERS) % 3 != 0  # 20 major, 10 minor
    if method == "melu":
        inner_lr = np.full(N_USERS, 1e-5)
    else:
        inner_lr = np.where(major, 4e-4, 2.5e-4) + rng.normal(0, 5e-5, N_USERS)
    frame = pd.DataFrame(
        {
            "user_id": [f"u{i}" for i in range(N_USERS)],
            "major": major,
            "n_support": rng.integers(3, 20, N_USERS),
            "n_query": rng.integers(2, 6, N_USERS),
            "inner_lr": inner_lr,
        }
    )
    if ctr:
        frame["auc"] = np.clip(rng.normal(np.where(major, 0.72, 0.66), 0.08), 0, 1)
        frame["nel"] = rng.normal(0.9, 0.05, N_USERS)
    else:
        frame["mse"] = rng.gamma(2.0, 0.5, N_USERS) + np.where(major, 0.0, 0.3)
        frame["mae"] = np.sqrt(frame["mse"])
        frame["ndcg@3"] = rng.uniform(0.6, 1.0, N_USERS)
        frame["ndcg@5"] = rng.uniform(0.6, 1.0, N_USERS)
    return frame


def _fake_runs(root: Path, ctr: bool = False) -> Runs:
    for rank, (method, params) in enumerate(RATING_METHODS.items()):
        for seed in (0, 1):
            epochs = pd.DataFrame(
                {
                    "epoch": [1, 2, 3],
                    "train_loss": [2.0, 1.5, 1.3],
                    "valid_mse": np.array([1.6, 1.3, 1.2]) + 0.05 * seed + 0.08 * rank,
                }
            )
            write_fake_run(root, method, seed, _per_user(method, seed, ctr), params=params, epochs=epochs)
    return load_runs(root)


@pytest.fixture
def rating_runs(tmp_path: Path) -> Runs:
    return _fake_runs(tmp_path / "results")


def _check_files(out: Path, name: str) -> None:
    png, pdf = out / f"{name}.png", out / f"{name}.pdf"
    assert png.stat().st_size > 5_000
    assert pdf.stat().st_size > 0


def test_variants_in_method_order(rating_runs: Runs) -> None:
    assert figures.variant_order(rating_runs.table) == ["melu", "paml", "reg-paml (gamma=1e-05)"]
    assert set(figures.FIGURES) == {"boxplot", "lr-hist", "tsne", "ctr", "curves", "states", "shots"}


def test_boxplot(rating_runs: Runs, tmp_path: Path) -> None:
    fig = figures.boxplot(rating_runs, tmp_path / "fig")
    _check_files(tmp_path / "fig", "boxplot")
    assert len(fig.axes) == 2


def test_lr_hist(rating_runs: Runs, tmp_path: Path) -> None:
    fig = figures.lr_hist(rating_runs, tmp_path / "fig")
    _check_files(tmp_path / "fig", "lr-hist")
    assert [ax.get_title() for ax in fig.axes] == ["paml", "reg-paml (gamma=1e-05)"]  # melu: one rate
    assert any("one rate for every user: melu (α = 1e-05)" in text.get_text() for text in fig.texts)
    only_melu = tmp_path / "melu"
    write_fake_run(only_melu, "melu", 0, _per_user("melu", 0))
    with pytest.raises(ColdbenchError, match="nothing to draw"):
        figures.lr_hist(load_runs(only_melu), tmp_path / "fig2")


def test_lr_hist_flags_negative_rates(tmp_path: Path) -> None:
    per_user = _per_user("paml", 0)
    per_user.loc[:2, "inner_lr"] = [-2e-4, -1e-4, -5e-5]
    write_fake_run(tmp_path / "results", "paml", 0, per_user)
    fig = figures.lr_hist(load_runs(tmp_path / "results"), tmp_path / "fig")
    texts = [text.get_text() for text in fig.axes[0].texts]
    assert any("3 negative rate(s), min -2.00e-04" in text for text in texts)
    clean = figures.lr_hist(_fake_runs(tmp_path / "clean"), tmp_path / "fig-clean")
    assert not any("negative" in text.get_text() for ax in clean.axes for text in ax.texts)


def test_curves(rating_runs: Runs, tmp_path: Path) -> None:
    fig = figures.curves(rating_runs, tmp_path / "fig")
    _check_files(tmp_path / "fig", "curves")
    assert len(fig.axes) == 1
    assert len(fig.axes[0].get_lines()) == len(RATING_METHODS)


def test_ctr(tmp_path: Path) -> None:
    runs = _fake_runs(tmp_path / "results", ctr=True)
    fig = figures.ctr(runs, tmp_path / "fig")
    _check_files(tmp_path / "fig", "ctr")
    assert len(fig.axes) == 2


def test_ctr_needs_auc(rating_runs: Runs, tmp_path: Path) -> None:
    with pytest.raises(ColdbenchError, match="AUC"):
        figures.ctr(rating_runs, tmp_path / "fig")


def test_mixed_datasets_are_refused(tmp_path: Path) -> None:
    write_fake_run(tmp_path / "r", "melu", 0, _per_user("melu", 0), dataset="a")
    write_fake_run(tmp_path / "r", "melu", 0, _per_user("melu", 0), dataset="b")
    with pytest.raises(ColdbenchError, match="one dataset"):
        figures.boxplot(load_runs(tmp_path / "r"), tmp_path / "fig")


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> tuple[Path, int]:
    """One real melu run on a tiny synthetic dataset, and its number of test users."""
    from coldbench.data.features import encode
    from coldbench.data.prepare import prepare
    from coldbench.data.prepared import load_prepared
    from coldbench.testing import TINY_SYNTHETIC
    from coldbench.training.trainer import train

    root = tmp_path_factory.mktemp("tsne")
    prepare("synthetic", options=TINY_SYNTHETIC, data_dir=root / "data")
    dataset = load_prepared("synthetic", root / "data")
    overrides = {"epochs": "1", "hidden": "16,8", "embedding_dim": "4"}
    train("melu", dataset, [0], overrides, device="cpu", results_dir=root / "res")
    return root, len(encode(dataset).splits["test"].users)


def test_tsne(trained: tuple[Path, int], tmp_path: Path) -> None:
    root, n_test = trained
    fig = figures.tsne(load_runs(root / "res"), tmp_path / "fig", data_dir=root / "data")
    _check_files(tmp_path / "fig", "tsne")
    (ax,) = fig.axes
    assert sum(len(c.get_offsets()) for c in ax.collections) == n_test

    fig = figures.tsne(load_runs(root / "res"), tmp_path / "few", data_dir=root / "data", max_users=20)
    assert sum(len(c.get_offsets()) for c in fig.axes[0].collections) == 20


def test_tsne_without_prepared_data(trained: tuple[Path, int], tmp_path: Path) -> None:
    root, _ = trained
    with pytest.raises(ColdbenchError, match="'synthetic'.*coldbench prepare synthetic"):
        figures.tsne(load_runs(root / "res"), tmp_path / "fig", data_dir=tmp_path / "empty")


def test_states_draws_a_line_per_variant_over_the_four_states(tmp_path: Path) -> None:
    for method in ("melu", "mf", "bias"):
        for seed in range(2):
            frames = []
            for k, state in enumerate(("warm", "user-cold", "item-cold", "user-item-cold")):
                frame = _per_user(method, seed).assign(state=state)
                frame["mse"] = frame["mse"] + 0.1 * k + np.linspace(0, 0.1, len(frame))
                frames.append(frame)
            write_fake_run(tmp_path / "r", method, seed, pd.concat(frames, ignore_index=True), dataset="d")
    fig = figures.states(load_runs(tmp_path / "r"), tmp_path / "fig")
    _check_files(tmp_path / "fig", "states")
    ax = fig.axes[0]
    assert [t.get_text().split("\n")[0] for t in ax.get_xticklabels()] == [
        "warm",
        "user-cold",
        "item-cold",
        "user-item-cold",
    ]
    assert len(ax.get_legend().get_texts()) == 3


def test_states_needs_four_state_runs(rating_runs: Runs, tmp_path: Path) -> None:
    with pytest.raises(ColdbenchError, match="four-state protocol"):
        figures.states(rating_runs, tmp_path / "fig")


def test_shots_draws_two_panels_with_a_line_per_variant(tmp_path: Path) -> None:
    support = np.array([1, 2, 4, 8, 8, 3])
    for method in ("melu", "bias"):
        for seed in range(2):
            folder = write_fake_run(tmp_path / "r", method, seed, _per_user(method, seed), dataset="d")
            rows = [
                {
                    "user_id": f"u{i}",
                    "major": True,
                    "k": k,
                    "n_support_full": int(n),
                    "mse": 1.0 + 0.3 / (2 + k) + 0.01 * i,
                }
                for k in (0, 1, 2, 4, -1)
                for i, n in enumerate(support)
                if k <= n
            ]
            pd.DataFrame(rows).to_parquet(folder / "shots.parquet", index=False)
    fig = figures.shots(load_runs(tmp_path / "r"), tmp_path / "fig")
    _check_files(tmp_path / "fig", "shots")
    assert len(fig.axes) == 2
    assert [t.get_text() for t in fig.axes[0].get_xticklabels()] == ["0", "1", "2", "4"]
    assert (
        len(fig.axes[0].get_lines()) == 2 and "users per k: 0: 6, 1: 6, 2: 5, 4: 3" in fig.axes[0].get_title()
    )


def test_shots_needs_k_shot_results(rating_runs: Runs, tmp_path: Path) -> None:
    with pytest.raises(ColdbenchError, match="no k-shot results"):
        figures.shots(rating_runs, tmp_path / "fig")


def test_tsne_names_the_run_it_draws_and_the_cli_chooses_it(
    trained: tuple[Path, int], tmp_path: Path, cli
) -> None:
    root, _ = trained
    runs = load_runs(root / "res")
    variant = runs.table["variant"].iloc[0]
    fig = figures.tsne(runs, tmp_path / "fig", data_dir=root / "data")
    assert any(f"1 run: {variant}, seed 0" in text.get_text() for text in fig.texts)
    args = [
        "--results-dir",
        str(root / "res"),
        "--data-dir",
        str(root / "data"),
        "--out",
        str(tmp_path / "cli"),
    ]
    code, _, err = cli("report", "--figure", "tsne", "--variant", "nosuch", *args)
    assert code == 1 and "variant 'nosuch' has no finished run" in err
    code, _, err = cli("report", "--figure", "tsne", "--variant", variant, *args)
    assert code == 0, err


def test_boxplot_labels_turn_at_an_angle_when_there_are_many_variants(tmp_path: Path) -> None:
    few = figures.boxplot(_fake_runs(tmp_path / "few"), tmp_path / "fig-few")
    assert {label.get_rotation() for label in few.axes[0].get_xticklabels()} == {0.0}
    for index, method in enumerate(("global", "transfer", "melu", "meta-sgd", "paml", "tanp", "bias")):
        write_fake_run(tmp_path / "many", method, 0, _per_user("paml", index))
    many = figures.boxplot(load_runs(tmp_path / "many"), tmp_path / "fig-many")
    assert {label.get_rotation() for label in many.axes[0].get_xticklabels()} == {35.0}


def test_tsne_default_run_is_the_one_report_help_names(rating_runs: Runs, tmp_path: Path, cli) -> None:
    """The default --variant: plain reg-paml, else at-paml, else paml, else the first variant in
    method order (melu (epochs=1) when it is all there is); its lowest seed. The help says so."""
    assert figures._pick_run(rating_runs, None)["variant"] == "paml"  # reg-paml ran with a γ only
    for seed in (1, 0):
        folder = write_fake_run(tmp_path / "short", "melu", seed, _per_user("melu", seed), dataset="d")
        config = folder / "config.json"
        config.write_text(config.read_text().replace('"train": {}', '"train": {"epochs": 1}'))
    row = figures._pick_run(load_runs(tmp_path / "short"), None)
    assert (row["variant"], row["seed"]) == ("melu (epochs=1)", 0)
    code, text, _ = cli("report", "--help")
    help_text = " ".join(" ".join(text.replace("│", " ").split()).split())
    assert code == 0
    assert (
        "default: reg-paml, else at-paml, else paml, each with default settings, else the first" in help_text
    )
    assert "variant in method order]" in help_text and "its lowest seed is drawn" in help_text
    assert "PAML family's first" not in help_text


@pytest.mark.parametrize("damage", [b'epoch,valid_mse\n1,"0.9\n', b"\xff\xfe\x00garbage", b""])
def test_a_damaged_epoch_log_is_one_line_naming_it(rating_runs: Runs, tmp_path: Path, damage: bytes) -> None:
    """An epochs.csv that pandas cannot parse (after the run was loaded and checked) names the file."""
    epochs_file = Path(rating_runs.table["path"].iloc[0]) / "epochs.csv"
    epochs_file.write_bytes(damage)
    with pytest.raises(ColdbenchError, match=r"epochs\.csv: cannot read this run file \(\w+\)"):
        figures.curves(rating_runs, tmp_path / "fig")
