"""The Taobao (Ali_Display_Ad_Click) reader on tiny invented files in the real files' layout."""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from coldbench.data.prepare import prepare
from coldbench.data.protocol import ProtocolConfig
from coldbench.data.sources import taobao
from coldbench.data.sources.base import RawDataset
from coldbench.data.sources.source import SOURCES, SourceRequest
from coldbench.errors import ColdbenchError

RAW_HEADER = "user,time_stamp,adgroup_id,pid,nonclk,clk\n"
RAW = RAW_HEADER + (
    "1,1494137644,10,430548_1007,1,0\n"
    "2,1494638778,12,430548_1007,1,0\n"
    "1,1494651029,11,430539_1007,0,1\n"
    "3,1494651029,10,430548_1007,1,0\n"
    "4,1494232325,12,430548_1007,0,1\n"
    "2,1494248776,10,430539_1007,1,0\n"
    "3,1494248776,13,430539_1007,0,1\n"
)
# the real header ends in "new_user_class_level " (trailing space)
PROFILE_HEADER = (
    "userid,cms_segid,cms_group_id,final_gender_code,age_level,pvalue_level,shopping_level,"
    "occupation,new_user_class_level \n"
)
PROFILE = PROFILE_HEADER + (
    "1,0,5,2,5,,3,0,3\n"  # empty pvalue_level
    "2,5,2,2,2,1,3,1,2\n"
    "3,0,8,1,2,2,3,0,\n"  # empty new_user_class_level
    "9,0,4,2,4,2,3,0,4\n"  # no impressions: not returned
)  # user 4 has no profile
ADS = (
    "adgroup_id,cate_id,campaign_id,customer,brand,price\n"
    "10,6406,83237,1,95471,170.04\n"
    "11,6406,83237,1,NULL,0\n"
    "12,4520,387991,6192,247789,3\n"
    "13,7751,6221,98,NULL,\n"
    "99,1,1,1,1,1\n"  # never shown: not returned
)


def write_folder(folder: Path, raw: str = RAW, profile: str = PROFILE, ads: str = ADS) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "raw_sample.csv").write_text(raw)
    (folder / "user_profile.csv").write_text(profile)
    (folder / "ad_feature.csv").write_text(ads)
    return folder


def read(source: Path | None, tmp_path: Path, **options: str) -> RawDataset:
    request = SourceRequest(raw_dir=tmp_path / "raw", source=source, options=options)
    return taobao.read_taobao(request)


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    return write_folder(tmp_path / "taobao")


def test_registered_with_its_options() -> None:
    source = SOURCES.get("taobao")
    assert list(source.options) == ["sample_users", "sample_seed"]
    assert source.read is taobao.read_taobao


