"""The committed form of a study: what is written, what is not, and that tables match the runs."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from coldbench.errors import ColdbenchError
from coldbench.report.export import (
    NO_COMMIT,
    bundle_run_tree,
    check_exported,
    export_study,
    exported_files,
    write_runs_jsonl,
)
from coldbench.report.runs import Runs, committed_studies, load_runs, read_epochs, read_runs_jsonl
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
            "inner_lr": rng.uniform(5e-4, 1.5e-3, n),  # per-user rates, as PAML gives
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
    assert "per_user.parquet" in files
    assert not files & {"predictions.parquet", "checkpoint.pt", "shots.parquet"}
    assert not any(name.endswith(".pdf") for name in files)
    from PIL import Image

    with Image.open(out / "figures" / "boxplot.png") as image:
        assert image.mode == "P" and image.size[0] > 500  # 256 colours, full resolution
    assert out / "runs.jsonl" in written and len(_lines(out)) == 8
    assert not (out / "runs").exists()
    assert {p.parent for p in out.rglob("*") if p.is_file()} == {out, out / "figures"}  # no per-run files
    assert check_exported(out) > 0


def test_per_user_scores_are_committed_compactly_and_read_back_as_the_runs_gave_them(study, tmp_path):
    """per_user.parquet: run, user, state, group and metrics (float32) only; a committed study loads
    with load_runs like live runs, and its per-user scores equal the runs' to float32 precision."""
    out = tmp_path / "d"
    export_study(study, "d", out)
    frame = pd.read_parquet(out / "per_user.parquet")
    assert list(frame.columns[:4]) == ["run", "user_id", "state", "major"]
    assert set(frame.columns[4:]) == {"mse", "mae", "ndcg@3", "ndcg@5"}  # no rate, no counts
    assert (frame.dtypes[4:] == "float32").all() and len(frame) == 8 * 40
    committed = load_runs(out)
    assert "study" in committed.table and set(committed.table["run"]) == set(frame["run"].astype(str))
    assert committed.table.drop(columns=["path", "study"]).equals(study.table.drop(columns=["path"]))
    live = study.per_user().sort_values(["variant", "seed", "user_id"]).reset_index(drop=True)
    back = committed.per_user().sort_values(["variant", "seed", "user_id"]).reset_index(drop=True)
    for metric in ("mse", "mae", "ndcg@3", "ndcg@5"):
        np.testing.assert_allclose(back[metric], live[metric], rtol=1e-6)
        assert back[metric].dtype == "float64"
    assert back["user_id"].tolist() == live["user_id"].tolist()
    assert back["major"].tolist() == live["major"].tolist()


def test_an_edited_per_user_score_or_interval_fails_the_check(study, tmp_path):
    """The tables are re-derived from the committed files: two per-user values changed (every
    mean kept), or one interval changed in a table, and check_exported names the line; one value
    changed alone, and the run's recorded mean no longer matches its per-user scores."""
    out = tmp_path / "d"
    export_study(study, "d", out)
    assert check_exported(out) > 0
    frame = pd.read_parquet(out / "per_user.parquet")
    edited = frame.copy()
    melu = edited.index[edited["run"].astype(str).str.startswith("melu/") & edited["major"]]
    edited.loc[melu[3], "mse"] = edited.loc[melu[3], "mse"] + np.float32(0.3)
    edited.loc[melu[4], "mse"] = edited.loc[melu[4], "mse"] - np.float32(0.3)  # the same group's mean
    edited.to_parquet(out / "per_user.parquet", index=False)
    with pytest.raises(ColdbenchError, match=r"table-\S+: the committed line differs"):
        check_exported(out)
    edited.loc[melu[4], "mse"] = frame.loc[melu[4], "mse"]
    edited.to_parquet(out / "per_user.parquet", index=False)
    with pytest.raises(ColdbenchError, match=r"runs.jsonl: run melu/\S+ test overall mse is \S+, not "):
        check_exported(out)
    frame.to_parquet(out / "per_user.parquet", index=False)
    assert check_exported(out) > 0
    table = (out / "table-main.md").read_text()
    low = table.split("[", 1)[1].split(",", 1)[0]  # the first interval's lower end
    (out / "table-main.md").write_text(table.replace(f"[{low},", f"[{float(low) - 0.001:.3f},", 1))
    with pytest.raises(ColdbenchError, match=r"table-main.md:\d+: the committed line differs"):
        check_exported(out)


