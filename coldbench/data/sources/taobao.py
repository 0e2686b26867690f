"""Taobao display-ad clicks: Alibaba's Ali_Display_Ad_Click (Tianchi dataset 56), for the CTR task.

The data needs a (free) Tianchi login, so it is never downloaded: ``--source`` names a folder
holding the three CSVs (or a zip of them):

- ``raw_sample.csv``: ``user,time_stamp,adgroup_id,pid,nonclk,clk``, one ad impression a line
  (~26 M lines, ~1 GB). It is read in blocks of about ``CHUNK_BYTES`` with a progress bar on stderr,
  so memory stays bounded by the kept rows; every line must have six fields, ``user`` and
  ``adgroup_id`` must be non-negative integers and ``clk`` 0 or 1.
- ``user_profile.csv``: ``userid`` plus eight user features. The real header ends in
  ``"new_user_class_level "`` (trailing space), so header names are stripped.
- ``ad_feature.csv``: ``adgroup_id,cate_id,campaign_id,customer,brand,price``.

Interactions are impressions: ``rating`` is ``clk`` as 0.0/1.0 (a click is a rating at or above
the threshold 1). User features are kept as text; an empty value (``pvalue_level`` and
``new_user_class_level`` often are) becomes None, and the protocol then drops that user as having
invalid features, as it drops users with no line in ``user_profile.csv`` (they are absent from the
users table). Item features are ``cate_id``, ``campaign_id``, ``customer``, ``brand`` (``NULL`` is
None) and ``price_bucket``, the integer part of log2(price + 1), since raw prices are continuous.
Only users and items that occur in the kept impressions are returned.

Option ``sample_users=N`` keeps a seeded sample (``sample_seed``, default 0) of N of the distinct
users of ``raw_sample.csv``, chosen in a first pass over the file; unlike the protocol's
``--subset`` it keeps memory small because the other users' rows are never held. No checksums
are published, so every file is recorded as unverified.
"""

from __future__ import annotations

import csv
import io
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import numpy as np
import pandas as pd

from coldbench.data.optspec import Spec, parse_options
from coldbench.data.sources.archive import Opener, file_opener, zip_members
from coldbench.data.sources.base import Feature, RawDataset, SourceFile, source_file
from coldbench.data.sources.limits import MAX_LINE_BYTES, mib
from coldbench.data.sources.source import SourceRequest, register_source
from coldbench.errors import ColdbenchError
from coldbench.excerpt import excerpt
from coldbench.progress import byte_progress

URL = "https://tianchi.aliyun.com/dataset/56"
RAW_SAMPLE, USER_PROFILE, AD_FEATURE = "raw_sample.csv", "user_profile.csv", "ad_feature.csv"
# The columns each file must have (others are allowed and ignored).
REQUIRED = {
    RAW_SAMPLE: ("user", "adgroup_id", "clk"),
    USER_PROFILE: (
        "userid",
        "cms_segid",
        "cms_group_id",
        "final_gender_code",
        "age_level",
        "pvalue_level",
        "shopping_level",
        "occupation",
        "new_user_class_level",
    ),
    AD_FEATURE: ("adgroup_id", "cate_id", "campaign_id", "customer", "brand", "price"),
}
# user_profile.csv column -> user feature name
USER_FEATURES = {
    "cms_segid": "cms_segid",
    "cms_group_id": "cms_group_id",
    "final_gender_code": "gender",
    "age_level": "age_level",
    "pvalue_level": "pvalue_level",
    "shopping_level": "shopping_level",
    "occupation": "occupation",
    "new_user_class_level": "new_user_class_level",
}
ITEM_FEATURES = ("cate_id", "campaign_id", "customer", "brand", "price_bucket")
MISSING = ("", "NULL")
CHUNK_BYTES = 48 << 20  # ~1.2 M lines of raw_sample.csv per block


@dataclass(frozen=True)
class CsvFile:
    """One of the three CSVs: how to open it, a label for messages, and its size in bytes."""

    name: str
    label: str
    size: int
    open: Opener


