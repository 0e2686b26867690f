"""RecBole atomic files: ``NAME.inter`` (required), ``NAME.user`` and ``NAME.item`` (optional)."""

from __future__ import annotations

import csv
import io
import math
from functools import partial
from pathlib import Path

import numpy as np
import pandas as pd

from coldbench.data.optspec import Spec, parse_options
from coldbench.data.sources.base import Feature, RawDataset, source_file
from coldbench.data.sources.limits import MAX_LINE_BYTES, check_lines, mib, read_limited
from coldbench.data.sources.source import SourceRequest, register_source
from coldbench.errors import ColdbenchError
from coldbench.excerpt import excerpt

TYPES = ("token", "token_seq", "float", "float_seq")
AGE_RANGE = (10.0, 100.0)
MAX_FILE_BYTES = 1 << 30  # one atomic file is read whole: at most 1 GiB
MAX_RATING = 1e6  # |rating| above this is refused (it would overflow squared errors in float32)


def locate(request: SourceRequest) -> Path:
    """The path prefix ``P`` such that ``P.inter`` exists (from a folder, a prefix or a file)."""
    if request.source is None:
        raise ColdbenchError("dataset atomic needs a PATH: a folder or path prefix holding NAME.inter")
    source = Path(request.source)
    if source.is_dir():
        wanted = request.options.get("name")
        if wanted and (source / f"{wanted}.inter").is_file():
            return source / wanted
        inters = sorted(source.glob("*.inter"))
        if len(inters) != 1:
            found = ", ".join(p.name for p in inters) or "none"
            raise ColdbenchError(f"{source}: expected exactly one NAME.inter file (found: {found})")
        return inters[0].with_suffix("")
    if source.suffix in (".inter", ".user", ".item"):
        source = source.with_suffix("")
    if not sibling(source, ".inter").is_file():
        raise ColdbenchError(f"{source}: no {sibling(source, '.inter').name} found there")
    return source


def sibling(prefix: Path, suffix: str) -> Path:
    return prefix.parent / (prefix.name + suffix)


def read_atomic(path: Path) -> tuple[list[tuple[str, str]], pd.DataFrame]:
    """The typed header ``[(name, type)]`` and the rows (all ``str``) of one atomic file."""
    data = read_limited(partial(open, path, "rb"), str(path), MAX_FILE_BYTES).replace(b"\r\n", b"\n")
    try:
        data.decode("utf-8")
        encoding = "utf-8"
    except UnicodeDecodeError:
        encoding = "latin-1"
    head, _, body = data.partition(b"\n")
    if len(head) > MAX_LINE_BYTES:
        raise ColdbenchError(f"{path} line 1: longer than {mib(MAX_LINE_BYTES)}; not a typed atomic header")
    columns = []
    for field in head.decode(encoding).split("\t"):
        name, _, kind = field.rpartition(":")
        if not name or kind not in TYPES:
            raise ColdbenchError(
                f"{path} line 1: header field {excerpt(field)} is not NAME:TYPE with TYPE one of "
                f"{', '.join(TYPES)}"
            )
        if name in (c for c, _ in columns):
            raise ColdbenchError(f"{path} line 1: column {excerpt(name)} appears twice")
        columns.append((name, kind))
    names = [name for name, _ in columns]
    if not body:
        return columns, pd.DataFrame({name: pd.Series([], dtype=object) for name in names})
    check_lines(body, ord("\t"), len(columns), str(path), "tab-separated", first_line=2)
    table = pd.read_csv(
        io.BytesIO(body),
        sep="\t",
        header=None,
        names=names,
        dtype=str,
        quoting=csv.QUOTE_NONE,
        na_filter=False,
        lineterminator="\n",
        skip_blank_lines=False,
        encoding=encoding,
        engine="c",
    )
    return columns, table


def require(path: Path, table: pd.DataFrame, column: str, what: str) -> pd.Series:
    """A column that must exist and hold no blank value."""
    if column not in table.columns:
        raise ColdbenchError(f"{path} line 1: no {what} column {excerpt(column)}")
    values = table[column].str.strip()
    blank = np.flatnonzero((values == "").to_numpy())
    if blank.size:
        raise ColdbenchError(f"{path} line {blank[0] + 2}: {what} {excerpt(column)} is blank")
    return values


def as_float(value: str) -> float | None:
    """A float, or None when ``value`` is blank, not a number, or not finite."""
    try:
        result = float(value)
    except ValueError:
        return None
    return result if math.isfinite(result) else None


MISSING = ("", "nan", "inf", "-inf", "+inf")  # what a numeric column may hold for "unknown"


def strict_float(value: str, path: Path, line: int, column: str | None = None) -> float | None:
    """Like ``as_float``, but text that is not a number is an error (naming ``column`` when given)."""
    result = as_float(value)
    if result is None and value.strip().lower() not in MISSING:
        which = f" (column {excerpt(column)})" if column else ""
        raise ColdbenchError(f"{path} line {line}: {excerpt(value)} is not a number{which}")
    return result


