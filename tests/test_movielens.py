"""The MovieLens-1M source, on small invented files (and the real data when present)."""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from coldbench.data.sources import movielens
from coldbench.data.sources.base import Feature
from coldbench.data.sources.movielens import read_movielens
from coldbench.data.sources.source import SOURCES, SourceRequest
from coldbench.errors import ColdbenchError

# Invented rows in the ML-1M layout (not taken from the real files).
RATINGS = "7::10::5::900000001\n7::20::3::\n8::10::1::900000002\n8::30::4::900000003\n9::20::2::900000004\n"
USERS = "7::F::25::4::12345\n8::M::56::0::98765\n9::M::18::17::55555-1234\n"
MOVIES = (
    b"10::Alpha Film (1990)::Comedy|Drama\n20::Beta (1991)::Romance\n"
    b"30::Caf\xe9 Gamma (1992)::Action|Sci-Fi\n"  # latin-1, as in the real movies.dat
)
EXTRAS = (
    "10::Alpha Film::1990::PG::01 Jan 1990::Comedy, Drama::Jane Doe::Writer A"
    "::Actor One, Actor Two::Plot.::N/A\r\n"
    "20::Beta::1991::nan::02 Feb 1991::Romance, Musical::nan::Writer B"
    "::Actor Three, N/A::Plot: élan.::N/A\r\n"
)


def write_zip(path: Path, members: dict[str, str | bytes]) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return path


def invented(
    tmp_path: Path, ratings: str = RATINGS, users: str = USERS, extras: str = EXTRAS
) -> tuple[Path, Path]:
    """An ML-1M-layout zip and a MeLU extras file, both invented."""
    members = {"ml-1m/ratings.dat": ratings, "ml-1m/users.dat": users, "ml-1m/movies.dat": MOVIES}
    archive = write_zip(tmp_path / "ml-1m.zip", members)
    extras_path = tmp_path / "movies_extrainfos.dat"
    extras_path.write_bytes(extras.encode("utf-8"))
    return archive, extras_path


def read(tmp_path: Path, source: Path, extras: Path, verify: bool = False, **options: str):
    request = SourceRequest(
        raw_dir=tmp_path / "raw", source=source, extras=extras, verify=verify, options=options
    )
    return read_movielens(request)


def test_registered() -> None:
    source = SOURCES.get("movielens")
    assert source.read is read_movielens
    assert list(source.options) == ["rate_feature"]
    assert source.options["rate_feature"].default is False
    assert source.version == 2  # 'rate' became opt-in: an older manifest is not reused


def test_rate_feature_is_opt_in(tmp_path: Path) -> None:
    """The paper's Table 6 lists genre, director and actor; MeLU's MPAA rate needs the option."""
    archive, extras = invented(tmp_path)
    plain = read(tmp_path, archive, extras)
    assert "rate" not in plain.items.columns
    assert [f.name for f in plain.item_features] == ["genre", "director", "actor"]
    for false in ("false", "0", "no", "False"):
        assert "rate" not in read(tmp_path, archive, extras, rate_feature=false).items.columns
    for bad in ("maybe", "", "2", "truee"):
        with pytest.raises(ColdbenchError, match=r"option rate_feature=.*: expected true or false"):
            read(tmp_path, archive, extras, rate_feature=bad)