OPTIONS = {
    "sample_users": Spec(int, None, 1, 10**9, help="keep a seeded sample of N users (default: all)"),
    "sample_seed": Spec(int, 0, 0, 2**32 - 1, help="seed of sample_users"),
}


@register_source(
    "taobao",
    "Alibaba display-advertising click logs (Ali_Display_Ad_Click); needs --source",
    options=OPTIONS,
    task="ctr",
)
def read_taobao(request: SourceRequest) -> RawDataset:
    """Read raw_sample.csv, user_profile.csv and ad_feature.csv from ``--source`` (folder or zip)."""
    values = parse_options(OPTIONS, request.options, "taobao")
    sample_users, seed = values["sample_users"], values["sample_seed"]
    files, sources = locate(request.source)

    users_wanted = None
    if sample_users is not None:
        users_wanted = sample(distinct_users(files[RAW_SAMPLE]), sample_users, seed)
    user_codes, item_codes, clicks = read_impressions(files[RAW_SAMPLE], users_wanted)

    user_ids, item_ids = _as_text(user_codes), _as_text(item_codes)
    interactions = pd.DataFrame(
        {
            "user_id": pd.Series(user_ids, dtype=object),
            "item_id": pd.Series(item_ids, dtype=object),
            "rating": clicks.astype(np.float64),
        }
    )
    return RawDataset(
        name="taobao",
        interactions=interactions,
        users=read_users(files[USER_PROFILE], np.unique(user_codes)),
        items=read_items(files[AD_FEATURE], np.unique(item_codes)),
        user_features=[Feature(name) for name in USER_FEATURES.values()],
        item_features=[Feature(name) for name in ITEM_FEATURES],
        rating_scale=(0.0, 1.0),
        sources=sources,
    )


# --- finding the files ---------------------------------------------------------------------------


def missing_source_error() -> ColdbenchError:
    """The error for a run without ``--source``: the data cannot be downloaded for the user."""
    return ColdbenchError(
        f"taobao: the Ali_Display_Ad_Click data needs a (free) Tianchi login, so coldbench cannot "
        f"download it; get {RAW_SAMPLE}, {USER_PROFILE} and {AD_FEATURE} from {URL} (unpack the "
        "downloaded .tar.gz files) and pass --source DIR (a folder holding the three CSVs, or a zip "
        "of them)"
    )


def locate(source: Path | None) -> tuple[dict[str, CsvFile], list[SourceFile]]:
    """The three CSVs in a folder (or one folder below) or in a zip, and the raw files to record."""
    if source is None:
        raise missing_source_error()
    source = Path(source)
    if source.is_dir():
        return _folder_files(source)
    if source.is_file():
        return _zip_files(source), [source_file(source, verified=False)]
    raise ColdbenchError(f"--source {source}: no such file or folder")


def _folder_files(folder: Path) -> tuple[dict[str, CsvFile], list[SourceFile]]:
    """The CSVs of a folder, directly in it or in one of its subfolders."""
    found: dict[str, Path] = {}
    for name in REQUIRED:
        candidates = [folder / name] + sorted(folder.glob(f"*/{name}"))
        path = next((p for p in candidates if p.is_file()), None)
        if path is not None:
            found[name] = path
    missing = [name for name in REQUIRED if name not in found]
    if missing:
        packed = [name for name in missing if any(folder.glob(f"{name}.tar.gz"))]
        hint = f" ({', '.join(packed)}.tar.gz must be unpacked first)" if packed else ""
        raise ColdbenchError(
            f"--source {folder}: {', '.join(missing)} not found in the folder{hint}; "
            f"it must hold {RAW_SAMPLE}, {USER_PROFILE} and {AD_FEATURE} from {URL}"
        )
    files = {
        name: CsvFile(name, str(path), path.stat().st_size, file_opener(path)) for name, path in found.items()
    }
    return files, [source_file(found[name], verified=False) for name in REQUIRED]


