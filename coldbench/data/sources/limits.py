"""Bounded reading of raw text files: a size limit per file and per line, ids parsed strictly.

Readers load a file only up to its stated limit and check line shapes block by block, so a
malformed file (a huge single line, hundreds of megabytes of blank lines) is refused early with
bounded memory instead of being expanded into per-line arrays first.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import IO

import numpy as np
import pandas as pd

from coldbench.errors import ColdbenchError
from coldbench.excerpt import excerpt

MAX_LINE_BYTES = 1 << 20  # no line of any supported file is longer than 1 MiB
BLOCK_BYTES = 8 << 20  # lines are checked in blocks of about this size
MAX_ID_DIGITS = 18  # an integer id has 1..18 ASCII digits (fits int64)
_ID = re.compile(rf"[0-9]{{1,{MAX_ID_DIGITS}}}")


def mib(size: int) -> str:
    return f"{size / (1 << 20):,.0f} MiB"


def read_limited(open_file: Callable[[], AbstractContextManager[IO[bytes]]], label: str, limit: int) -> bytes:
    """The whole content of a file, refused (before reading more) when it exceeds ``limit`` bytes."""
    with open_file() as handle:
        data = handle.read(limit + 1)
    if len(data) > limit:
        raise ColdbenchError(
            f"{label}: larger than {mib(limit)}, the most this reader accepts; is it the right file?"
        )
    return data


def check_lines(data: bytes, sep: int, n_fields: int, label: str, sep_name: str, first_line: int = 1) -> None:
    """Every line of ``data`` must have ``n_fields`` ``sep``-separated fields and ≤ MAX_LINE_BYTES bytes.

    ``first_line`` is the file line number of ``data``'s first line. Works block by block.
    """
    view = memoryview(data)
    start, line = 0, first_line
    while start < len(data):
        end = min(start + BLOCK_BYTES, len(data))
        if end < len(data):
            cut = data.rfind(b"\n", start, end)
            if cut < 0:
                raise ColdbenchError(f"{label} line {line}: longer than {mib(MAX_LINE_BYTES)}")
            end = cut + 1
        raw = np.frombuffer(view[start:end], np.uint8)
        ends = np.flatnonzero(raw == ord("\n"))
        if end == len(data) and not data.endswith(b"\n"):
            ends = np.append(ends, len(raw))
        lengths = np.diff(ends, prepend=-1) - 1
        counts = np.diff(np.searchsorted(np.flatnonzero(raw == sep), ends), prepend=0) + 1
        bad = np.flatnonzero((counts != n_fields) | (lengths > MAX_LINE_BYTES))
        if bad.size:
            row = int(bad[0])
            if lengths[row] > MAX_LINE_BYTES:
                raise ColdbenchError(f"{label} line {line + row}: longer than {mib(MAX_LINE_BYTES)}")
            raise ColdbenchError(
                f"{label} line {line + row}: expected {n_fields} {sep_name} fields, got {int(counts[row])}"
            )
        line += len(ends)
        start = end


def is_int_id(values: pd.Series) -> np.ndarray:
    """Per value: is it an integer id written in 1..MAX_ID_DIGITS ASCII digits (no sign, no space)?"""
    text = values.astype(str)
    return text.str.fullmatch(_ID).fillna(False).to_numpy(dtype=bool)


def check_int_ids(values: pd.Series, label: str, what: str, first_line: int = 1) -> None:
    """Every value must be an integer id (see ``is_int_id``); errors name the file line."""
    bad = np.flatnonzero(~is_int_id(values))
    if bad.size:
        row = int(bad[0])
        raise ColdbenchError(
            f"{label} line {row + first_line}: {what} {excerpt(values.iloc[row])} is not an integer "
            f"(1 to {MAX_ID_DIGITS} ASCII digits)"
        )