def test_a_committed_study_without_per_user_scores_checks_its_means_only(study, tmp_path):
    out = tmp_path / "d"
    export_study(study, "d", out)
    (out / "per_user.parquet").unlink()
    assert check_exported(out) > 0  # the means against runs.jsonl
    with pytest.raises(ColdbenchError, match="per_user.parquet: this committed study has no such file"):
        load_runs(out).per_user()


def _lines(folder: Path) -> list[dict]:
    return [json.loads(line) for line in (folder / "runs.jsonl").read_text().splitlines()]


def _tamper(folder: Path, pick, metric: str = "mse", by: float = 0.5) -> None:
    """Shift ``metric`` of the first run in ``runs.jsonl`` that ``pick(record)`` accepts."""
    records = _lines(folder)
    record = next(r for r in records if pick(r))
    record["metrics"]["test"]["overall"][metric] += by
    (folder / "runs.jsonl").write_text("".join(json.dumps(r, separators=(",", ":")) + "\n" for r in records))


def test_runs_jsonl_holds_each_runs_three_files_one_line_per_run_in_order(study, tmp_path):
    """Every line's config and metrics equal the source run's files, its epochs the csv's rows
    (numbers as numbers, columns in order); lines sorted by method, config id, seed."""
    out = tmp_path / "d"
    epochs = pd.DataFrame(
        {"epoch": [1, 2], "train_loss": [np.nan, 1.25], "seconds": [0.5, 1e-05], "valid_mse": [1.5, 1.2]}
    )  # an empty cell (the floors have no training loss) and a float written as 1e-05
    for seed in (2, 10):  # seed 10 after seed 2: by number, not by text
        write_fake_run(tmp_path / "results", "paml", seed, _per_user(1.0, seed), dataset="d", epochs=epochs)
    runs = load_runs(tmp_path / "results")
    export_study(runs, "d", out)
    text = (out / "runs.jsonl").read_text()
    records = _lines(out)
    assert len(text.splitlines()) == len(runs) == 10 and text.endswith("}\n") and "\n " not in text
    sources = {f"{r.method}/{r.config_id}/seed-{r.seed}": Path(r.path) for r in runs.table.itertuples()}
    assert [r["run"] for r in records] == sorted(
        sources, key=lambda run: (run.split("/")[0], run.split("/")[1], int(run.split("-")[-1]))
    )
    paml = [r for r in records if r["run"].startswith("paml/")]
    assert [r["run"].rsplit("-", 1)[1] for r in paml] == ["0", "1", "2", "10"]
    logs = {r["run"]: r["epochs"] for r in read_runs_jsonl(out)}  # from epochs.parquet
    for record in records:
        source = sources[record["run"]]
        assert list(record) == ["run", "provenance", "config", "metrics"]  # the log is in epochs.parquet
        record["epochs"] = logs[record["run"]]
        commit = record["config"].get("versions", {}).get("coldbench_commit")
        assert record["provenance"] == (
            {"commit": commit} if commit else {"commit": None, "reason": NO_COMMIT}
        )
        assert record["config"] == json.loads((source / "config.json").read_text())
        assert record["metrics"] == json.loads((source / "metrics.json").read_text())
        table = pd.read_csv(source / "epochs.csv")
        assert [list(row) for row in record["epochs"]] == [list(table.columns)] * len(table)
        assert record["epochs"] == table.astype(object).where(table.notna(), None).to_dict("records")
        assert all(type(row["epoch"]) is int and type(row["valid_mse"]) is float for row in record["epochs"])
    assert paml[-1]["epochs"][0]["train_loss"] is None and paml[-1]["epochs"][1]["seconds"] == 1e-05
    assert pd.read_json(out / "runs.jsonl", lines=True)["run"].tolist() == [r["run"] for r in records]