def _zip_files(path: Path) -> dict[str, CsvFile]:
    """The CSVs inside a zip, found by file name in any folder of the archive."""
    try:
        members = zip_members(path, REQUIRED)
    except (zipfile.BadZipFile, OSError) as exc:
        raise ColdbenchError(
            f"--source {path}: not a readable zip archive ({exc}); pass a zip or a folder holding "
            f"{RAW_SAMPLE}, {USER_PROFILE} and {AD_FEATURE}"
        ) from None
    return {
        name: CsvFile(name, f"{path}:{member.member}", member.size, member.open)
        for name, member in members.items()
    }


# --- reading in blocks ---------------------------------------------------------------------------


@dataclass
class Block:
    """Some lines of a CSV parsed by pandas, with the file line of each row for messages."""

    frame: pd.DataFrame
    lines: np.ndarray
    label: str

    def error(self, row: int, message: str) -> ColdbenchError:
        return ColdbenchError(f"{self.label}: line {int(self.lines[row])}: {message}")


def _byte_blocks(handle: IO[bytes], size: int, label: str) -> Iterator[bytes]:
    """The stream's remaining bytes in blocks of whole lines, about ``size`` bytes each.

    A line longer than MAX_LINE_BYTES is an error, so memory stays bounded.
    """
    rest = b""
    while data := handle.read(size):
        data = rest + data
        cut = data.rfind(b"\n") + 1
        rest = data[cut:]
        if len(rest) > MAX_LINE_BYTES:
            raise ColdbenchError(f"{label}: a line is longer than {mib(MAX_LINE_BYTES)}")
        if cut:
            yield data[:cut]
    if rest:
        yield rest


def _header(line: bytes, file: CsvFile) -> list[str]:
    """Column names from the first line (stripped), checked for the required ones."""
    text = line.removeprefix(b"\xef\xbb\xbf").decode("latin-1").rstrip("\r\n")
    if not text.strip():
        raise ColdbenchError(
            f"{file.label}: line 1: expected a header naming {','.join(REQUIRED[file.name])}"
        )
    names = [name.strip() for name in text.split(",")]
    missing = [name for name in REQUIRED[file.name] if name not in names]
    if missing:
        raise ColdbenchError(
            f"{file.label}: line 1: missing column(s) {', '.join(missing)} "
            f"(header {excerpt(text)}; expected {','.join(REQUIRED[file.name])})"
        )
    duplicated = sorted({name for name in names if names.count(name) > 1})
    if duplicated:
        raise ColdbenchError(f"{file.label}: line 1: column(s) {', '.join(duplicated)} appear twice")
    return names


def read_blocks(file: CsvFile, usecols: list[str], text: bool, description: str) -> Iterator[Block]:
    """Parse ``file`` block by block, checking that every non-blank line has the header's field count.

    ``text=True`` keeps every value as a string ('' when empty); otherwise pandas infers types
    (an empty field is NaN). Blank lines are skipped.
    """
    try:
        yield from _parse_blocks(file, usecols, text, description)
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError) as exc:
        raise ColdbenchError(f"{file.label}: cannot be read, corrupt or truncated? ({exc})") from None


def _parse_blocks(file: CsvFile, usecols: list[str], text: bool, description: str) -> Iterator[Block]:
    """The body of ``read_blocks``."""
    with file.open() as handle, byte_progress(description, file.size or None) as advance:
        first = handle.readline(MAX_LINE_BYTES + 1)
        if len(first) > MAX_LINE_BYTES:
            raise ColdbenchError(f"{file.label}: line 1: longer than {mib(MAX_LINE_BYTES)}; not a header")
        names = _header(first, file)
        advance(len(first))
        line = 2  # the file line of the block's first line
        for data in _byte_blocks(handle, CHUNK_BYTES, file.label):
            size = len(data)
            data = data.replace(b"\r\n", b"\n")
            fields, blank = _line_shape(data)
            bad = np.flatnonzero((fields != len(names)) & ~blank)
            if bad.size:
                where = line + int(bad[0])
                raise ColdbenchError(
                    f"{file.label}: line {where}: malformed line: expected {len(names)} comma-separated "
                    f"fields ({','.join(names)}), got {int(fields[bad[0]])}"
                )
            rows = line + np.flatnonzero(~blank)
            line += len(fields)
            if not rows.size:
                advance(size)
                continue
            try:
                frame = pd.read_csv(
                    io.BytesIO(data),
                    header=None,
                    names=names,
                    usecols=usecols,
                    dtype=str if text else None,
                    na_filter=not text,
                    skip_blank_lines=True,
                    quoting=csv.QUOTE_NONE,
                    encoding="latin-1",
                    engine="c",
                )
            except (pd.errors.ParserError, ValueError) as exc:
                detail = str(exc).strip().replace("\n", " ")
                raise ColdbenchError(
                    f"{file.label}: lines {rows[0]}-{rows[-1]}: cannot be parsed ({detail})"
                ) from None
            if len(frame) != len(rows):  # cannot happen when every line has the right field count
                raise ColdbenchError(f"{file.label}: lines {rows[0]}-{rows[-1]}: cannot be parsed")
            yield Block(frame[usecols], rows, file.label)
            advance(size)  # counted once the block is processed, so the rate is the real one