def test_reads_invented_zip(tmp_path: Path) -> None:
    archive, extras = invented(tmp_path)
    data = read(tmp_path, archive, extras, rate_feature="true")
    assert data.name == "movielens"
    assert data.rating_scale == (1.0, 5.0)
    assert list(data.interactions.columns) == ["user_id", "item_id", "rating", "timestamp"]
    stamps = data.interactions["timestamp"].tolist()  # for --item-split time; blank: unknown
    assert stamps[0] == 900000001 and np.isnan(stamps[1]) and stamps[2:] == [900000002, 900000003, 900000004]
    assert data.item_years.to_dict() == {"10": 1990.0, "20": 1991.0, "30": 1992.0}  # from the titles
    assert list(data.interactions[["user_id", "item_id", "rating"]].itertuples(index=False, name=None)) == [
        ("7", "10", 5.0),
        ("7", "20", 3.0),
        ("8", "10", 1.0),
        ("8", "30", 4.0),
        ("9", "20", 2.0),
    ]
    assert data.interactions["rating"].dtype == float
    assert data.users.to_dict("records") == [
        {"user_id": "7", "gender": "F", "age": "25", "occupation": "4", "zipcode": "12345"},
        {"user_id": "8", "gender": "M", "age": "56", "occupation": "0", "zipcode": "98765"},
        {"user_id": "9", "gender": "M", "age": "18", "occupation": "17", "zipcode": "55555-1234"},
    ]
    items = data.items.to_dict("records")
    assert items[0] == {
        "item_id": "10",
        "rate": "PG",
        "genre": ["Comedy", "Drama"],
        "director": ["Jane Doe"],
        "actor": ["Actor One", "Actor Two"],
    }
    # 'nan' and 'N/A' are missing values.
    assert items[1]["item_id"] == "20" and pd.isna(items[1]["rate"])
    assert items[1]["genre"] == ["Romance", "Musical"]
    assert (items[1]["director"], items[1]["actor"]) == ([], ["Actor Three"])
    # Movie 30 (latin-1 title) is absent from the extras: genres come from movies.dat.
    assert items[2]["item_id"] == "30" and pd.isna(items[2]["rate"])
    assert (items[2]["genre"], items[2]["director"], items[2]["actor"]) == (["Action", "Sci-Fi"], [], [])
    assert data.user_features == [
        Feature("gender"),
        Feature("age"),
        Feature("occupation"),
        Feature("zipcode"),
    ]
    assert data.item_features == [
        Feature("rate"),
        Feature("genre", multi=True),
        Feature("director", multi=True),
        Feature("actor", multi=True),
    ]
    assert [(s.path, s.verified) for s in data.sources] == [
        ("ml-1m.zip", False),
        ("movies_extrainfos.dat", False),
    ]


def test_reads_folder_and_extras_folder(tmp_path: Path) -> None:
    archive, extras = invented(tmp_path)
    folder = tmp_path / "unpacked"
    with zipfile.ZipFile(archive) as zipped:
        zipped.extractall(folder)
    assert (folder / "ml-1m" / "ratings.dat").is_file()
    from_zip = read(tmp_path, archive, extras)
    from_folder = read(tmp_path, folder, tmp_path)  # extras given as the folder holding the file
    pd.testing.assert_frame_equal(from_folder.interactions, from_zip.interactions)
    pd.testing.assert_frame_equal(from_folder.items, from_zip.items)
    assert [s.path for s in from_folder.sources] == [
        "ratings.dat",
        "users.dat",
        "movies.dat",
        "movies_extrainfos.dat",
    ]
    with pytest.raises(ColdbenchError, match=r"ratings\.dat: checksum does not match.*--no-verify"):
        read(tmp_path, folder, extras, verify=True)


def test_verify_rejects_unofficial_zip(tmp_path: Path) -> None:
    archive, extras = invented(tmp_path)
    expected = r"ml-1m\.zip: checksum does not match the official archive.*--no-verify"
    with pytest.raises(ColdbenchError, match=expected):
        read(tmp_path, archive, extras, verify=True)


@pytest.mark.parametrize(
    ("ratings", "users", "extras", "message"),
    [
        (
            RATINGS + "9::30::4\n",
            USERS,
            EXTRAS,
            r"ml-1m/ratings\.dat line 6: expected 4 '::'-separated fields, got 3",
        ),
        ("7::10::5::1\nx7::20::3::\n", USERS, EXTRAS, r"ratings\.dat line 2: user id 'x7' is not an integer"),
        (
            "7::10::5::1\n7::2.5::3::\n",
            USERS,
            EXTRAS,
            r"ratings\.dat line 2: movie id '2\.5' is not an integer",
        ),
        ("7::10::5::1\n7::20::6::\n", USERS, EXTRAS, r"ratings\.dat line 2: rating '6' is not one of 1\.\.5"),
        ("7::10::5::1\n7::20::0::\n", USERS, EXTRAS, r"ratings\.dat line 2: rating '0' is not one of 1\.\.5"),
        (RATINGS, USERS + "\n", EXTRAS, r"users\.dat line 4: expected 5 '::'-separated fields, got 1"),
        (RATINGS, USERS + "7::M::1::1::1\n", EXTRAS, r"users\.dat line 4: user id 7 appears twice"),
        (
            RATINGS,
            USERS,
            EXTRAS + "30::Gamma::1992\r\n",
            r"movies_extrainfos\.dat line 3: expected 11 '::'-separated fields, got 3",
        ),
    ],
)
def test_malformed_rows(tmp_path: Path, ratings: str, users: str, extras: str, message: str) -> None:
    archive, extras_path = invented(tmp_path, ratings=ratings, users=users, extras=extras)
    with pytest.raises(ColdbenchError, match=message):
        read(tmp_path, archive, extras_path)