def test_epoch_logs_come_back_from_epochs_parquet_as_written(tmp_path):
    """Each run's own columns in its own order, integers as integers, empty cells as None; a column
    with whole numbers in one run and fractions in another is read back as floats."""
    logs = {
        "a/x/seed-0": [
            {"epoch": 1, "train_loss": None, "valid_mse": 1},
            {"epoch": 2, "train_loss": 0.5, "valid_mse": 0.75},
        ],
        "b/y/seed-1": [{"valid_mse": 2.5, "epoch": 1, "note": "early"}],
        "c/z/seed-0": [],
        "d/w/seed-0": [{"epoch": 1, "valid_n_users": 7}],
    }
    entries = [
        (*run.split("/")[:2], int(run[-1]), {"run": run, "config": {}, "metrics": {}, "epochs": log})
        for run, log in logs.items()
    ]
    write_runs_jsonl(entries, tmp_path / "runs.jsonl")
    back = read_epochs(tmp_path / "epochs.parquet")
    assert [list(row) for row in back["b/y/seed-1"]] == [["valid_mse", "epoch", "note"]]
    assert back["b/y/seed-1"][0] == {"valid_mse": 2.5, "epoch": 1, "note": "early"}
    assert back["a/x/seed-0"] == [
        {"epoch": 1, "train_loss": None, "valid_mse": 1.0},
        {"epoch": 2, "train_loss": 0.5, "valid_mse": 0.75},
    ]
    assert type(back["a/x/seed-0"][0]["epoch"]) is int and "c/z/seed-0" not in back
    assert back["d/w/seed-0"] == [{"epoch": 1, "valid_n_users": 7}]  # int though b's rows lack the column
    assert type(back["d/w/seed-0"][0]["valid_n_users"]) is int
    assert {r["run"]: r["epochs"] for r in read_runs_jsonl(tmp_path)}["c/z/seed-0"] == []


def test_an_export_from_before_epochs_parquet_reads_the_same(study, tmp_path):
    """Older exports kept each epoch log in its runs.jsonl line: read as the new form is; a new-form
    study without its epochs.parquet is one line naming the file."""
    out = tmp_path / "d"
    export_study(study, "d", out)
    records = read_runs_jsonl(out)
    (out / "epochs.parquet").unlink()
    with pytest.raises(ColdbenchError, match=r"epochs.parquet: cannot read the study's epoch logs"):
        read_runs_jsonl(out)
    (out / "runs.jsonl").write_text("".join(json.dumps(r, separators=(",", ":")) + "\n" for r in records))
    assert read_runs_jsonl(out) == records
    assert check_exported(out) > 0


def test_a_table_that_disagrees_with_its_runs_is_caught(study, tmp_path):
    out = tmp_path / "d"
    export_study(study, "d", out)
    assert check_exported(out) > 0
    _tamper(out, lambda r: r["config"]["method"] == "paml" and r["config"]["seed"] == 0)
    with pytest.raises(ColdbenchError, match="paml MSE"):
        check_exported(out)