def _line_shape(data: bytes) -> tuple[np.ndarray, np.ndarray]:
    """For each line of ``data``: its number of comma-separated fields and whether it is empty."""
    raw = np.frombuffer(data, np.uint8)
    ends = np.flatnonzero(raw == ord("\n"))
    if data and not data.endswith(b"\n"):
        ends = np.append(ends, len(data))
    commas = np.searchsorted(np.flatnonzero(raw == ord(",")), ends)
    fields = np.diff(commas, prepend=0) + 1
    starts = np.r_[0, ends[:-1] + 1]
    return fields, ends == starts


def integers(block: Block, column: str, allowed: tuple[int, ...] | None = None) -> np.ndarray:
    """A column as non-negative int64 values (optionally one of ``allowed``); errors name the line."""
    raw = block.frame[column]
    if pd.api.types.is_integer_dtype(raw.dtype) and not pd.api.types.is_bool_dtype(raw.dtype):
        values = raw.to_numpy(np.int64)
        ok = values >= 0
    else:
        shown = raw.str.strip() if not pd.api.types.is_numeric_dtype(raw.dtype) else raw
        numbers = pd.to_numeric(shown, errors="coerce").to_numpy(np.float64)
        ok = np.isfinite(numbers) & (numbers >= 0) & (numbers == np.floor(numbers))
        values = np.where(ok, numbers, -1).astype(np.int64)
    if allowed is not None:
        ok &= np.isin(values, allowed)
    if not ok.all():
        row = int(np.argmin(ok))
        value = raw.iloc[row]
        if pd.isna(value) or str(value).strip() == "":
            raise block.error(row, f"{column} is empty")
        wanted = " or ".join(map(str, allowed)) if allowed is not None else "a non-negative integer"
        raise block.error(row, f"{column} {excerpt(str(value))} is not {wanted}")
    return values


def _as_text(values: np.ndarray) -> np.ndarray:
    """Integer ids as an object array of str, sharing one string object per distinct id."""
    codes, uniques = pd.factorize(values)
    names = np.array([str(v) for v in uniques], dtype=object)
    return names[codes] if len(codes) else np.array([], dtype=object)


def _optional(values: pd.Series) -> np.ndarray:
    """Stripped text as an object array; '' and NULL become None."""
    stripped = values.str.strip()
    return np.where(stripped.isin(MISSING).to_numpy(), None, stripped.to_numpy(dtype=object))


# --- the three files -----------------------------------------------------------------------------


def distinct_users(file: CsvFile) -> np.ndarray:
    """The sorted distinct user ids of raw_sample.csv (first pass of ``sample_users``)."""
    seen = np.array([], dtype=np.int64)
    for block in read_blocks(file, ["user"], text=False, description=f"{file.name} (pass 1/2: users)"):
        seen = np.union1d(seen, np.unique(integers(block, "user")))
    return seen


def sample(users: np.ndarray, n: int, seed: int) -> np.ndarray:
    """A sorted seeded sample of ``n`` of the (sorted, distinct) ``users``; all of them if fewer."""
    if n >= len(users):
        return users
    chosen = np.random.default_rng(seed).choice(len(users), size=n, replace=False)
    return users[np.sort(chosen)]


