"""The Book-Crossing reader on a tiny invented BX-CSV-Dump.zip (no real BX data is used)."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest

from coldbench.data.sources import bookcrossing
from coldbench.data.sources.base import sha256_of
from coldbench.data.sources.source import SOURCES, SourceRequest
from coldbench.errors import ColdbenchError

RATINGS = b"""\
"User-ID";"ISBN";"Book-Rating"
"1";"0195153448";"0"
"2";"0195153448";"8"
"2";"0000000002";"10"
"3";"0000000003";"1"
"5";"0789466953";"0"
"""

USERS = b"""\
"User-ID";"Location";"Age"
"1";"nyc, new york, usa";NULL
"2";"m\xe9rida, yucat\xe1n, mexico";"34"
"3";"stockton, california, usa";"150"
"4";"!!!, ???, 123";"9"
"5";"porto, n/a, portugal";"100"
"6";"just a town";"10"
"7";"lyon, , france";""
"""

BOOKS = b"""\
"ISBN";"Book-Title";"Book-Author";"Year-Of-Publication";"Publisher";"Image-URL-S";"Image-URL-M";"Image-URL-L"
"0195153448";"Classical Mythology";"Mark P. O. Morford";"2002";"Oxford University Press";"s1";"m1";"l1"
"0000000002";"The \\"Quoted\\"; Title";"Some Author";"1999";"Simon &amp; Schuster";"s2";"m2";"l2"
"0000000003";"Unknown Year";"A. N. Other";"0";"";"s3";"m3";"l3"
"0000000004";"Bad Year";"Someone";"n.d.";"Gallimard";"s4";"m4";"l4"
"0789466953";"DK Readers: X-Men (Level 4)\\";James Buckley\\"";"2000";"DK Publishing Inc";"s5";"m5";"l5"
"""


def write_zip(path: Path, members: dict[str, bytes] | None = None, folder: str = "") -> Path:
    """An invented BX-CSV-Dump.zip with the given (or the default) member contents."""
    members = members or {"BX-Book-Ratings.csv": RATINGS, "BX-Users.csv": USERS, "BX-Books.csv": BOOKS}
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in members.items():
            archive.writestr(folder + name, data)
    return path


@pytest.fixture
def bx_zip(tmp_path: Path) -> Path:
    return write_zip(tmp_path / "BX-CSV-Dump.zip")


def read(source: Path, tmp_path: Path, verify: bool = False, **options: str):
    request = SourceRequest(raw_dir=tmp_path / "raw", source=source, verify=verify, options=options)
    return bookcrossing.read_bookcrossing(request)


def test_registered_with_its_option() -> None:
    source = SOURCES.get("bookcrossing")
    assert list(source.options) == ["keep_implicit"]
    assert source.read is bookcrossing.read_bookcrossing


def test_explicit_ratings(bx_zip: Path, tmp_path: Path) -> None:
    data = read(bx_zip, tmp_path)
    assert data.name == "bookcrossing"
    assert data.rating_scale == (1.0, 10.0)
    assert data.interactions.to_dict("records") == [
        {"user_id": "2", "item_id": "0195153448", "rating": 8.0},
        {"user_id": "2", "item_id": "0000000002", "rating": 10.0},
        {"user_id": "3", "item_id": "0000000003", "rating": 1.0},
    ]
    assert data.interactions["rating"].dtype == float


def test_users(bx_zip: Path, tmp_path: Path) -> None:
    data = read(bx_zip, tmp_path)
    assert [(f.name, f.multi) for f in data.user_features] == [
        ("state", False),
        ("country", False),
        ("age", False),
    ]
    assert data.users.to_dict("records") == [
        {"user_id": "1", "state": "new york", "country": "usa", "age": None},
        {"user_id": "2", "state": "yucat\u00e1n", "country": "mexico", "age": "34"},
        {"user_id": "3", "state": "california", "country": "usa", "age": None},
        {"user_id": "4", "state": None, "country": None, "age": None},
        {"user_id": "5", "state": None, "country": "portugal", "age": "100"},
        {"user_id": "6", "state": None, "country": None, "age": "10"},
        {"user_id": "7", "state": None, "country": "france", "age": None},
    ]


def test_items(bx_zip: Path, tmp_path: Path) -> None:
    data = read(bx_zip, tmp_path)
    assert [(f.name, f.multi) for f in data.item_features] == [("year", False), ("publisher", False)]
    assert data.items.to_dict("records") == [
        {"item_id": "0195153448", "year": "2002", "publisher": "Oxford University Press"},
        {"item_id": "0000000002", "year": "1999", "publisher": "Simon & Schuster"},
        {"item_id": "0000000003", "year": None, "publisher": None},
        {"item_id": "0000000004", "year": None, "publisher": "Gallimard"},
        {"item_id": "0789466953", "year": "2000", "publisher": "DK Publishing Inc"},
    ]


def test_escaped_quotes_keep_columns_in_place(bx_zip: Path) -> None:
    opener, label = bookcrossing._zip_openers(bx_zip)["BX-Books.csv"]
    books = bookcrossing._read_csv(opener, label)
    assert books.loc[1, "Book-Title"] == 'The "Quoted"; Title'
    assert books.loc[1, "Image-URL-L"] == "l2"
    # a title ending in a backslash swallows the author; the reader moves it back
    assert books.loc[4].tolist() == [
        "0789466953",
        "DK Readers: X-Men (Level 4)",
        "James Buckley",
        "2000",
        "DK Publishing Inc",
        "s5",
        "m5",
        "l5",
    ]


def test_sources_recorded_unverified(bx_zip: Path, tmp_path: Path) -> None:
    data = read(bx_zip, tmp_path)
    assert len(data.sources) == 1
    recorded = data.sources[0]
    assert (recorded.path, recorded.verified) == ("BX-CSV-Dump.zip", False)
    assert (recorded.size, recorded.sha256) == (bx_zip.stat().st_size, sha256_of(bx_zip))


def test_keep_implicit(bx_zip: Path, tmp_path: Path) -> None:
    data = read(bx_zip, tmp_path, keep_implicit="true")
    assert data.rating_scale == (0.0, 10.0)
    assert data.interactions["rating"].tolist() == [0.0, 8.0, 10.0, 1.0, 0.0]
    assert data.interactions["user_id"].tolist() == ["1", "2", "2", "3", "5"]


def test_bad_option_value(bx_zip: Path, tmp_path: Path) -> None:
    with pytest.raises(ColdbenchError, match=r"option keep_implicit='maybe': expected true or false"):
        read(bx_zip, tmp_path, keep_implicit="maybe")


def test_verify_rejects_the_invented_archive(bx_zip: Path, tmp_path: Path) -> None:
    with pytest.raises(ColdbenchError) as info:
        read(bx_zip, tmp_path, verify=True)
    message = str(info.value)
    assert message.startswith(f"checksum mismatch for {bx_zip}: expected 26,085,508 bytes, got ")
    assert "--no-verify" in message


def test_comma_separated_copy_is_refused(tmp_path: Path) -> None:
    kaggle = b'"User-ID","Location","Age"\n"1","nyc, new york, usa",\n'
    path = write_zip(
        tmp_path / "BX-CSV-Dump.zip",
        {"BX-Book-Ratings.csv": RATINGS, "BX-Users.csv": kaggle, "BX-Books.csv": BOOKS},
    )
    with pytest.raises(ColdbenchError) as info:
        read(path, tmp_path)
    message = str(info.value)
    assert message.startswith(f'{path}/BX-Users.csv: line 1: expected the header "User-ID";"Location";"Age"')
    assert "Kaggle" in message


def test_malformed_row_names_file_and_line(tmp_path: Path) -> None:
    books = BOOKS + b'"0000000009";"T";"A";"2001";"P";"s";"m";"l";"extra"\n'
    path = write_zip(
        tmp_path / "BX-CSV-Dump.zip",
        {"BX-Book-Ratings.csv": RATINGS, "BX-Users.csv": USERS, "BX-Books.csv": books},
    )
    with pytest.raises(ColdbenchError, match=r"BX-Books\.csv: line 7: malformed row \(Expected 8 fields"):
        read(path, tmp_path)


def test_bad_rating_names_file_and_line(tmp_path: Path) -> None:
    ratings = RATINGS + b'"9";"0195153448";"11"\n'
    path = write_zip(
        tmp_path / "BX-CSV-Dump.zip",
        {"BX-Book-Ratings.csv": ratings, "BX-Users.csv": USERS, "BX-Books.csv": BOOKS},
    )
    with pytest.raises(
        ColdbenchError, match=r"BX-Book-Ratings\.csv: line 7: Book-Rating '11' is not an integer"
    ):
        read(path, tmp_path)


def test_member_missing_from_zip(tmp_path: Path) -> None:
    path = write_zip(tmp_path / "BX-CSV-Dump.zip", {"BX-Book-Ratings.csv": RATINGS, "BX-Users.csv": USERS})
    with pytest.raises(ColdbenchError, match=r"BX-CSV-Dump\.zip: BX-Books\.csv not found in the archive"):
        read(path, tmp_path)


def test_members_in_a_subfolder(tmp_path: Path) -> None:
    path = write_zip(tmp_path / "BX-CSV-Dump.zip", folder="BX-CSV-Dump/")
    assert len(read(path, tmp_path).interactions) == 3


def test_folder_source(tmp_path: Path) -> None:
    folder = tmp_path / "bx"
    folder.mkdir()
    for name, data in (("BX-Book-Ratings.csv", RATINGS), ("BX-Users.csv", USERS), ("BX-Books.csv", BOOKS)):
        (folder / name).write_bytes(data)
    data = read(folder, tmp_path, verify=True)
    assert len(data.interactions) == 3
    assert data.users.loc[1, "state"] == "yucat\u00e1n"
    assert [(s.path, s.verified) for s in data.sources] == [
        ("BX-Book-Ratings.csv", False),
        ("BX-Users.csv", False),
        ("BX-Books.csv", False),
    ]


def test_missing_source_path(tmp_path: Path) -> None:
    with pytest.raises(ColdbenchError, match=r"--source .*nowhere\.zip: no such file or folder"):
        read(tmp_path / "nowhere.zip", tmp_path)


def test_download_when_no_source(bx_zip: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls = []

    def fake_fetch(url, dest, **kwargs):
        calls.append((url, dest, kwargs))
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_bytes(bx_zip.read_bytes())
        return dest, False

    monkeypatch.setattr(bookcrossing, "fetch", fake_fetch)
    request = SourceRequest(raw_dir=tmp_path / "raw", verify=False)
    data = bookcrossing.read_bookcrossing(request)
    assert calls == [
        (
            "https://web.archive.org/web/2008id_/http://www2.informatik.uni-freiburg.de/~cziegler/BX/BX-CSV-Dump.zip",
            tmp_path / "raw" / "BX-CSV-Dump.zip",
            {"size": 26_085_508, "md5": "37d647ee9e18ba134ea6d78ee4fe5292", "verify": False},
        )
    ]
    assert len(data.interactions) == 3
    assert [(s.path, s.verified) for s in data.sources] == [("BX-CSV-Dump.zip", False)]


def test_release_years_for_the_year_item_split(bx_zip: Path, tmp_path: Path) -> None:
    years = read(bx_zip, tmp_path).item_years
    assert years.dropna().to_dict() == {"0195153448": 2002.0, "0000000002": 1999.0, "0789466953": 2000.0}
    assert years[["0000000003", "0000000004"]].isna().all()  # unknown: counted as existing