def test_a_table_row_without_committed_runs_is_caught(study, tmp_path):
    out = tmp_path / "d"
    export_study(study, "d", out)
    records = [r for r in _lines(out) if r["config"]["method"] != "melu"]
    (out / "runs.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    with pytest.raises(ColdbenchError, match="row 'melu' has no committed runs"):
        check_exported(out)
    (out / "runs.jsonl").unlink()
    with pytest.raises(ColdbenchError, match="has no committed runs"):
        check_exported(out)


def test_a_reexport_replaces_an_older_exports_run_folders(study, tmp_path):
    """An export over the per-run folders of an earlier one leaves runs.jsonl alone: the old tree
    goes; a tree holding anything else stops the export before it writes; the checker refuses a
    folder that has the old tree, beside runs.jsonl or instead of it."""
    out = tmp_path / "d"
    export_study(study, "d", out)
    old = out / "runs" / "paml" / "abc" / "seed-0"
    old.mkdir(parents=True)
    for name in ("config.json", "epochs.csv", "metrics.json"):
        (old / name).write_text("{}")
    with pytest.raises(ColdbenchError, match="older export, beside runs.jsonl"):
        check_exported(out)
    jsonl = (out / "runs.jsonl").read_text()
    (out / "runs.jsonl").unlink()
    with pytest.raises(ColdbenchError, match="older export, instead of runs.jsonl"):
        check_exported(out)
    export_study(study, "d", out)
    assert not (out / "runs").exists() and (out / "runs.jsonl").read_text() == jsonl
    assert check_exported(out) > 0
    (out / "runs" / "notes").mkdir(parents=True)
    (out / "runs" / "notes" / "todo.txt").write_text("mine")
    (out / "runs.jsonl").unlink()
    with pytest.raises(ColdbenchError, match="todo.txt is not an earlier export's run file"):
        export_study(study, "d", out)
    assert (out / "runs" / "notes" / "todo.txt").exists() and not (out / "runs.jsonl").exists()


def test_an_older_exports_run_folders_bundle_into_the_same_runs_jsonl(study, tmp_path):
    """bundle_run_tree (the conversion of a committed runs/ tree) writes what export_study writes."""
    out = tmp_path / "d"
    export_study(study, "d", out)
    tree = tmp_path / "old" / "runs"
    for row in study.table.itertuples():
        shutil.copytree(row.path, tree / row.method / row.config_id / f"seed-{row.seed}")
    bundle_run_tree(tree, tmp_path / "old" / "runs.jsonl")
    assert (tmp_path / "old" / "runs.jsonl").read_text() == (out / "runs.jsonl").read_text()
    with pytest.raises(ColdbenchError, match="no run folders"):
        bundle_run_tree(tmp_path / "empty", tmp_path / "empty.jsonl")


ROOTS = sorted(p for p in REFERENCE.glob("*") if p.is_dir())
# every committed study: a folder with runs.jsonl, or each split of a study over data splits
STUDIES = [s for root in ROOTS for s in (committed_studies(root) or [root])]


@pytest.mark.parametrize("folder", ROOTS, ids=lambda p: p.name)
def test_committed_reference_tables_match_their_runs(folder):
    assert check_exported(folder) > 0
    parts = committed_studies(folder)
    for study in parts or [folder]:
        assert (study / "runs.jsonl").is_file() and not (study / "runs").exists()
        files = {p.relative_to(study).as_posix() for p in study.rglob("*") if p.is_file()}
        # nothing committed but the export, `rerun --out`'s comparison and the binary ranking metrics of
        # benchmarks/recbole_metrics.py --out (tests/claims.py reads both)
        assert files - {"exported-files.txt", "rerun.csv", "recbole_metrics.parquet"} == exported_files(study)
        storages = [
            record["config"]["tuned"]["storage"]
            for record in map(json.loads, (study / "runs.jsonl").read_text().splitlines())
            if "tuned" in record["config"] and "storage" in record["config"]["tuned"]
        ]
        assert all(s.startswith("<results-dir>/") for s in storages), storages[:1]  # no machine's path
    if parts:  # the root of a study over splits holds its splits and the splits table only
        files = {p.name for p in folder.iterdir() if p.is_file()}
        assert files - {"exported-files.txt"} == exported_files(folder)
        assert {p for p in folder.iterdir() if p.is_dir()} == set(parts)


COMMIT = re.compile(r"[0-9a-f]{40}(\+dirty)?")


@pytest.mark.parametrize("folder", STUDIES, ids=lambda p: p.relative_to(REFERENCE).as_posix())
def test_every_committed_run_names_its_code_commit_or_why_it_is_unknown(folder):
    for record in map(json.loads, (folder / "runs.jsonl").read_text().splitlines()):
        provenance = record["provenance"]
        recorded = record["config"].get("versions", {}).get("coldbench_commit")
        if provenance["commit"] is None:
            assert recorded is None and len(provenance["reason"]) > 40, record["run"]
        else:
            assert COMMIT.fullmatch(provenance["commit"]) and provenance["commit"] == recorded, record["run"]


def test_a_run_without_a_recorded_commit_is_exported_with_the_reason(study, tmp_path):
    export_study(study, "d", tmp_path / "d")
    records = _lines(tmp_path / "d")
    assert records and all(r["provenance"] == {"commit": None, "reason": NO_COMMIT} for r in records)


def test_an_absolute_default_study_path_is_exported_as_the_results_folder(tmp_path):
    """Runs tuned before provenance was portable name this machine's SQLite file; the export does not."""
    results = tmp_path / "results"
    study = f"sqlite:///{(results / 'd' / 'melu' / 'tune' / 'study.db').resolve()}"
    for seed in range(2):
        tuned = {"study": "d/melu", "trial": 3, "storage": study, "trials": 4, "pruner": "median"}
        write_fake_run(results, "melu", seed, _per_user(1.0, seed), dataset="d", tuned=tuned)
        elsewhere = {**tuned, "storage": "postgresql://user:***@db.example.org/studies"}
        write_fake_run(results, "paml", seed, _per_user(1.1, seed), dataset="d", tuned=elsewhere)
    export_study(load_runs(results), "d", tmp_path / "out")
    records = [json.loads(line) for line in (tmp_path / "out" / "runs.jsonl").read_text().splitlines()]
    storages = {r["config"]["method"]: r["config"]["tuned"]["storage"] for r in records}
    assert storages == {
        "melu": "<results-dir>/d/melu/tune/study.db",
        "paml": "postgresql://user:***@db.example.org/studies",
    }
    assert str(tmp_path) not in (tmp_path / "out" / "runs.jsonl").read_text()


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
    out.mkdir()
    (out / "table-main.csv").write_text("an earlier export's, when the study held one preset\n")
    (out / "exported-files.txt").write_text("table-main.csv\n")  # as that export recorded it
    (out / "README.txt").write_text("not an export's file\n")
    names = {p.name for p in export_study(runs, "d", out)}
    assert {"table-main-paper.csv", "table-main-tuned.csv", "table-minor-major-tuned.md"} <= names
    assert "table-main.csv" not in names
    assert not (out / "table-main.csv").exists() and (out / "README.txt").exists()  # stale tables go
    main_tuned = (out / "table-main-tuned.csv").read_text()
    assert "melu [tuned]" in main_tuned and "[paper]" not in main_tuned and "constant" in main_tuned
    assert check_exported(out) > 0
    _tamper(
        out, lambda r: r["config"]["method"] == "melu" and r["config"]["seed"] == 0 and "tuned" in r["config"]
    )
    with pytest.raises(ColdbenchError, match=r"melu \[tuned\] MSE"):
        check_exported(out)


def _state_per_user(level: float, seed: int) -> pd.DataFrame:
    frames = []
    for k, state in enumerate(("warm", "user-cold", "item-cold", "user-item-cold")):
        frame = _per_user(level + 0.1 * k, seed + 10 * k).assign(state=state)
        if state in ("warm", "item-cold"):  # training users
            frame["user_id"] = [f"t{i}" for i in range(len(frame))]
        frames.append(frame)
    return pd.concat(frames, ignore_index=True)


def test_a_four_state_study_exports_its_states_table_and_figure_checked_against_its_runs(tmp_path):
    for method, level in (("melu", 1.1), ("paml", 1.0), ("mf", 0.95), ("bias", 0.9)):
        for seed in range(2):
            write_fake_run(tmp_path / "results", method, seed, _state_per_user(level, seed), dataset="d")
    out = tmp_path / "reference" / "d"
    written = export_study(load_runs(tmp_path / "results"), "d", out)
    assert out / "table-states.csv" in written and out / "figures" / "states.png" in written
    header = (out / "table-states.csv").read_text().splitlines()[0]
    assert "MSE warm" in header and "nDCG@3 user-item-cold" in header
    main_cells = check_exported(out)
    frame = pd.read_parquet(out / "per_user.parquet")
    others = frame[frame["state"] != "user-cold"]
    assert others[["mse", "ndcg@3"]].notna().all().all() and others[["mae", "ndcg@5"]].isna().all().all()
    assert frame.loc[frame["state"] == "user-cold", ["mae", "ndcg@5"]].notna().all().all()
    table = (out / "table-states.csv").read_text()
    tampered = table.replace(table.split("\n")[1].split(",")[2].split(" ")[0], "9.999", 1)
    (out / "table-states.csv").write_text(tampered)
    with pytest.raises(ColdbenchError, match="table-states.csv: .* shows 9.999"):
        check_exported(out)
    assert main_cells > 4 * 8  # the states table's 4 rows × 8 columns are among the cells checked


def _add_shots(folder: Path, level: float, seed: int = 0) -> None:
    """What `coldbench evaluate` adds to a run: shots.parquet and metrics.json's ``shots``."""
    from coldbench.training.metrics import aggregate

    support = np.arange(40) % 9 + 1
    rng = np.random.default_rng(seed)
    rows = [
        {
            "user_id": f"u{i}",
            "major": bool(i % 3),
            "k": k,
            "n_support_full": int(n),
            "mse": level + 0.4 / (1 + max(k, 0)) + rng.normal(0, 0.05),
        }
        for k in (0, 1, 2, 4, -1)
        for i, n in enumerate(support)
        if k <= n
    ]
    shots = pd.DataFrame(rows)
    shots.to_parquet(folder / "shots.parquet", index=False)
    metrics = json.loads((folder / "metrics.json").read_text())
    by_k = {
        str(k): aggregate(part.set_index("user_id")[["mse"]], part.set_index("user_id")["major"])
        for k, part in shots.groupby("k")
    }
    metrics["shots"] = {"seed": 0, "k": [0, 1, 2, 4], "by_k": by_k}
    (folder / "metrics.json").write_text(json.dumps(metrics))


def test_k_shot_results_export_their_table_and_figure_checked_against_the_runs(tmp_path):
    for method, level in (("melu", 1.1), ("paml", 1.0), ("bias", 0.9)):
        for seed in range(2):
            folder = write_fake_run(tmp_path / "results", method, seed, _per_user(level, seed), dataset="d")
            _add_shots(folder, level, seed)
    out = tmp_path / "reference" / "d"
    written = export_study(load_runs(tmp_path / "results"), "d", out)
    assert out / "table-shots.csv" in written and out / "figures" / "shots.png" in written
    header = (out / "table-shots.csv").read_text().splitlines()[0]
    assert "k=4 (n=" in header
    cells = check_exported(out)
    assert cells >= 3 * 4 + 3 * 6  # the shots table's 3 rows × 4 k, besides the main table's cells
    committed = pd.read_parquet(out / "shots.parquet")
    assert list(committed.columns) == ["run", "user_id", "k", "major", "n_support_full", "mse"]
    assert len(committed) == len(load_runs(tmp_path / "results").shots())
    import csv

    rows = list(csv.reader((out / "table-shots.csv").open(newline="")))
    rows[1][2] = "9.999 [1.000, 2.000]"  # one k-shot mean changed
    with (out / "table-shots.csv").open("w", newline="") as handle:
        csv.writer(handle).writerows(rows)
    with pytest.raises(ColdbenchError, match=r"table-shots.csv: .* shows 9.999"):
        check_exported(out)


def test_keep_committed_adds_runs_to_a_committed_study_as_one_export_of_all_would(study, tmp_path):
    """A study trained over sessions: the committed runs the new results lack stay; a run in both
    is taken from the new results; the outcome equals one export of every run."""
    full, part = tmp_path / "full", tmp_path / "part"
    export_study(study, "d", full)
    methods = study.table["method"]
    export_study(Runs(study.table[methods.isin(["melu", "paml"])]), "d", part)
    export_study(Runs(study.table[methods != "melu"]), "d", part, keep_committed=True)
    for name in ("runs.jsonl", "table-main.md", "table-ablation.md", "table-minor-major.csv"):
        assert (part / name).read_text() == (full / name).read_text(), name
    pd.testing.assert_frame_equal(
        pd.read_parquet(part / "per_user.parquet"), pd.read_parquet(full / "per_user.parquet")
    )
    assert check_exported(part) > 0
    export_study(Runs(study.table[methods != "melu"]), "d", part)  # without it: replaced
    assert not any(record["run"].startswith("melu/") for record in _lines(part))


def test_keep_committed_replaces_a_retuned_methods_earlier_tuned_runs(tmp_path):
    """melu tuned again (other settings, another config id): its earlier [tuned] runs leave the
    committed study, its untuned runs and every other method's stay."""

    def tuned(trials: int, outer_lr: float) -> dict:
        return {"settings": {"outer_lr": outer_lr}, "trials": trials, "pruner": "median", "sampler": "TPE"}

    first, second, out = tmp_path / "first", tmp_path / "second", tmp_path / "out"
    for seed in range(2):
        for method, level in (("melu", 1.1), ("paml", 1.0)):
            write_fake_run(first, method, seed, _per_user(level, seed), dataset="d")
        write_fake_run(
            first, "melu", seed, _per_user(1.05, seed), dataset="d", params={"outer_lr": 1e-3},
            tuned=tuned(17, 1e-3),
        )  # fmt: skip
        write_fake_run(
            first, "paml", seed, _per_user(0.95, seed), dataset="d", params={"outer_lr": 1e-4},
            tuned=tuned(6, 1e-4),
        )  # fmt: skip
        write_fake_run(
            second, "melu", seed, _per_user(1.02, seed), dataset="d", params={"outer_lr": 5e-4},
            tuned=tuned(6, 5e-4),
        )  # fmt: skip
    export_study(load_runs(first), "d", out)
    export_study(load_runs(second), "d", out, keep_committed=True)
    records = _lines(out)
    tuned_melu = {
        r["config"]["tuned"]["trials"]
        for r in records
        if r["run"].startswith("melu/") and r["config"].get("tuned")
    }
    assert tuned_melu == {6} and len(records) == 8  # melu's 17-trial runs replaced by its 6-trial runs
    assert sum(1 for r in records if r["run"].startswith("paml/") and r["config"].get("tuned")) == 2
    assert sum(1 for r in records if r["run"].startswith("melu/") and not r["config"].get("tuned")) == 2
    assert check_exported(out) > 0


def test_keep_committed_refuses_runs_on_other_prepared_data(study, tmp_path):
    export_study(study, "d", tmp_path / "d")
    other = study.table.assign(dataset_hash="f" * 64)
    with pytest.raises(ColdbenchError, match="other prepared data"):
        export_study(Runs(other[other["method"] == "melu"]), "d", tmp_path / "d", keep_committed=True)


def test_an_export_deletes_only_files_an_earlier_export_of_it_wrote(study, tmp_path):
    """A paper folder keeps the user's own tables and figures; a file the last export wrote and
    this one does not is removed; the list of the export's own files is kept beside them."""
    out = tmp_path / "paper"
    (out / "figures").mkdir(parents=True)
    mine = [
        out / "table-mine.md",
        out / "table-main.tex.bak",
        out / "figures" / "mine.png",
        out / "notes.csv",
    ]
    for path in mine:
        path.write_text("the user's own")
    written = export_study(study, "d", out)
    listed = (out / "exported-files.txt").read_text().splitlines()
    assert sorted(listed) == sorted(
        p.relative_to(out).as_posix() for p in written if p.name != "exported-files.txt"
    )
    (out / "table-gone.md").write_text("an older export's table")
    (out / "exported-files.txt").write_text("\n".join([*listed, "table-gone.md"]) + "\n")
    export_study(study, "d", out)
    assert all(path.read_text() == "the user's own" for path in mine)
    assert not (out / "table-gone.md").exists() and (out / "table-main.md").is_file()
    (out / "exported-files.txt").write_text("../outside.txt\n")
    with pytest.raises(ColdbenchError, match="not a file of this folder"):
        export_study(study, "d", out)


def test_a_seed_without_a_finite_value_is_counted_out_and_runs_jsonl_stays_strict_json(tmp_path):
    """A seed whose nDCG is NaN for every user: the row says "1 of 2" seeds and a note names it;
    runs.jsonl writes the NaN as null (strict JSON has no NaN)."""
    for method, level in (("melu", 1.1), ("paml", 1.0), ("bias", 0.9)):
        for seed in range(2):
            per_user = _per_user(level, seed)
            if method == "melu" and seed == 1:
                per_user["ndcg@3"] = np.nan
            write_fake_run(tmp_path / "results", method, seed, per_user, dataset="d")
    out = tmp_path / "d"
    export_study(load_runs(tmp_path / "results"), "d", out)

    def strict(token):
        raise ValueError(f"not JSON: {token}")

    records = [
        json.loads(line, parse_constant=strict) for line in (out / "runs.jsonl").read_text().splitlines()
    ]
    melu = next(r for r in records if r["run"].startswith("melu/") and r["run"].endswith("seed-1"))
    assert melu["metrics"]["test"]["overall"]["ndcg@3"] is None
    table = pd.read_csv(out / "table-main.csv").set_index("method")
    assert table.loc["melu", "seeds"] == "1 of 2" and str(table.loc["bias", "seeds"]) == "2"
    assert "left out of the means: melu (1 of 2)" in (out / "table-main.md").read_text()
    assert check_exported(out) > 0


def test_a_study_whose_runs_are_partly_scored_at_k_shots_exports_and_checks(tmp_path):
    """An export while `evaluate` is still scoring: the scored runs' k-shot rows are committed, the
    others have none, and reading the committed study does not mistake that for a mismatch."""
    results = tmp_path / "results"
    for method, level in (("melu", 1.1), ("paml", 1.0), ("bias", 0.9)):
        for seed in range(2):
            folder = write_fake_run(results, method, seed, _per_user(level, seed), dataset="d")
            if (method, seed) != ("melu", 1):
                _add_shots(folder, level, seed)
    out = tmp_path / "d"
    export_study(load_runs(results), "d", out)
    assert check_exported(out) > 0
    shots = pd.read_parquet(out / "shots.parquet")
    assert not shots["run"].astype(str).str.match(r"melu/.*/seed-1").any()


def test_no_committed_file_exceeds_2_mb_and_four_state_scores_are_split_by_state():
    """The house limit on tracked files: four-state per-user rows go one file a state."""
    for path in REFERENCE.rglob("*"):
        assert not path.is_file() or path.stat().st_size <= 2 * 1024 * 1024, path
    for folder in REFERENCE.glob("*-states-*"):
        states = set(pd.read_parquet(folder / "per_user.parquet")["state"].astype(str))
        assert states == {"user-cold"}
        assert {p.name for p in folder.glob("per_user-*.parquet")} == {
            "per_user-warm.parquet",
            "per_user-item-cold.parquet",
            "per_user-user-item-cold.parquet",
        }


def test_the_check_reads_only_the_tables_the_export_wrote_and_the_users_stay_untouched(study, tmp_path):
    """A paper folder with the user's own table-*.md and .csv: the export and its check pass and
    leave them as they were; a table the export listed and that is gone is named."""
    out = tmp_path / "paper"
    out.mkdir()
    mine = {out / "table-mine.md": "# my table\n", out / "table-main-old.csv": "method,MSE\nmelu,9.999\n"}
    for path, text in mine.items():
        path.write_text(text)
    export_study(study, "d", out)
    assert check_exported(out) > 0
    assert all(path.read_text() == text for path, text in mine.items())
    (out / "table-ablation.tex").unlink()
    with pytest.raises(
        ColdbenchError, match=r"table-ablation.tex: listed in .*exported-files.txt but missing"
    ):
        check_exported(out)


def test_a_study_without_paml_runs_exports_without_the_ablation_table(tmp_path, cli):
    """No PAML-family run: no ablation table, as a figure with nothing to draw is skipped; an earlier
    export's ablation table goes; the export is whole and checks."""
    for method, level in (("melu", 1.1), ("bias", 0.9)):
        for seed in range(2):
            write_fake_run(tmp_path / "results", method, seed, _per_user(level, seed), dataset="d")
    out = tmp_path / "paper"
    out.mkdir()
    (out / "table-ablation.md").write_text("an earlier export's table")
    (out / "exported-files.txt").write_text("table-ablation.md\n")
    code, _, err = cli(
        "report", "--results-dir", str(tmp_path / "results"), "--dataset", "d", "--export", str(out)
    )
    assert code == 0, err
    names = {p.name for p in out.iterdir()}
    assert {"table-main.md", "table-minor-major.csv", "runs.jsonl"} <= names
    assert not any(name.startswith("table-ablation") for name in names)
    assert "table-main.md" in exported_files(out) and check_exported(out) > 0
