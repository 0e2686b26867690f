"""The RecBole atomic-files source, on small invented files (and the real ML-100K when present)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from coldbench.data.sources.atomic import read_atomic_dataset
from coldbench.data.sources.base import Feature
from coldbench.data.sources.source import SOURCES, SourceRequest
from coldbench.errors import ColdbenchError

INTER = (
    "user_id:token\titem_id:token\trating:float\ttimestamp:float\n"
    "u1\ti1\t4\t100\nu1\ti2\t2.5\t101\nu2\ti1\t1\t102\nu3\ti3\t5\t\n"
)
USER = (
    "user_id:token\tage:float\tgender:token\ttags:token_seq\tscore:float_seq\n"
    "u1\t24\tF\ta b\t0.1 0.2\nu2\t7\tM\t\t0.3\nu3\t\tM\tc\t\nu4\t101\t\td\t1\n"
)
ITEM = (
    "item_id:token\tmovie_title:token_seq\trelease_year:float\tclass:token_seq\n"
    "i1\tSome Film\t1995.0\tDrama Comedy\ni2\tOther\t1990\tAction\ni3\tThird\t\t\n"
)


def write(
    folder: Path, stem: str = "toy", inter: str = INTER, user: str | None = USER, item: str | None = ITEM
) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for suffix, text in ((".inter", inter), (".user", user), (".item", item)):
        if text is not None:
            (folder / f"{stem}{suffix}").write_text(text, encoding="utf-8")
    return folder


def read(source: Path | None, **options: str):
    return read_atomic_dataset(SourceRequest(raw_dir=Path("unused"), source=source, options=options))


def test_registered() -> None:
    source = SOURCES.get("atomic")
    assert source.read is read_atomic_dataset
    assert list(source.options) == ["rating_field", "name"]


def test_reads_invented_files(tmp_path: Path) -> None:
    data = read(write(tmp_path / "data"))
    assert data.name == "toy"
    core = data.interactions[["user_id", "item_id", "rating"]]
    assert list(core.itertuples(index=False, name=None)) == [
        ("u1", "i1", 4.0),
        ("u1", "i2", 2.5),
        ("u2", "i1", 1.0),
        ("u3", "i3", 5.0),
    ]
    assert list(data.interactions.columns) == ["user_id", "item_id", "rating", "timestamp"]
    assert data.interactions["timestamp"].tolist()[:3] == [100.0, 101.0, 102.0]  # --item-split time
    assert data.interactions["timestamp"].isna().tolist() == [False, False, False, True]  # blank: unknown
    assert data.item_years.to_dict() == {
        "i1": 1995.0,
        "i2": 1990.0,
        "i3": pytest.approx(float("nan"), nan_ok=True),
    }
    assert data.rating_scale == (1.0, 5.0)
    assert data.user_features == [Feature("age"), Feature("gender"), Feature("tags", multi=True)]
    users = data.users.astype(object).where(data.users.notna(), None).to_dict("records")
    assert users == [
        {"user_id": "u1", "age": "24", "gender": "F", "tags": ["a", "b"]},
        {"user_id": "u2", "age": None, "gender": "M", "tags": []},  # age 7 is outside [10, 100]
        {"user_id": "u3", "age": None, "gender": "M", "tags": ["c"]},  # blank age
        {"user_id": "u4", "age": None, "gender": None, "tags": ["d"]},  # age 101, blank gender
    ]
    # movie_title (free text) is skipped; a float feature becomes the string of its integer value.
    assert data.item_features == [Feature("release_year"), Feature("class", multi=True)]
    items = data.items.astype(object).where(data.items.notna(), None).to_dict("records")
    assert items == [
        {"item_id": "i1", "release_year": "1995", "class": ["Drama", "Comedy"]},
        {"item_id": "i2", "release_year": "1990", "class": ["Action"]},
        {"item_id": "i3", "release_year": None, "class": []},
    ]
    assert [(s.path, s.verified) for s in data.sources] == [
        ("toy.inter", False),
        ("toy.user", False),
        ("toy.item", False),
    ]


def test_prefix_file_and_options(tmp_path: Path) -> None:
    folder = write(tmp_path / "data")
    for source in (folder / "toy", folder / "toy.inter"):
        assert read(source).interactions["rating"].tolist() == [4.0, 2.5, 1.0, 5.0]
    assert read(folder, name="renamed").name == "renamed"
    with pytest.raises(ColdbenchError, match=r"toy\.inter line 5: rating '' is not a number"):
        read(folder, rating_field="timestamp")  # the last row's timestamp is blank


def test_rating_field_option(tmp_path: Path) -> None:
    inter = "user_id:token\titem_id:token\tstars:float\nu1\ti1\t8\nu2\ti1\t-2\n"
    folder = write(tmp_path / "data", inter=inter, user=None, item=None)
    data = read(folder, rating_field="stars")
    assert data.interactions["rating"].tolist() == [8.0, -2.0]
    assert data.rating_scale == (-2.0, 8.0)
    assert data.user_features == [] and data.item_features == []
    assert list(data.users.columns) == ["user_id"] and data.users.empty
    assert list(data.items.columns) == ["item_id"] and data.items.empty
    with pytest.raises(ColdbenchError, match=r"option rating_field='rating': no such column in .*toy\.inter"):
        read(folder)


def test_locating_files(tmp_path: Path) -> None:
    with pytest.raises(ColdbenchError, match="atomic needs a PATH"):
        read(None)
    with pytest.raises(ColdbenchError, match=r"no nothing\.inter found"):
        read(tmp_path / "nothing")
    folder = write(write(tmp_path / "two", stem="a"), stem="b")
    with pytest.raises(ColdbenchError, match=r"exactly one NAME\.inter file \(found: a\.inter, b\.inter\)"):
        read(folder)
    assert read(folder, name="b").name == "b"


@pytest.mark.parametrize(
    ("inter", "user", "message"),
    [
        (INTER + "u4\ti1\t3\t1\textra\n", USER, r"toy\.inter line 6: expected 4 tab-separated fields, got 5"),
        (
            INTER.replace("u2\ti1\t1\t102", "u2\ti1\t1"),
            USER,
            r"toy\.inter line 4: expected 4 tab-separated fields, got 3",
        ),
        (INTER.replace("\t2.5\t", "\tgood\t"), USER, r"toy\.inter line 3: rating 'good' is not a number"),
        (INTER.replace("u2\ti1", "\ti1"), USER, r"toy\.inter line 4: id 'user_id' is blank"),
        (INTER, USER.replace("age:float", "age"), r"toy\.user line 1: header field 'age' is not NAME:TYPE"),
        (INTER, USER.replace("age:float", "age:int"), r"toy\.user line 1: header field 'age:int'"),
        (INTER, USER.replace("gender:token", "age:token"), r"toy\.user line 1: column 'age' appears twice"),
        (INTER, USER + "u1\t30\tF\ta\t1\n", r"toy\.user line 6: user_id 'u1' appears twice"),
    ],
)
def test_malformed(tmp_path: Path, inter: str, user: str, message: str) -> None:
    with pytest.raises(ColdbenchError, match=message):
        read(write(tmp_path / "data", inter=inter, user=user))


def test_bad_float_feature(tmp_path: Path) -> None:
    item = ITEM.replace("1990", "ninety")
    with pytest.raises(ColdbenchError, match=r"toy\.item line 3: 'ninety' is not a number"):
        read(write(tmp_path / "data", item=item))


def test_crlf_and_latin1(tmp_path: Path) -> None:
    folder = write(tmp_path / "data", user=None, item=None)
    (folder / "toy.inter").write_bytes(INTER.replace("u3", "z\xe9").replace("\n", "\r\n").encode("latin-1"))
    data = read(folder)
    assert data.interactions["user_id"].tolist() == ["u1", "u1", "u2", "z\xe9"]
    assert data.interactions["rating"].tolist() == [4.0, 2.5, 1.0, 5.0]


def test_real_ml100k(shared_data: Path) -> None:
    data = read(shared_data / "recbole-ml-100k")
    assert data.name == "ml-100k"
    assert len(data.interactions) == 100_000
    assert data.interactions["user_id"].nunique() == 943
    assert len(data.users) == 943
    assert len(data.items) == 1_682
    assert data.rating_scale == (1.0, 5.0)
    counts = data.interactions["rating"].value_counts().sort_index().to_dict()
    assert counts == {1.0: 6110, 2.0: 11370, 3.0: 27145, 4.0: 34174, 5.0: 21201}
    assert data.interactions.iloc[0].tolist() == ["196", "242", 3.0, 881250949]
    assert [f.name for f in data.user_features] == ["age", "gender", "occupation", "zip_code"]
    assert [(f.name, f.multi) for f in data.item_features] == [("release_year", False), ("class", True)]
    assert int(data.users["age"].isna().sum()) == 1  # the one user aged 7
    assert pd.api.types.is_float_dtype(data.interactions["rating"])


def test_prepare_says_why_atomic_files_are_unverified_without_naming_a_flag_not_given(
    cli, tmp_path: Path
) -> None:
    inter = "user_id:token\titem_id:token\trating:float\n" + "".join(
        f"u{u}\ti{i}\t{(u + i) % 5 + 1}\n" for u in range(1, 9) for i in range(1, 5)
    )
    user = "user_id:token\tgender:token\n" + "".join(f"u{u}\t{'FM'[u % 2]}\n" for u in range(1, 9))
    folder = write(tmp_path / "data", inter=inter, user=user, item=None)
    args = ["--data-dir", str(tmp_path / "home"), "--split", "1:0:0", "--cold-fraction", "1"]
    code, out, err = cli("prepare", "atomic", str(folder), *args)
    assert code == 0, err
    assert "NOT verified (no published checksum for these files)" in out and "--no-verify" not in out
