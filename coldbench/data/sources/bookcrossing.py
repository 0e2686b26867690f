"""Book-Crossing (Ziegler et al., 2005): BX-CSV-Dump.zip, three ';'-separated latin-1 CSV files."""

from __future__ import annotations

import html
import re
import zipfile
from pathlib import Path

import pandas as pd

from coldbench.data.optspec import Spec, parse_options
from coldbench.data.sources.archive import Opener, file_opener, zip_members
from coldbench.data.sources.base import Feature, RawDataset, SourceFile, source_file
from coldbench.data.sources.download import fetch, mismatch_error, verify_file
from coldbench.data.sources.limits import MAX_LINE_BYTES, mib
from coldbench.data.sources.source import SourceRequest, register_source
from coldbench.errors import ColdbenchError
from coldbench.excerpt import excerpt

ARCHIVE = "BX-CSV-Dump.zip"
ARCHIVE_SIZE = 26_085_508
ARCHIVE_MD5 = "37d647ee9e18ba134ea6d78ee4fe5292"
# The Freiburg host is gone; "id_" asks the Wayback Machine for the captured bytes unmodified.
URL = (
    "https://web.archive.org/web/2008id_/http://www2.informatik.uni-freiburg.de/~cziegler/BX/BX-CSV-Dump.zip"
)

MAX_FILE_BYTES = 256 << 20  # the largest file, BX-Books.csv, is 74 MiB
RATINGS, USERS, BOOKS = "BX-Book-Ratings.csv", "BX-Users.csv", "BX-Books.csv"
COLUMNS = {
    RATINGS: ["User-ID", "ISBN", "Book-Rating"],
    USERS: ["User-ID", "Location", "Age"],
    BOOKS: [
        "ISBN",
        "Book-Title",
        "Book-Author",
        "Year-Of-Publication",
        "Publisher",
        "Image-URL-S",
        "Image-URL-M",
        "Image-URL-L",
    ],
}


OPTIONS = {"keep_implicit": Spec(bool, False, help="keep implicit 0 ratings")}


@register_source(
    "bookcrossing",
    "Book-Crossing (Ziegler et al. 2005), explicit ratings 1-10",
    options=OPTIONS,
)
def read_bookcrossing(request: SourceRequest) -> RawDataset:
    """Read the three BX CSV files from a local zip/folder or the archived download."""
    keep_implicit = parse_options(OPTIONS, request.options, "bookcrossing")["keep_implicit"]
    openers, sources = _locate(request)
    ratings = _ratings(_read_csv(*openers[RATINGS]), openers[RATINGS][1], keep_implicit)
    users = _users(_read_csv(*openers[USERS]))
    items = _items(_read_csv(*openers[BOOKS]))
    return RawDataset(
        name="bookcrossing",
        interactions=ratings,
        users=users,
        items=items,
        user_features=[Feature("state"), Feature("country"), Feature("age")],
        item_features=[Feature("year"), Feature("publisher")],
        rating_scale=(0.0, 10.0) if keep_implicit else (1.0, 10.0),
        sources=sources,
        item_years=pd.Series(
            pd.to_numeric(items["year"], errors="coerce").to_numpy(), index=items["item_id"]
        ),
    )


# --- finding the files ---------------------------------------------------------------------------


def _locate(request: SourceRequest) -> tuple[dict[str, tuple[Opener, str]], list[SourceFile]]:
    """Openers (with a label for messages) for the three CSVs, and the raw files to record."""
    source = request.source
    if source is None:
        path, verified = fetch(
            URL, request.raw_dir / ARCHIVE, size=ARCHIVE_SIZE, md5=ARCHIVE_MD5, verify=request.verify
        )
        return _zip_openers(path), [source_file(path, verified)]
    source = Path(source)
    if source.is_dir():
        return _folder_openers(source)
    if not source.is_file():
        raise ColdbenchError(f"--source {source}: no such file or folder")
    problem = verify_file(source, size=ARCHIVE_SIZE, md5=ARCHIVE_MD5)
    if problem is not None and request.verify:
        raise mismatch_error(str(source), f"{problem} (the original {ARCHIVE})")
    return _zip_openers(source), [source_file(source, problem is None)]


