"""MovieLens-1M (GroupLens) with MeLU's extra item metadata (genre, director, actors; rate opt-in)."""

from __future__ import annotations

import csv
import dataclasses
import hashlib
import io
import zipfile
import zlib
from functools import partial
from pathlib import Path

import numpy as np
import pandas as pd

from coldbench.data.optspec import Spec, parse_options
from coldbench.data.sources.base import Feature, RawDataset, SourceFile, source_file
from coldbench.data.sources.download import fetch
from coldbench.data.sources.limits import check_int_ids, check_lines, mib, read_limited
from coldbench.data.sources.source import SourceRequest, register_source
from coldbench.errors import ColdbenchError
from coldbench.excerpt import excerpt

ML1M_URL = "https://files.grouplens.org/datasets/movielens/ml-1m.zip"
ML1M_SIZE = 5917549
ML1M_SHA256 = "a6898adb50b9ca05aa231689da44c217cb524e7ebd39d264c56e2832f2c54e20"
# GroupLens' published md5 of each member, used to check an unpacked folder.
ML1M_MEMBER_MD5 = {
    "ratings.dat": "a89aa3591bc97d6d4e0c89459ff39362",
    "users.dat": "681c0711d0d4548cd3d4718a49c2dcd8",
    "movies.dat": "ef9fd9ff8d1b33faf73e2122c371e910",
}
EXTRAS_NAME = "movies_extrainfos.dat"
EXTRAS_URL = "https://raw.githubusercontent.com/hoyeoplee/MeLU/master/movielens/ml-1m/movies_extrainfos.dat"
EXTRAS_SIZE = 3309481
EXTRAS_SHA256 = "18432b1713b66a5262c11f6d929801a6e6f414d861cd2adf191dfba61e45c74d"

MAX_MEMBER_BYTES = 64 << 20  # ratings.dat is 23.5 MiB; anything far larger is not ML-1M
MAX_EXTRAS_BYTES = 16 << 20  # movies_extrainfos.dat is 3.2 MiB
OFFLINE_HINT = (
    "movielens needs two files: GroupLens' ml-1m.zip and MeLU's movies_extrainfos.dat "
    f"({EXTRAS_URL}); download them by other means and pass --source ml-1m.zip --extras "
    "movies_extrainfos.dat"
)
OPTIONS = {
    "rate_feature": Spec(bool, False, help="add MeLU's MPAA rate as an item feature (not in the paper)"),
}

MISSING = {"", "nan", "N/A"}
_SEP = b"\x1f"  # '::' is rewritten to this byte so that pandas' fast C parser can split the fields


def split_fields(data: bytes, label: str, n_fields: int) -> pd.DataFrame:
    """Split ``::``-separated lines into ``n_fields`` string columns (0..n-1), checking each line.

    The text is decoded as UTF-8, or as latin-1 when it is not valid UTF-8; CRLF becomes LF.
    A line with another field count raises ColdbenchError naming ``label`` and the 1-based line.
    """
    try:
        data.decode("utf-8")
        encoding = "utf-8"
    except UnicodeDecodeError:
        encoding = "latin-1"
    data = data.replace(b"\r\n", b"\n").replace(b"::", _SEP)
    if not data:
        return pd.DataFrame({i: pd.Series([], dtype=object) for i in range(n_fields)})
    check_lines(data, _SEP[0], n_fields, label, "'::'-separated")
    return pd.read_csv(
        io.BytesIO(data),
        sep=_SEP.decode(),
        header=None,
        names=range(n_fields),
        dtype=str,
        na_filter=False,
        quoting=csv.QUOTE_NONE,
        lineterminator="\n",
        skip_blank_lines=False,
        encoding=encoding,
        engine="c",
    )


def check_ids(column: pd.Series, label: str, what: str, unique: bool = False) -> None:
    """Every value must be an integer id (ASCII digits, bounded length) and, if ``unique``, appear once."""
    check_int_ids(column, label, what)
    if unique:
        dup = np.flatnonzero(column.duplicated().to_numpy())
        if dup.size:
            raise ColdbenchError(f"{label} line {dup[0] + 1}: {what} {column.iloc[dup[0]]} appears twice")


def single(value: str) -> str | None:
    """A single-valued field; ``nan``, ``N/A`` and blanks are missing."""
    value = value.strip()
    return None if value in MISSING else value