def read_impressions(file: CsvFile, users: np.ndarray | None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """User ids, adgroup ids and clicks (int8) of raw_sample.csv, only ``users``' rows when given."""
    description = file.name if users is None else f"{file.name} (pass 2/2)"
    parts: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
    for block in read_blocks(file, list(REQUIRED[RAW_SAMPLE]), text=False, description=description):
        user = integers(block, "user")
        item = integers(block, "adgroup_id")
        click = integers(block, "clk", allowed=(0, 1)).astype(np.int8)
        if users is not None:
            keep = np.isin(user, users)
            user, item, click = user[keep], item[keep], click[keep]
        parts.append((user, item, click))
    if not parts:
        return np.array([], np.int64), np.array([], np.int64), np.array([], np.int8)
    users_out, items_out, clicks_out = (np.concatenate(column) for column in zip(*parts))
    return users_out, items_out, clicks_out


def read_users(file: CsvFile, wanted: np.ndarray) -> pd.DataFrame:
    """user_id plus the user features of the ``wanted`` users that have a profile (first line wins)."""
    columns = list(REQUIRED[USER_PROFILE])
    parts = []
    for block in read_blocks(file, columns, text=True, description=file.name):
        ids = integers(block, "userid")
        keep = np.isin(ids, wanted)
        kept = block.frame[keep]
        part = {"user_id": ids[keep]}
        for column, feature in USER_FEATURES.items():
            part[feature] = pd.Series(_optional(kept[column]), dtype=object)
        parts.append(pd.DataFrame(part))
    users = _concat(parts, ["user_id", *USER_FEATURES.values()])
    users = users.drop_duplicates("user_id", keep="first").reset_index(drop=True)
    users["user_id"] = pd.Series(_as_text(users["user_id"].to_numpy(np.int64)), dtype=object)
    return users


def read_items(file: CsvFile, wanted: np.ndarray) -> pd.DataFrame:
    """item_id plus the item features of the ``wanted`` adgroups found in ad_feature.csv."""
    parts = []
    for block in read_blocks(file, list(REQUIRED[AD_FEATURE]), text=True, description=file.name):
        ids = integers(block, "adgroup_id")
        keep = np.isin(ids, wanted)
        kept = block.frame[keep]
        part = {"item_id": ids[keep]}
        for column in ("cate_id", "campaign_id", "customer", "brand"):
            part[column] = pd.Series(_optional(kept[column]), dtype=object)
        part["price_bucket"] = pd.Series(_price_buckets(block)[keep], dtype=object)
        parts.append(pd.DataFrame(part))
    items = _concat(parts, ["item_id", *ITEM_FEATURES])
    items = items.drop_duplicates("item_id", keep="first").reset_index(drop=True)
    items["item_id"] = pd.Series(_as_text(items["item_id"].to_numpy(np.int64)), dtype=object)
    return items


def _price_buckets(block: Block) -> np.ndarray:
    """floor(log2(price + 1)) as text; empty, NULL or negative prices are None, text is an error."""
    text = block.frame["price"].str.strip()
    missing = text.isin(MISSING).to_numpy()
    price = pd.to_numeric(text.where(~missing), errors="coerce").to_numpy(np.float64)
    unreadable = np.isnan(price) & ~missing
    if unreadable.any():
        row = int(np.argmax(unreadable))
        raise block.error(row, f"price {excerpt(str(block.frame['price'].iloc[row]))} is not a number")
    usable = np.isfinite(price) & (price >= 0)
    buckets = np.floor(np.log2(np.where(usable, price, 0.0) + 1.0)).astype(np.int64)
    return np.where(usable, buckets.astype(str).astype(object), None)


def _concat(parts: list[pd.DataFrame], columns: list[str]) -> pd.DataFrame:
    """Concatenate block results (an empty table with ``columns`` when there are none)."""
    if not parts:
        empty = {name: pd.Series([], dtype=np.int64 if i == 0 else object) for i, name in enumerate(columns)}
        return pd.DataFrame(empty)
    return pd.concat(parts, ignore_index=True)