def _zip_openers(path: Path) -> dict[str, tuple[Opener, str]]:
    """Openers for the CSVs inside a zip, found by file name in any folder of the archive."""
    try:
        members = zip_members(path, COLUMNS)
    except zipfile.BadZipFile:
        raise ColdbenchError(f"{path}: not a zip archive (expected {ARCHIVE})") from None
    for member in members.values():
        _check_size(f"{path}/{member.member}", member.size)
    return {name: (member.open, f"{path}/{member.member}") for name, member in members.items()}


def _check_size(label: str, size: int) -> None:
    """Refuse a file larger than MAX_FILE_BYTES before reading it."""
    if size > MAX_FILE_BYTES:
        raise ColdbenchError(f"{label}: larger than {mib(MAX_FILE_BYTES)}; is it from {ARCHIVE}?")


def _folder_openers(folder: Path) -> tuple[dict[str, tuple[Opener, str]], list[SourceFile]]:
    """Openers for the CSVs in a folder; they are recorded as unverified (no per-file checksums)."""
    missing = [name for name in COLUMNS if not (folder / name).is_file()]
    if missing:
        raise ColdbenchError(f"--source {folder}: {', '.join(missing)} not found in the folder")
    for name in COLUMNS:
        _check_size(str(folder / name), (folder / name).stat().st_size)
    openers = {name: (file_opener(folder / name), str(folder / name)) for name in COLUMNS}
    return openers, [source_file(folder / name, False) for name in COLUMNS]


# --- parsing -------------------------------------------------------------------------------------


def _read_csv(open_file: Opener, label: str) -> pd.DataFrame:
    """Parse one BX file as strings after checking its header; errors name the file and line."""
    name = Path(label).name
    expected = COLUMNS[name]
    with open_file() as handle:
        first = handle.readline(MAX_LINE_BYTES + 1)
        if len(first) > MAX_LINE_BYTES:
            raise ColdbenchError(f"{label}: line 1: longer than {mib(MAX_LINE_BYTES)}; not a {ARCHIVE} file")
        _check_header(first, label, expected)
    with open_file() as handle:
        try:
            frame = pd.read_csv(
                handle,
                sep=";",
                quotechar='"',
                escapechar="\\",
                encoding="latin-1",
                dtype=str,
                keep_default_na=False,
                na_values=[],
                on_bad_lines="error",
            )
        except pd.errors.ParserError as exc:
            raise _parser_error(label, exc) from None
    if name == BOOKS:
        frame = _repair_swallowed_author(frame)
    return frame


def _check_header(line: bytes, label: str, expected: list[str]) -> None:
    """Refuse a file whose first line is not the expected ';'-separated, quoted header."""
    text = line.decode("latin-1").rstrip("\r\n")
    found = [part.strip().strip('"') for part in text.split(";")]
    if found != expected:
        wanted = ";".join(f'"{column}"' for column in expected)
        raise ColdbenchError(
            f"{label}: line 1: expected the header {wanted} (';'-separated, latin-1, as in the original "
            f"{ARCHIVE}), got {excerpt(text)}; reformatted copies such as Kaggle's comma-separated one "
            "are not supported"
        )


def _parser_error(label: str, exc: pd.errors.ParserError) -> ColdbenchError:
    """A ColdbenchError naming the file and, when pandas gives one, the line."""
    detail = str(exc).strip().replace("\n", " ")
    match = re.search(r"\bline (\d+)", detail)
    where = f"line {match.group(1)}: " if match else ""
    detail = re.sub(r"^Error tokenizing data\. C error: ", "", detail)
    return ColdbenchError(f"{label}: {where}malformed row ({detail})")


