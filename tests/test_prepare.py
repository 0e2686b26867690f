"""``prepare``: folders, manifest, reuse/force, atomic writes, the CLI, and the real datasets."""

from __future__ import annotations

import dataclasses
import json
import re
import sys
from pathlib import Path

import pandas as pd
import pytest

from coldbench.cli import main
from coldbench.cli.data import print_summary
from coldbench.data.prepare import prepare
from coldbench.data.prepared import content_hash, list_prepared, load_prepared
from coldbench.data.protocol import ProtocolConfig, protocol_config
from coldbench.data.sources import SOURCES, SourceRequest
from coldbench.data.sources.base import RawDataset
from coldbench.errors import ColdbenchError
from coldbench.paths import prepared_root

SMALL = {"users": "300", "items": "60"}
FILES = ["interactions.parquet", "items.parquet", "manifest.json", "users.parquet"]


def split_of(path: Path) -> pd.Series:
    return pd.read_parquet(path / "users.parquet").set_index("user_id")["split"]


def root_entries(data_dir: Path) -> list[str]:
    """Everything (hidden temp folders included) under the prepared root, except lock files."""
    root = prepared_root(data_dir)
    return sorted(p.name for p in root.iterdir() if p.suffix != ".lock") if root.exists() else []


def failing_source(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make the registered synthetic source raise while reading."""

    def boom(request: SourceRequest) -> RawDataset:
        raise ColdbenchError("synthetic source failed on purpose")

    original = SOURCES.get("synthetic")
    monkeypatch.setitem(SOURCES._entries, "synthetic", dataclasses.replace(original, read=boom))


def failing_write(monkeypatch: pytest.MonkeyPatch) -> None:
    """Let interactions.parquet and users.parquet be written, then fail on items.parquet."""
    original = pd.DataFrame.to_parquet

    def to_parquet(self: pd.DataFrame, path: Path, *args: object, **kwargs: object) -> None:
        if Path(path).name == "items.parquet":
            raise OSError("disk full (simulated)")
        original(self, path, *args, **kwargs)

    monkeypatch.setattr(pd.DataFrame, "to_parquet", to_parquet)


# ---------------------------------------------------------------- library


def test_prepare_synthetic_folder_and_manifest(tmp_path: Path) -> None:
    result = prepare("synthetic", options=SMALL, data_dir=tmp_path)
    assert result.reused is False
    assert result.path == tmp_path / "prepared" / "synthetic"
    assert sorted(p.name for p in result.path.iterdir()) == FILES
    manifest = json.loads((result.path / "manifest.json").read_text())
    assert manifest == result.manifest
    assert manifest["name"] == "synthetic"
    assert manifest["source_name"] == "synthetic"
    assert manifest["source_options"] == {"items": "60", "users": "300"}
    assert re.fullmatch(r"[0-9a-f]{64}", manifest["content_hash"])
    protocol = manifest["protocol"]
    assert protocol["seed"] == 0
    assert protocol["split"] == [0.7, 0.1, 0.2]
    assert protocol["cold_fraction"] == 0.8
    assert protocol["subset"] is None
    assert protocol["major_basis"] == "prepared"
    stats = manifest["stats"]
    assert stats["users_in_source"] == 300
    assert stats["cold_start_users"] == 240  # round(0.8 * 300)
    assert stats["dropped_users"] == {"invalid_features": 0, "too_few_interactions": 0}
    assert stats["users"] == 240
    assert stats["items"] == 60
    assert [stats["splits"][s]["users"] for s in ("train", "valid", "test")] == [168, 24, 48]
    assert set(manifest["vocab"]["user"]) == {"region", "age_band", "occupation", "device"}
    assert set(manifest["vocab"]["item"]) == {"kind", "genre"}
    assert manifest["vocab"]["item"]["kind"] == [f"kind-{k}" for k in range(6)]
    assert manifest["verified"] is None  # no source files

    loaded = load_prepared("synthetic", tmp_path)
    assert len(loaded.users) == 240
    assert len(loaded.interactions) == stats["interactions"]
    assert loaded.interactions.columns.tolist() == ["user_id", "item_id", "rating", "split", "role"]
    assert all(isinstance(cell, list) for cell in loaded.items["genre"])
    tables = {"interactions": loaded.interactions, "users": loaded.users, "items": loaded.items}
    assert content_hash(tables) == manifest["content_hash"]  # independent of the parquet round trip


def test_prepare_reuses_without_reading(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    first = prepare("synthetic", options=SMALL, data_dir=tmp_path)
    mtime = (first.path / "users.parquet").stat().st_mtime_ns
    failing_source(monkeypatch)  # a reuse must not read the source again
    second = prepare("synthetic", options=SMALL, data_dir=tmp_path)
    assert second.reused is True
    assert second.path == first.path
    assert second.manifest["content_hash"] == first.manifest["content_hash"]
    assert (first.path / "users.parquet").stat().st_mtime_ns == mtime


def test_prepare_same_seed_same_hash_elsewhere(tmp_path: Path) -> None:
    a = prepare("synthetic", options=SMALL, data_dir=tmp_path / "a")
    b = prepare("synthetic", options=SMALL, data_dir=tmp_path / "b")
    assert b.reused is False
    assert a.manifest["content_hash"] == b.manifest["content_hash"]
    pd.testing.assert_frame_equal(
        pd.read_parquet(a.path / "interactions.parquet"), pd.read_parquet(b.path / "interactions.parquet")
    )


def test_prepare_other_seed(tmp_path: Path) -> None:
    base = prepare("synthetic", options=SMALL, data_dir=tmp_path)
    other = prepare("synthetic", config=ProtocolConfig(seed=1), options=SMALL, data_dir=tmp_path)
    assert other.reused is False
    assert other.path.name == "synthetic-seed1"
    assert other.manifest["protocol"]["seed"] == 1
    assert other.manifest["content_hash"] != base.manifest["content_hash"]
    a, b = split_of(base.path), split_of(other.path)
    assert set(a.index) == set(b.index)  # the cold-start users do not depend on the seed
    assert (a != b.reindex(a.index)).sum() > 20
    assert b.value_counts().to_dict() == a.value_counts().to_dict()  # same 168/24/48 sizes
    assert list_prepared(tmp_path) == ["synthetic", "synthetic-seed1"]


def test_prepare_subset_name(tmp_path: Path) -> None:
    result = prepare("synthetic", config=ProtocolConfig(subset=100), options=SMALL, data_dir=tmp_path)
    assert result.path.name == "synthetic-subset100"
    assert result.manifest["stats"]["users_in_source"] == 100
    assert result.manifest["stats"]["cold_start_users"] == 80
    both = ProtocolConfig(subset=100, seed=2)
    assert prepare("synthetic", config=both, options=SMALL, data_dir=tmp_path).path.name == (
        "synthetic-subset100-seed2"
    )


def test_prepare_explicit_name(tmp_path: Path) -> None:
    result = prepare("synthetic", options=SMALL, name="mine", data_dir=tmp_path)
    assert result.path == tmp_path / "prepared" / "mine"
    assert result.manifest["name"] == "mine"


@pytest.mark.parametrize(
    ("options", "config", "reason"),
    [
        ({"users": "200", "items": "60"}, None, "its source options (-o) differ"),
        (SMALL, ProtocolConfig(cold_fraction=0.5), "its protocol settings differ"),
    ],
)
def test_prepare_conflict_needs_force(
    tmp_path: Path, options: dict, config: ProtocolConfig | None, reason: str
) -> None:
    first = prepare("synthetic", options=SMALL, data_dir=tmp_path)
    with pytest.raises(ColdbenchError, match="--force") as error:
        prepare("synthetic", config=config, options=options, data_dir=tmp_path)
    assert "synthetic" in str(error.value) and reason in str(error.value)
    assert load_prepared("synthetic", tmp_path).manifest["content_hash"] == first.manifest["content_hash"]

    rebuilt = prepare("synthetic", config=config, options=options, force=True, data_dir=tmp_path)
    assert rebuilt.reused is False
    assert rebuilt.path == first.path
    assert rebuilt.manifest["content_hash"] != first.manifest["content_hash"]
    assert load_prepared("synthetic", tmp_path).manifest == rebuilt.manifest
    assert root_entries(tmp_path) == ["synthetic"]  # no temp or old folders left behind


def test_a_folder_from_an_older_reader_names_the_versions(tmp_path: Path) -> None:
    """A coldbench whose source reader changed since the folder was made says so, and how to go on."""
    first = prepare("synthetic", options=SMALL, data_dir=tmp_path)
    manifest_path = first.path / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    manifest["source_version"] = SOURCES.get("synthetic").version + 1
    manifest_path.write_text(json.dumps(manifest))
    with pytest.raises(ColdbenchError) as error:
        prepare("synthetic", options=SMALL, data_dir=tmp_path)
    message = str(error.value)
    assert f"version {manifest['source_version']} of the synthetic reader" in message
    assert "coldbench prepare synthetic … --force" in message


def test_prepare_force_same_recipe_rebuilds(tmp_path: Path) -> None:
    first = prepare("synthetic", options=SMALL, data_dir=tmp_path)
    again = prepare("synthetic", options=SMALL, force=True, data_dir=tmp_path)
    assert again.reused is False
    assert again.manifest["content_hash"] == first.manifest["content_hash"]


def test_prepare_failed_read_leaves_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    failing_source(monkeypatch)
    with pytest.raises(ColdbenchError, match="failed on purpose"):
        prepare("synthetic", options=SMALL, data_dir=tmp_path)
    assert root_entries(tmp_path) == []
    assert list_prepared(tmp_path) == []


def test_prepare_failed_write_leaves_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    failing_write(monkeypatch)
    with pytest.raises(ColdbenchError, match=r"cannot write .*synthetic.*simulated.*nothing written before"):
        prepare("synthetic", options=SMALL, data_dir=tmp_path)
    assert root_entries(tmp_path) == []  # the half-written temp folder is gone too


@pytest.mark.parametrize("fail", [failing_source, failing_write])
def test_prepare_failed_force_keeps_previous(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fail) -> None:
    first = prepare("synthetic", options=SMALL, data_dir=tmp_path)
    before = {p.name: p.read_bytes() for p in first.path.iterdir()}
    fail(monkeypatch)
    with pytest.raises((ColdbenchError, OSError)):
        prepare("synthetic", options={"users": "200", "items": "60"}, force=True, data_dir=tmp_path)
    assert root_entries(tmp_path) == ["synthetic"]
    assert {p.name: p.read_bytes() for p in first.path.iterdir()} == before
    monkeypatch.undo()
    assert prepare("synthetic", options=SMALL, data_dir=tmp_path).reused is True


def test_prepare_unknown_dataset(tmp_path: Path) -> None:
    with pytest.raises(ColdbenchError, match="Unknown dataset 'nosuch'") as error:
        prepare("nosuch", data_dir=tmp_path)
    for name in ("atomic", "bookcrossing", "movielens", "synthetic"):
        assert name in str(error.value)


def test_prepare_unknown_option(tmp_path: Path) -> None:
    with pytest.raises(ColdbenchError, match="colour") as error:
        prepare("synthetic", options={"users": "300", "colour": "red"}, data_dir=tmp_path)
    assert "--option" in str(error.value)
    assert "users" in str(error.value)  # the known keys are listed
    assert root_entries(tmp_path) == []


def test_prepare_bad_option_value(tmp_path: Path) -> None:
    with pytest.raises(ColdbenchError, match="users='many'"):
        prepare("synthetic", options={"users": "many"}, data_dir=tmp_path)
    assert root_entries(tmp_path) == []


def test_prepare_missing_source_path(tmp_path: Path) -> None:
    with pytest.raises(ColdbenchError, match="--source"):
        prepare("movielens", source=tmp_path / "absent.zip", data_dir=tmp_path)


# ---------------------------------------------------------------- CLI (in-process)


def run_cli(monkeypatch: pytest.MonkeyPatch, *args: str, columns: int = 200) -> int:
    """Run ``coldbench ARGS`` in-process and return its exit code.

    Rich sizes tables to the terminal (the real one when pytest runs in one, else 80 columns);
    COLUMNS pins the width so that the output does not depend on where the tests run.
    """
    monkeypatch.setenv("COLUMNS", str(columns))
    monkeypatch.setattr(sys, "argv", ["coldbench", *args])
    try:
        main()
    except SystemExit as done:
        return 0 if done.code is None else int(done.code)
    return 0


def numbers(line: str) -> list[int]:
    return [int(n.replace(",", "")) for n in re.findall(r"\d[\d,]*", line)]


def test_cli_prepare_and_list(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    args = ["prepare", "synthetic", "-o", "users=300", "-o", "items=60", "--data-dir", str(tmp_path)]
    assert run_cli(monkeypatch, *args) == 0
    out = capsys.readouterr().out
    manifest = load_prepared("synthetic", tmp_path).manifest
    assert "prepared synthetic" in out
    assert "splits" in out
    assert "major users" in out
    for split in ("train", "valid", "test"):
        row = next(line for line in out.splitlines() if f" {split} " in line)
        counts = manifest["stats"]["splits"][split]
        keys = ("users", "major_users", "minor_users", "interactions", "support", "query")
        assert numbers(row) == [counts[k] for k in keys]
    share = f"{manifest['stats']['major']['major_share']:.1%}"
    assert share in next(line for line in out.splitlines() if "major users" in line)
    assert manifest["content_hash"][:16] in out

    assert run_cli(monkeypatch, *args) == 0
    assert "reused synthetic" in capsys.readouterr().out

    assert run_cli(monkeypatch, "datasets", "--data-dir", str(tmp_path)) == 0
    out = capsys.readouterr().out
    row = next(line for line in out.splitlines() if "synthetic" in line)
    assert "240" in row
    assert manifest["content_hash"][:8] in row


def test_cli_datasets_names_fit_80_columns(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    stats = prepare("synthetic", options=SMALL, data_dir=tmp_path).manifest["stats"]
    assert run_cli(monkeypatch, "datasets", "--data-dir", str(tmp_path), columns=80) == 0
    row = next(line for line in capsys.readouterr().out.splitlines() if "240" in line)
    assert re.search(r"\bsynthetic\b", row)
    assert f"{stats['interactions']:,}" in row  # counts are not cut either


def test_cli_datasets_empty(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    assert run_cli(monkeypatch, "datasets", "--data-dir", str(tmp_path)) == 0
    assert "no prepared datasets" in capsys.readouterr().out


def test_cli_unknown_dataset(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    assert run_cli(monkeypatch, "prepare", "nosuch", "--data-dir", str(tmp_path)) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1
    assert "Unknown dataset" in lines[0]
    assert "synthetic" in lines[0]


def test_cli_bad_split(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    code = run_cli(monkeypatch, "prepare", "synthetic", "--split", "7:1", "--data-dir", str(tmp_path))
    assert code == 1
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1
    assert "--split" in lines[0]
    assert root_entries(tmp_path) == []


def test_cli_conflict_names_force(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    base = ["prepare", "synthetic", "-o", "users=300", "-o", "items=60", "--data-dir", str(tmp_path)]
    assert run_cli(monkeypatch, *base) == 0
    capsys.readouterr()
    assert run_cli(monkeypatch, *base, "--cold-fraction", "0.5") == 1
    assert "--force" in capsys.readouterr().err
    assert run_cli(monkeypatch, *base, "--cold-fraction", "0.5", "--force") == 0
    assert load_prepared("synthetic", tmp_path).manifest["protocol"]["cold_fraction"] == 0.5


def test_cli_reuses_library_default(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    prepare("synthetic", options=SMALL, data_dir=tmp_path)
    args = ["prepare", "synthetic", "-o", "users=300", "-o", "items=60", "--data-dir", str(tmp_path)]
    assert run_cli(monkeypatch, *args) == 0
    assert "reused synthetic" in capsys.readouterr().out


def test_cli_seed_name(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    args = ["prepare", "synthetic", "-o", "users=300", "-o", "items=60", "--seed", "3"]
    assert run_cli(monkeypatch, *args, "--data-dir", str(tmp_path)) == 0
    assert "synthetic-seed3" in capsys.readouterr().out
    assert list_prepared(tmp_path) == ["synthetic-seed3"]


# ---------------------------------------------------------------- real data


def test_real_movielens(shared_data: Path, tmp_path: Path, capsys) -> None:
    result = prepare(
        "movielens",
        source=shared_data / "ml-1m-internal.zip",
        extras=shared_data / "melu-ml-1m-extras",
        verify=False,
        data_dir=tmp_path,
    )
    manifest = result.manifest
    stats = manifest["stats"]
    assert result.path.name == "movielens"
    assert manifest["verified"] is False
    assert stats["users_in_source"] == 6040
    assert stats["cold_start_users"] == 4832  # round(0.8 * 6040)
    assert stats["dropped_users"] == {"invalid_features": 0, "too_few_interactions": 0}
    assert stats["users"] == 4832
    assert stats["items"] == 3883
    assert [stats["splits"][s]["users"] for s in ("train", "valid", "test")] == [3382, 483, 967]
    assert (
        sum(stats["splits"][s]["interactions"] for s in ("train", "valid", "test")) == stats["interactions"]
    )
    major = stats["major"]
    assert set(major["feature_share"]) == {"gender", "age", "occupation", "zipcode"}
    for feature, share in major["feature_share"].items():
        assert 0.5 < share < 0.8, feature
    assert major["n_major_values"]["gender"] == 1  # ceil(0.3 * 2)
    assert major["n_major_values"]["age"] == 3  # ceil(0.3 * 7)
    assert major["n_major_values"]["occupation"] == 7  # ceil(0.3 * 21)
    major_users = sum(stats["splits"][s]["major_users"] for s in ("train", "valid", "test"))
    assert major_users == 2838  # does not depend on the split seed
    assert major["major_share"] == pytest.approx(2838 / 4832)

    print_summary(manifest, result.path)
    out = capsys.readouterr().out
    assert "NOT verified" in out
    assert f"{major['major_share']:.1%}" in next(line for line in out.splitlines() if "major users" in line)
    _check_protocol_md_table_1(shared_data / "ml-1m-internal.zip", major)


def _check_protocol_md_table_1(archive: Path, prepared: dict) -> None:
    """docs/protocol.md's Table 1 comparison: its source-user and prepared-user shares are these data's."""
    import re
    import zipfile

    from coldbench.data.protocol import ProtocolConfig, label_major
    from coldbench.data.sources.movielens import read_users

    with zipfile.ZipFile(archive) as z:
        member = next(n for n in z.namelist() if n.endswith("users.dat"))
        users = read_users("users.dat", z.read(member))
    features = ["gender", "age", "occupation", "zipcode"]
    _, source = label_major(users, features, ProtocolConfig())
    text = (Path(__file__).resolve().parents[1] / "docs" / "protocol.md").read_text(encoding="utf-8")
    for feature in features:
        row = next(line for line in text.splitlines() if line.startswith(f"| {feature} |"))
        cells = [c.strip() for c in row.strip("|").split("|")]
        assert cells[2] == f"{source['feature_share'][feature]:.1%}", (feature, cells)
        assert cells[3] == f"{prepared['feature_share'][feature]:.1%}", (feature, cells)
    row = next(line for line in text.splitlines() if line.startswith("| major users |"))
    cells = [c.strip() for c in row.strip("|").split("|")]
    assert cells[2] == f"{source['major_share']:.1%}" and cells[3] == f"{prepared['major_share']:.1%}"
    zipcodes = re.search(
        r"for zipcode it is ([\d,]+) over the prepared users and ([\d,]+) over the source", text
    )
    assert zipcodes, "the zipcode sentence moved"
    assert zipcodes.groups() == (
        f"{prepared['n_major_values']['zipcode']:,}",
        f"{source['n_major_values']['zipcode']:,}",
    )


def test_real_movielens_verify_fails(shared_data: Path, tmp_path: Path) -> None:
    with pytest.raises(ColdbenchError, match="--no-verify"):
        prepare(
            "movielens",
            source=shared_data / "ml-1m-internal.zip",
            extras=shared_data / "melu-ml-1m-extras",
            data_dir=tmp_path,
        )
    assert root_entries(tmp_path) == []


def test_real_atomic_ml100k(shared_data: Path) -> None:
    result = prepare("atomic", source=shared_data / "recbole-ml-100k")  # into the isolated COLDBENCH_HOME
    stats = result.manifest["stats"]
    assert result.path.name == "ml-100k"
    assert result.path == prepared_root() / "ml-100k"
    assert result.manifest["source_options"] == {"name": "ml-100k"}
    assert stats["users_in_source"] == 943
    assert stats["cold_start_users"] == round(0.8 * 943) == 754
    assert stats["dropped_users"] == {"invalid_features": 1, "too_few_interactions": 0}  # the user aged 7
    assert stats["users"] == 753
    assert stats["items"] == 1682
    assert prepare("atomic", source=shared_data / "recbole-ml-100k").reused is True


def test_manifest_from_an_older_version_is_reused(tmp_path: Path) -> None:
    """Fields a manifest written by an older coldbench lacks count as their defaults."""
    first = prepare("synthetic", options=SMALL, data_dir=tmp_path)
    manifest_path = first.path / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    del manifest["protocol"]["major_basis"], manifest["protocol"]["task"], manifest["request"]
    manifest["protocol"]["split"] = [7.0, 1.0, 2.0]  # older versions stored the ratios as given
    manifest_path.write_text(json.dumps(manifest))
    again = prepare("synthetic", options=SMALL, data_dir=tmp_path)
    assert again.reused
    with pytest.raises(ColdbenchError, match="--force"):
        prepare("synthetic", options=SMALL, data_dir=tmp_path, config=ProtocolConfig(major_basis="source"))


def test_manifest_from_before_the_presets_is_reused_as_paml(tmp_path: Path) -> None:
    """A manifest without ``name``, ``max_interactions``, ``query_size``, ``filter_before_split`` is paml."""
    first = prepare("synthetic", options=SMALL, data_dir=tmp_path)
    manifest_path = first.path / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    for key in ("name", "max_interactions", "query_size", "filter_before_split"):
        del manifest["protocol"][key]
    manifest_path.write_text(json.dumps(manifest))
    assert prepare("synthetic", options=SMALL, data_dir=tmp_path).reused
    # the MeLU preset gets its own folder and never meets the paml one
    melu = prepare("synthetic", options=SMALL, data_dir=tmp_path, config=protocol_config("melu"))
    assert melu.path.name == "synthetic-melu" and not melu.reused
    assert prepare("synthetic", options=SMALL, data_dir=tmp_path).reused