def multi(value: str, sep: str) -> list[str]:
    """A ``sep``-separated list, without missing entries."""
    return [part for part in (p.strip() for p in value.split(sep)) if part not in MISSING]


def mismatch(path: Path) -> ColdbenchError:
    """The error for an archive that is not the official ml-1m.zip."""
    return ColdbenchError(
        f"{path}: checksum does not match the official archive; "
        "pass --no-verify to use this copy anyway (it is recorded as unverified)"
    )


def read_zip(path: Path, verify: bool) -> tuple[dict[str, tuple[str, bytes]], list[SourceFile]]:
    """The three members of an ML-1M zip as ``{name: (label, bytes)}``."""
    record = source_file(path, verified=False)
    if verify:
        if record.sha256 != ML1M_SHA256:
            raise mismatch(path)
        record = dataclasses.replace(record, verified=True)
    try:
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()
            members = {}
            for member in ML1M_MEMBER_MD5:
                found = [n for n in names if n == f"ml-1m/{member}"] or [
                    n for n in names if n == member or n.endswith(f"/{member}")
                ]
                if not found:
                    raise ColdbenchError(f"{path}: member ml-1m/{member} is missing from the archive")
                label = f"{path.name}:{found[0]}"
                if archive.getinfo(found[0]).file_size > MAX_MEMBER_BYTES:
                    raise ColdbenchError(f"{label}: larger than {mib(MAX_MEMBER_BYTES)}; is it ML-1M?")
                try:
                    data = read_limited(partial(archive.open, found[0]), label, MAX_MEMBER_BYTES)
                    members[member] = (label, data)
                except (zipfile.BadZipFile, zlib.error, EOFError) as exc:
                    message = f"{path}: member {found[0]} is corrupt or truncated ({exc})"
                    raise ColdbenchError(message) from None
    except (zipfile.BadZipFile, OSError) as exc:
        raise ColdbenchError(f"{path}: not a readable zip archive, corrupt or truncated? ({exc})") from None
    return members, [record]


def read_folder(path: Path, verify: bool) -> tuple[dict[str, tuple[str, bytes]], list[SourceFile]]:
    """The three ML-1M files from a folder (directly or in ``ml-1m/``), checked against GroupLens' md5."""
    folder = path if (path / "ratings.dat").is_file() else path / "ml-1m"
    members, records = {}, []
    for member, md5 in ML1M_MEMBER_MD5.items():
        file = folder / member
        if not file.is_file():
            raise ColdbenchError(f"{path}: {member} is missing (expected it there or in {path / 'ml-1m'})")
        data = read_limited(partial(open, file, "rb"), str(file), MAX_MEMBER_BYTES)
        ok = hashlib.md5(data, usedforsecurity=False).hexdigest() == md5
        if verify and not ok:
            raise ColdbenchError(
                f"{file}: checksum does not match the official archive's {member}; "
                "pass --no-verify to use this copy anyway (it is recorded as unverified)"
            )
        members[member] = (str(file), data)
        records.append(source_file(file, verified=verify and ok))
    return members, records


def extras_file(request: SourceRequest) -> tuple[Path, SourceFile]:
    """Locate (or download) MeLU's ``movies_extrainfos.dat``."""
    if request.extras is None:
        path, verified = fetch(
            EXTRAS_URL,
            request.raw_dir / EXTRAS_NAME,
            size=EXTRAS_SIZE,
            sha256=EXTRAS_SHA256,
            verify=request.verify,
            hint=f"download {EXTRAS_NAME} from {EXTRAS_URL} by other means and pass --extras PATH",
        )
        return path, source_file(path, verified=verified)
    path = Path(request.extras)
    if path.is_dir():
        path = path / EXTRAS_NAME
    if not path.is_file():
        raise ColdbenchError(f"--extras {request.extras}: {EXTRAS_NAME} not found")
    record = source_file(path, verified=False)
    if request.verify:
        if record.sha256 != EXTRAS_SHA256:
            raise ColdbenchError(
                f"{path}: checksum does not match MeLU's {EXTRAS_NAME}; "
                "pass --no-verify to use this copy anyway (it is recorded as unverified)"
            )
        record = dataclasses.replace(record, verified=True)
    return path, record