def _repair_swallowed_author(books: pd.DataFrame) -> pd.DataFrame:
    """Undo the shift in rows whose title ends in a backslash before its closing quote.

    There ``\\"`` reads as an escaped quote, so the title runs on into the author field
    (``Title";Author"``) and every later column moves one to the left, leaving the last empty.
    """
    title = books["Book-Title"]
    broken = title.str.contains('";', regex=False) & (books["Image-URL-L"] == "")
    if not broken.any():
        return books
    books = books.copy()
    shifted = books.columns[3:]  # Year-Of-Publication ... Image-URL-L take the value to their left
    books.loc[broken, shifted] = books.loc[broken, books.columns[2:-1]].to_numpy()
    parts = title[broken].str.split('";', n=1)
    books.loc[broken, "Book-Title"] = parts.str[0]
    books.loc[broken, "Book-Author"] = parts.str[1].str.rstrip('"')
    return books


def _first_bad_line(valid: pd.Series) -> int:
    """The file line (header = line 1) of the first row where ``valid`` is False."""
    return int(valid.reset_index(drop=True).idxmin()) + 2


def _ratings(frame: pd.DataFrame, label: str, keep_implicit: bool) -> pd.DataFrame:
    """user_id, item_id, rating; implicit 0 ratings dropped unless ``keep_implicit``."""
    rating = pd.to_numeric(frame["Book-Rating"].str.strip(), errors="coerce")
    valid = rating.between(0, 10) & (rating == rating.round())
    if not valid.all():
        line = _first_bad_line(valid)
        value = frame["Book-Rating"].iloc[line - 2]
        raise ColdbenchError(
            f"{label}: line {line}: Book-Rating {excerpt(value)} is not an integer from 0 to 10"
        )
    out = pd.DataFrame(
        {
            "user_id": frame["User-ID"].str.strip().astype(object),
            "item_id": frame["ISBN"].str.strip().astype(object),
            "rating": rating.astype(float),
        }
    )
    if not keep_implicit:
        out = out[out["rating"] > 0]
    return out.reset_index(drop=True)


def _users(frame: pd.DataFrame) -> pd.DataFrame:
    """user_id, state, country, age (strings, None when blank or invalid)."""
    places = [_location(value) for value in frame["Location"]]
    return pd.DataFrame(
        {
            "user_id": frame["User-ID"].str.strip().astype(object),
            "state": pd.Series([place[0] for place in places], dtype=object),
            "country": pd.Series([place[1] for place in places], dtype=object),
            "age": pd.Series([_age(value) for value in frame["Age"]], dtype=object),
        }
    )


def _location(value: str) -> tuple[str | None, str | None]:
    """(state, country) from "city, state, country"; a part that is blank, n/a or has no letters is None."""
    parts = [part.strip() for part in html.unescape(value).split(",")]
    if len(parts) != 3:
        return None, None
    return _place(parts[1]), _place(parts[2])


def _place(part: str) -> str | None:
    """One part of a location, or None when it carries no information."""
    if not part or part.lower() == "n/a" or not any(char.isalpha() for char in part):
        return None
    return part


def _number(value: str) -> int | None:
    """A plain non-negative integer written in ASCII digits, else None."""
    value = value.strip().strip('"')
    return int(value) if value.isascii() and value.isdigit() else None


def _age(value: str) -> str | None:
    """An age from 10 to 100 as a string; NULL, blank or out of range is None."""
    age = _number(value)
    return str(age) if age is not None and 10 <= age <= 100 else None


def _items(frame: pd.DataFrame) -> pd.DataFrame:
    """item_id (ISBN), year, publisher (strings, None when blank or invalid); first row per ISBN."""
    items = pd.DataFrame(
        {
            "item_id": frame["ISBN"].str.strip().astype(object),
            "year": pd.Series([_year(value) for value in frame["Year-Of-Publication"]], dtype=object),
            "publisher": pd.Series([_text(value) for value in frame["Publisher"]], dtype=object),
        }
    )
    return items.drop_duplicates("item_id", keep="first").reset_index(drop=True)


def _year(value: str) -> str | None:
    """Year-Of-Publication as a string; 0 (unknown) or non-numeric is None."""
    year = _number(value)
    return str(year) if year else None


def _text(value: str) -> str | None:
    """The value with HTML entities decoded; None when blank."""
    text = html.unescape(value).strip()
    return text or None