def convert(name: str, kind: str, values: pd.Series, path: Path) -> list:
    """One feature column: token → str, token_seq → list[str], float → str of its integer value.

    A column named ``age`` is numeric whatever its type: values outside [10, 100] become missing,
    and text that is not a number (``a0``) is an error naming the column, as for ``float``.
    """
    if kind == "token_seq":
        return [value.split() for value in values]
    if name == "age":
        ages = (strict_float(value, path, line, name) for line, value in enumerate(values, start=2))
        return [str(int(a)) if a is not None and AGE_RANGE[0] <= a <= AGE_RANGE[1] else None for a in ages]
    if kind == "float":
        floats = (strict_float(value, path, line, name) for line, value in enumerate(values, start=2))
        return [None if f is None else str(int(f)) for f in floats]
    return [value.strip() or None for value in values]


def read_side(path: Path, id_column: str) -> tuple[pd.DataFrame, list[Feature]]:
    """A ``.user`` or ``.item`` table: the id plus one column per usable feature."""
    if not path.is_file():
        return pd.DataFrame({id_column: pd.Series([], dtype=object)}), []
    columns, table = read_atomic(path)
    ids = require(path, table, id_column, "id")
    duplicated = np.flatnonzero(ids.duplicated().to_numpy())
    if duplicated.size:
        line, value = duplicated[0] + 2, ids.iloc[duplicated[0]]
        raise ColdbenchError(f"{path} line {line}: {id_column} {excerpt(value)} appears twice")
    out, features = {id_column: list(ids)}, []
    for name, kind in columns:
        if name == id_column or "title" in name or kind == "float_seq":
            continue
        out[name] = pd.Series(convert(name, kind, table[name], path), dtype=object)
        features.append(Feature(name, multi=kind == "token_seq"))
    return pd.DataFrame(out), features


OPTIONS = {
    "rating_field": Spec(str, "rating", help="column of NAME.inter holding the rating"),
    "name": Spec(str, None, name=True, help="dataset name (default: the folder's or file's name)"),
}


@register_source("atomic", "RecBole atomic files (NAME.inter, NAME.user, NAME.item)", options=OPTIONS)
def read_atomic_dataset(request: SourceRequest) -> RawDataset:
    """Read ``NAME.inter`` and, when present, ``NAME.user`` / ``NAME.item``."""
    values = parse_options(OPTIONS, request.options, "atomic")
    prefix = locate(request)
    inter_path = sibling(prefix, ".inter")
    rating_field = values["rating_field"]
    _, table = read_atomic(inter_path)
    if rating_field not in table.columns:
        raise ColdbenchError(f"option rating_field={excerpt(rating_field)}: no such column in {inter_path}")
    ratings = pd.to_numeric(table[rating_field].str.strip(), errors="coerce")
    numbers = ratings.to_numpy(dtype=float)
    bad = np.flatnonzero(~(np.abs(numbers) <= MAX_RATING))  # NaN, ±inf and huge values
    if bad.size:
        raise ColdbenchError(
            f"{inter_path} line {bad[0] + 2}: rating {excerpt(table[rating_field].iloc[bad[0]])} is not a "
            f"number from {-MAX_RATING:g} to {MAX_RATING:g}"
        )
    if ratings.empty:
        raise ColdbenchError(f"{inter_path}: no interactions")
    interactions = pd.DataFrame(
        {
            "user_id": require(inter_path, table, "user_id", "id"),
            "item_id": require(inter_path, table, "item_id", "id"),
            "rating": ratings.astype(float),
        }
    )
    if "timestamp" in table.columns:  # for --item-split time; unreadable values are unknown (NaN)
        interactions["timestamp"] = pd.to_numeric(table["timestamp"].str.strip(), errors="coerce")
    users, user_features = read_side(sibling(prefix, ".user"), "user_id")
    items, item_features = read_side(sibling(prefix, ".item"), "item_id")
    year = next((name for name in items.columns if name != "item_id" and "year" in name), None)
    item_years = None
    if year is not None:  # for --item-split year (ML-100K: release_year)
        item_years = pd.Series(pd.to_numeric(items[year], errors="coerce").to_numpy(), index=items["item_id"])
    used = [p for p in (inter_path, sibling(prefix, ".user"), sibling(prefix, ".item")) if p.is_file()]
    return RawDataset(
        name=values["name"] or prefix.name,
        interactions=interactions,
        users=users,
        items=items,
        user_features=user_features,
        item_features=item_features,
        rating_scale=(float(ratings.min()), float(ratings.max())),
        sources=[source_file(p, verified=False) for p in used],
        item_years=item_years,
    )