def test_truncated_zip(tmp_path: Path) -> None:
    archive, extras = invented(tmp_path)
    data = archive.read_bytes()
    archive.write_bytes(data[: len(data) // 2])
    with pytest.raises(ColdbenchError, match=r"ml-1m\.zip: not a readable zip archive, corrupt or truncated"):
        read(tmp_path, archive, extras)


def test_missing_member_and_extras(tmp_path: Path) -> None:
    archive, extras = invented(tmp_path)
    partial = write_zip(tmp_path / "partial.zip", {"ml-1m/ratings.dat": RATINGS, "ml-1m/movies.dat": MOVIES})
    with pytest.raises(ColdbenchError, match=r"partial\.zip: member ml-1m/users\.dat is missing"):
        read(tmp_path, partial, extras)
    with pytest.raises(ColdbenchError, match=r"movies_extrainfos\.dat not found"):
        read(tmp_path, archive, tmp_path / "nowhere")
    with pytest.raises(ColdbenchError, match=r"does not exist"):
        read(tmp_path, tmp_path / "nowhere.zip", extras)


def test_downloads_when_no_source(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Without --source the official archive and MeLU's file are fetched (stubbed here)."""
    archive, extras = invented(tmp_path)
    calls = []

    def fake_fetch(url: str, dest: Path, **kwargs) -> tuple[Path, bool]:
        calls.append((url, dest, kwargs))
        return (archive if dest.name == "ml-1m.zip" else extras), True

    monkeypatch.setattr(movielens, "fetch", fake_fetch)
    data = read_movielens(SourceRequest(raw_dir=tmp_path / "raw", verify=True))
    assert len(data.interactions) == 5
    assert [(s.path, s.verified) for s in data.sources] == [
        ("ml-1m.zip", True),
        ("movies_extrainfos.dat", True),
    ]
    assert calls == [
        (
            movielens.ML1M_URL,
            tmp_path / "raw" / "ml-1m.zip",
            {
                "size": 5917549,
                "sha256": movielens.ML1M_SHA256,
                "verify": True,
                "hint": movielens.OFFLINE_HINT,
            },
        ),
        (
            movielens.EXTRAS_URL,
            tmp_path / "raw" / "movies_extrainfos.dat",
            {
                "size": 3309481,
                "sha256": movielens.EXTRAS_SHA256,
                "verify": True,
                "hint": f"download movies_extrainfos.dat from {movielens.EXTRAS_URL} by other means "
                "and pass --extras PATH",
            },
        ),
    ]
    assert "--source ml-1m.zip --extras movies_extrainfos.dat" in movielens.OFFLINE_HINT


def test_real_ml1m(shared_data: Path, tmp_path: Path) -> None:
    data = read(
        tmp_path, shared_data / "ml-1m-internal.zip", shared_data / "melu-ml-1m-extras", rate_feature="true"
    )
    assert len(data.interactions) == 1_000_209
    assert len(data.users) == 6_040
    assert len(data.items) == 3_883
    counts = data.interactions["rating"].value_counts().sort_index()
    assert counts.to_dict() == {1.0: 56174, 2.0: 107557, 3.0: 261197, 4.0: 348971, 5.0: 226310}
    missing = data.items.set_index("item_id").loc[["860", "1795"]]
    assert missing["rate"].isna().all()
    assert all(len(genres) > 0 for genres in missing["genre"])
    assert [(s.path, s.verified) for s in data.sources] == [
        ("ml-1m-internal.zip", False),
        ("movies_extrainfos.dat", False),
    ]


def test_oversized_member_refused_before_reading(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    archive, extras = invented(tmp_path, ratings=RATINGS + "\n" * 5000)
    monkeypatch.setattr(movielens, "MAX_MEMBER_BYTES", 1000)
    with pytest.raises(ColdbenchError, match=r"ratings\.dat: larger than .*is it ML-1M\?"):
        read(tmp_path, archive, extras)


@pytest.mark.parametrize("user", ["\u00b2", "1" * 19, "+7", " 7", "7.0", "\u0663"])
def test_ids_must_be_ascii_digits(tmp_path: Path, user: str) -> None:
    archive, extras = invented(tmp_path, ratings=RATINGS.replace("9::20", f"{user}::20"))
    with pytest.raises(ColdbenchError, match=r"ratings\.dat line 5: user id .* is not an integer"):
        read(tmp_path, archive, extras)