def test_interactions(folder: Path, tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    data = read(folder, tmp_path)
    assert data.name == "taobao"
    assert data.rating_scale == (0.0, 1.0)
    assert data.interactions.to_dict("records") == [
        {"user_id": "1", "item_id": "10", "rating": 0.0},
        {"user_id": "2", "item_id": "12", "rating": 0.0},
        {"user_id": "1", "item_id": "11", "rating": 1.0},
        {"user_id": "3", "item_id": "10", "rating": 0.0},
        {"user_id": "4", "item_id": "12", "rating": 1.0},
        {"user_id": "2", "item_id": "10", "rating": 0.0},
        {"user_id": "3", "item_id": "13", "rating": 1.0},
    ]
    assert data.interactions["rating"].dtype == np.float64
    assert "raw_sample.csv" in capfd.readouterr().err  # the progress bar works without a terminal


def test_users(folder: Path, tmp_path: Path) -> None:
    data = read(folder, tmp_path)
    assert [(f.name, f.multi) for f in data.user_features] == [
        (name, False)
        for name in (
            "cms_segid",
            "cms_group_id",
            "gender",
            "age_level",
            "pvalue_level",
            "shopping_level",
            "occupation",
            "new_user_class_level",
        )
    ]
    features = ["cms_segid", "cms_group_id", "gender", "age_level", "pvalue_level", "shopping_level"]
    rows = [["1", "0", "5", "2", "5", None, "3", "0", "3"], ["2", "5", "2", "2", "2", "1", "3", "1", "2"]]
    rows.append(["3", "0", "8", "1", "2", "2", "3", "0", None])
    expected = [dict(zip(["user_id", *features, "occupation", "new_user_class_level"], r)) for r in rows]
    assert data.users.to_dict("records") == expected  # user 4 (no profile) and 9 (no impressions) absent


def test_items(folder: Path, tmp_path: Path) -> None:
    data = read(folder, tmp_path)
    assert [f.name for f in data.item_features] == [
        "cate_id",
        "campaign_id",
        "customer",
        "brand",
        "price_bucket",
    ]
    assert all(not f.multi for f in data.item_features)
    assert data.items.to_dict("records") == [
        # floor(log2(170.04 + 1)) = 7, log2(0 + 1) = 0, log2(3 + 1) = 2; a blank price is None
        {"item_id": "10", "cate_id": "6406", "campaign_id": "83237", "customer": "1", "brand": "95471",
         "price_bucket": "7"},
        {"item_id": "11", "cate_id": "6406", "campaign_id": "83237", "customer": "1", "brand": None,
         "price_bucket": "0"},
        {"item_id": "12", "cate_id": "4520", "campaign_id": "387991", "customer": "6192", "brand": "247789",
         "price_bucket": "2"},
        {"item_id": "13", "cate_id": "7751", "campaign_id": "6221", "customer": "98", "brand": None,
         "price_bucket": None},
    ]  # fmt: skip


def test_sources_are_unverified(folder: Path, tmp_path: Path) -> None:
    data = read(folder, tmp_path)
    assert [(s.path, s.verified) for s in data.sources] == [
        ("raw_sample.csv", False),
        ("user_profile.csv", False),
        ("ad_feature.csv", False),
    ]


def test_zip_reads_like_the_folder(folder: Path, tmp_path: Path) -> None:
    archive = tmp_path / "taobao.zip"
    with zipfile.ZipFile(archive, "w") as out:
        for path in sorted(folder.iterdir()):
            out.write(path, f"Ali_Display_Ad_Click/{path.name}")
    from_zip, from_folder = read(archive, tmp_path), read(folder, tmp_path)
    for table in ("interactions", "users", "items"):
        pd.testing.assert_frame_equal(getattr(from_zip, table), getattr(from_folder, table))
    assert [(s.path, s.verified) for s in from_zip.sources] == [("taobao.zip", False)]


def test_small_chunks_read_the_same(folder: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    whole = read(folder, tmp_path)
    monkeypatch.setattr(taobao, "CHUNK_BYTES", 2)  # blocks of one line, read two bytes at a time
    chunked = read(folder, tmp_path)
    for table in ("interactions", "users", "items"):
        pd.testing.assert_frame_equal(getattr(chunked, table), getattr(whole, table))


def test_sample_users(folder: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    full = read(folder, tmp_path)
    picks = []
    for seed in range(8):
        data = read(folder, tmp_path, sample_users="2", sample_seed=str(seed))
        kept = set(data.interactions["user_id"])
        assert len(kept) == 2
        expected = full.interactions[full.interactions["user_id"].isin(kept)].reset_index(drop=True)
        pd.testing.assert_frame_equal(data.interactions, expected)  # every row of a kept user
        assert set(data.users["user_id"]) == kept - {"4"}
        picks.append(sorted(kept))
    assert len({tuple(p) for p in picks}) > 1  # the seed matters
    monkeypatch.setattr(taobao, "CHUNK_BYTES", 2)
    again = read(folder, tmp_path, sample_users="2", sample_seed="3")
    assert sorted(set(again.interactions["user_id"])) == picks[3]  # deterministic, also in chunks
    assert set(read(folder, tmp_path, sample_users="10").interactions["user_id"]) == {"1", "2", "3", "4"}


def test_sample_users_must_be_positive(folder: Path, tmp_path: Path) -> None:
    with pytest.raises(ColdbenchError, match="sample_users=0"):
        read(folder, tmp_path, sample_users="0")


def test_source_is_required(tmp_path: Path) -> None:
    with pytest.raises(ColdbenchError) as error:
        read(None, tmp_path)
    message = str(error.value)
    assert "tianchi.aliyun.com/dataset/56" in message
    assert "login" in message
    assert "--source" in message


def test_missing_file(tmp_path: Path) -> None:
    folder = write_folder(tmp_path / "taobao")
    (folder / "ad_feature.csv").unlink()
    (folder / "ad_feature.csv.tar.gz").write_bytes(b"")
    with pytest.raises(ColdbenchError, match=r"ad_feature\.csv not found.*unpacked"):
        read(folder, tmp_path)


@pytest.mark.parametrize(
    ("file", "header", "missing"),
    [
        ("raw", "user,time_stamp,adgroup,pid,nonclk,clk\n", "adgroup_id"),
        ("profile", PROFILE_HEADER.replace("age_level,", ""), "age_level"),
    ],
)
def test_missing_column(tmp_path: Path, file: str, header: str, missing: str) -> None:
    if file == "raw":
        folder = write_folder(tmp_path / "t", raw=header + RAW.split("\n", 1)[1])
        name = "raw_sample.csv"
    else:
        folder = write_folder(tmp_path / "t", profile=header)
        name = "user_profile.csv"
    with pytest.raises(ColdbenchError, match=rf"{name}: line 1: missing column\(s\) {missing}\b"):
        read(folder, tmp_path)


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        (
            "5,1494137644,10,430548_1007,1,0,7",
            "line 4: malformed line: expected 6 comma-separated fields.*got 7",
        ),
        ("5,1494137644,10,430548_1007", "line 4: malformed line: expected 6 comma-separated fields.*got 4"),
        ("5,1494137644,x10,430548_1007,1,0", "line 4: adgroup_id 'x10' is not a non-negative integer"),
        ("5,1494137644,10,430548_1007,1,2", "line 4: clk '2' is not 0 or 1"),
        ("5,1494137644,10,430548_1007,1,", "line 4: clk is empty"),
    ],
)
def test_bad_raw_sample_line(tmp_path: Path, line: str, expected: str) -> None:
    rows = RAW.splitlines()
    raw = "\n".join([*rows[:3], line, *rows[3:]]) + "\n"  # line 4 of the file
    folder = write_folder(tmp_path / "t", raw=raw)
    with pytest.raises(ColdbenchError, match=rf"raw_sample\.csv: {expected}"):
        read(folder, tmp_path)


def test_bad_line_number_counts_blank_lines_and_blocks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    raw = RAW + "\n" + "6,1,10,p,1,0\n" * 3 + "6,1,10,p,1\n"  # line 9 blank, 10-12 fine, 13 bad
    folder = write_folder(tmp_path / "t", raw=raw)
    monkeypatch.setattr(taobao, "CHUNK_BYTES", 16)
    with pytest.raises(ColdbenchError, match=r"raw_sample\.csv: line 13: malformed line"):
        read(folder, tmp_path)


def test_end_to_end_prepare(tmp_path: Path) -> None:
    rng = np.random.default_rng(7)
    raw, profile = [RAW_HEADER], [PROFILE_HEADER]
    for user in range(1, 17):
        for shown in range(int(rng.integers(4, 7))):
            ad, click = 100 + (user + shown) % 20, int(shown < 2 or rng.random() < 0.3)  # ≥ 2 clicks each
            raw.append(f"{user},1494137644,{ad},430548_1007,{1 - click},{click}\n")
        if user == 1:  # the first ad shown again, not clicked: the last impression stands
            raw.append(f"{user},1494137645,{100 + user % 20},430548_1007,1,0\n")
        profile.append(f"{user},0,{user % 3},{user % 2 + 1},{user % 6},{user % 3 + 1},3,0,{user % 4 + 1}\n")
    ads = ["adgroup_id,cate_id,campaign_id,customer,brand,price\n"]
    ads += [f"{ad},{ad % 5},{ad},{ad % 7},{'NULL' if ad % 4 else ad},{ad * 1.5}\n" for ad in range(100, 120)]
    folder = write_folder(tmp_path / "src", raw="".join(raw), profile="".join(profile), ads="".join(ads))

    with pytest.raises(ColdbenchError, match="--task ctr"):
        prepare("taobao", source=folder, data_dir=tmp_path, config=ProtocolConfig(cold_fraction=1.0))
    config = ProtocolConfig(cold_fraction=1.0, split=(0.5, 0.25, 0.25), task="ctr")
    result = prepare("taobao", source=folder, data_dir=tmp_path, config=config)
    assert result.path.name == "taobao-ctr" and result.manifest["task"] == "ctr"
    assert result.manifest["stats"]["click_threshold"] == 1.0
    stats = result.manifest["stats"]
    assert stats["users"] == 16
    for split in ("train", "valid", "test"):
        counts = stats["splits"][split]
        assert counts["users"] > 0 and counts["support"] > 0 and counts["query"] > 0
    interactions = pd.read_parquet(result.path / "interactions.parquet")
    assert set(interactions["rating"]) <= {0.0, 1.0}
    assert (interactions["click"] == interactions["rating"]).all()
    shown = pd.Series([line.split(",")[0] + "/" + line.split(",")[2] for line in raw[1:]])
    repeated = int(shown.duplicated().sum())  # an ad shown to a user again: the last impression stands
    assert repeated > 0 and stats["repeated_pairs_dropped"] == repeated
    assert len(interactions) == len(raw) - 1 - repeated
    assert result.manifest["rating_scale"] == [0.0, 1.0]
    assert result.manifest["features"]["item"][-1] == {"name": "price_bucket", "multi": False}


def test_cli_prepares_taobao_as_click_data_by_default(tmp_path: Path, cli) -> None:
    rng = np.random.default_rng(3)
    raw, profile = [RAW_HEADER], [PROFILE_HEADER]
    for user in range(1, 17):
        for shown in range(5):
            ad, click = int(rng.integers(100, 110)), int(shown < 2)
            raw.append(f"{user},1494137644,{ad},430548_1007,{1 - click},{click}\n")
        profile.append(f"{user},0,1,1,2,1,3,0,1\n")
    ads = ["adgroup_id,cate_id,campaign_id,customer,brand,price\n"]
    ads += [f"{ad},1,{ad},2,3,{ad * 1.5}\n" for ad in range(100, 110)]
    folder = write_folder(tmp_path / "src", raw="".join(raw), profile="".join(profile), ads="".join(ads))
    args = [
        "prepare",
        "taobao",
        "--source",
        str(folder),
        "--cold-fraction",
        "1",
        "--split",
        "2:1:1",
        "--data-dir",
        str(tmp_path / "data"),
    ]
    code, out, err = cli(*args)
    assert code == 0, err
    assert "taobao-ctr" in out