def read_ratings(label: str, data: bytes) -> pd.DataFrame:
    table = split_fields(data, label, 4)
    check_ids(table[0], label, "user id")
    check_ids(table[1], label, "movie id")
    bad = np.flatnonzero(~table[2].isin(["1", "2", "3", "4", "5"]).to_numpy())
    if bad.size:
        rating = table[2].iloc[bad[0]]
        raise ColdbenchError(f"{label} line {bad[0] + 1}: rating {excerpt(rating)} is not one of 1..5")
    timestamps = pd.to_numeric(table[3], errors="coerce")  # blank in some copies: unknown (NaN)
    return pd.DataFrame(
        {"user_id": table[0], "item_id": table[1], "rating": table[2].astype(float), "timestamp": timestamps}
    )


def read_years(movies: tuple[str, bytes]) -> pd.Series:
    """Each movie's release year from its movies.dat title, ``Toy Story (1995)``; NaN without one."""
    table = split_fields(movies[1], movies[0], 3)
    years = table[1].str.extract(r"\((\d{4})\)\s*$", expand=False)
    return pd.Series(pd.to_numeric(years, errors="coerce").to_numpy(), index=table[0].to_numpy())


def read_users(label: str, data: bytes) -> pd.DataFrame:
    table = split_fields(data, label, 5)
    check_ids(table[0], label, "user id", unique=True)
    columns = {"user_id": list(table[0])}
    for i, name in enumerate(("gender", "age", "occupation", "zipcode"), start=1):
        columns[name] = pd.Series([single(v) for v in table[i]], dtype=object)
    return pd.DataFrame(columns)


def read_items(movies: tuple[str, bytes], extras: Path, rate_feature: bool = False) -> pd.DataFrame:
    """Items from movies.dat with MeLU's features; movies MeLU lacks keep movies.dat's genres.

    The features are genre, director and actor (the paper's Table 6), plus MeLU's MPAA ``rate``
    when ``rate_feature`` is set.
    """
    table = split_fields(movies[1], movies[0], 3)
    check_ids(table[0], movies[0], "movie id", unique=True)
    data = read_limited(partial(open, extras, "rb"), str(extras), MAX_EXTRAS_BYTES)
    info = split_fields(data, str(extras), 11)
    check_ids(info[0], str(extras), "movie id")
    known = {
        row[0]: (single(row[3]), multi(row[5], ", "), multi(row[6], ", "), multi(row[8], ", "))
        for row in info.itertuples(index=False)
    }
    rows = []
    for item_id, genres in zip(table[0], table[2], strict=True):
        rate, genre, director, actor = known.get(item_id, (None, multi(genres, "|"), [], []))
        rows.append((item_id, rate, genre, director, actor))
    items = pd.DataFrame(rows, columns=["item_id", "rate", "genre", "director", "actor"], dtype=object)
    return items if rate_feature else items.drop(columns="rate")


@register_source(
    "movielens", "MovieLens-1M (GroupLens) with MeLU's item metadata", options=OPTIONS, version=2
)
def read_movielens(request: SourceRequest) -> RawDataset:
    """Read ML-1M (zip or folder, or the official download) plus MeLU's movies_extrainfos.dat."""
    rate_feature = parse_options(OPTIONS, request.options, "movielens")["rate_feature"]
    if request.source is None:
        path, verified = fetch(
            ML1M_URL,
            request.raw_dir / "ml-1m.zip",
            size=ML1M_SIZE,
            sha256=ML1M_SHA256,
            verify=request.verify,
            hint=OFFLINE_HINT,
        )
        members, records = read_zip(path, verify=False)
        records = [dataclasses.replace(records[0], verified=verified)]
    else:
        source = Path(request.source)
        if source.is_dir():
            members, records = read_folder(source, request.verify)
        elif source.is_file():
            members, records = read_zip(source, request.verify)
        else:
            raise ColdbenchError(f"source {source} does not exist")
    extras, extras_record = extras_file(request)
    return RawDataset(
        name="movielens",
        interactions=read_ratings(*members["ratings.dat"]),
        users=read_users(*members["users.dat"]),
        items=read_items(members["movies.dat"], extras, rate_feature),
        user_features=[Feature(name) for name in ("gender", "age", "occupation", "zipcode")],
        item_features=[
            *([Feature("rate")] if rate_feature else []),
            *(Feature(name, True) for name in ("genre", "director", "actor")),
        ],
        rating_scale=(1.0, 5.0),
        sources=[*records, extras_record],
        item_years=read_years(members["movies.dat"]),
    )
