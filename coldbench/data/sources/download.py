"""Resumable, checksummed downloads with a progress bar."""

from __future__ import annotations

import hashlib
import http.client
import os
import re
import urllib.error
import urllib.request
from pathlib import Path
from typing import BinaryIO

from coldbench.atomic_io import current_umask, write_boundary
from coldbench.errors import ColdbenchError
from coldbench.progress import byte_progress

TIMEOUT_S = 60.0  # per connect / per read, not for the whole download
CHUNK = 1 << 16
USER_AGENT = "coldbench (+https://github.com/coldbench)"
LOCAL_HINT = "download it by other means and pass --source PATH to use the local copy"


def _digests(path: Path, sha256: bool, md5: bool) -> tuple[str | None, str | None]:
    """The requested hex digests of a file, computed in one pass."""
    sha = hashlib.sha256() if sha256 else None
    mdf = hashlib.md5(usedforsecurity=False) if md5 else None
    with open(path, "rb") as handle:
        while block := handle.read(1 << 20):
            if sha is not None:
                sha.update(block)
            if mdf is not None:
                mdf.update(block)
    return (sha.hexdigest() if sha else None, mdf.hexdigest() if mdf else None)


def verify_file(
    path: Path, *, size: int | None = None, sha256: str | None = None, md5: str | None = None
) -> str | None:
    """None when ``path`` matches every given check, else a one-line description of the mismatch."""
    path = Path(path)
    actual_size = path.stat().st_size
    if size is not None and actual_size != size:
        return f"expected {size:,} bytes, got {actual_size:,}"
    if sha256 is None and md5 is None:
        return None
    got_sha, got_md5 = _digests(path, sha256 is not None, md5 is not None)
    if sha256 is not None and got_sha != sha256.lower():
        return f"expected sha256 {sha256.lower()}, got {got_sha}"
    if md5 is not None and got_md5 != md5.lower():
        return f"expected md5 {md5.lower()}, got {got_md5}"
    return None


def mismatch_error(name: str, problem: str) -> ColdbenchError:
    """The error for a file that fails its checksum while verifying."""
    return ColdbenchError(
        f"checksum mismatch for {name}: {problem}; use --no-verify to accept it (recorded as unverified)"
    )


def fetch(
    url: str,
    dest: Path,
    *,
    size: int | None = None,
    sha256: str | None = None,
    md5: str | None = None,
    verify: bool = True,
    hint: str = LOCAL_HINT,
) -> tuple[Path, bool]:
    """Download ``url`` to ``dest`` (resuming a partial ``dest.part``) and check it.

    Returns ``(dest, verified)``. An existing complete ``dest`` is reused. A checksum or size
    mismatch raises ColdbenchError unless ``verify`` is False (then ``verified`` is False).
    ``hint`` ends a failed download's message: how to get the file without coldbench.
    An OSError while writing (read-only or full data home) is a ColdbenchError naming the path.
    """
    dest = Path(dest)
    checked = size is not None or sha256 is not None or md5 is not None
    if dest.exists():
        problem = verify_file(dest, size=size, sha256=sha256, md5=md5) if checked else None
        if problem is not None and verify:
            raise ColdbenchError(
                f"checksum mismatch for existing {dest}: {problem}; delete it to download again, "
                "or use --no-verify to accept it (recorded as unverified)"
            )
        return dest, checked and problem is None
    part = dest.with_name(dest.name + ".part")
    with write_boundary(part):
        dest.parent.mkdir(parents=True, exist_ok=True)
        if not (size is not None and part.exists() and part.stat().st_size >= size):
            _download(url, part, dest.name, hint)
        problem = verify_file(part, size=size, sha256=sha256, md5=md5) if checked else None
        if problem is not None and verify:
            part.unlink()
            raise mismatch_error(dest.name, problem)
        os.chmod(part, 0o666 & ~current_umask())
        os.replace(part, dest)
    return dest, checked and problem is None


def _open(url: str, offset: int, hint: str = LOCAL_HINT) -> http.client.HTTPResponse | None:
    """Open ``url`` from byte ``offset``; None when the server says the range is already complete."""
    headers = {"User-Agent": USER_AGENT}
    if offset:
        headers["Range"] = f"bytes={offset}-"
    request = urllib.request.Request(url, headers=headers)
    try:
        return urllib.request.urlopen(request, timeout=TIMEOUT_S)
    except urllib.error.HTTPError as exc:
        exc.close()
        if exc.code == 416 and offset:
            return None
        raise ColdbenchError(f"cannot download {url}: HTTP {exc.code} {exc.reason}; {hint}") from None
    except (urllib.error.URLError, OSError, http.client.HTTPException) as exc:
        reason = getattr(exc, "reason", None) or exc
        raise ColdbenchError(f"cannot download {url}: {reason}; {hint}") from None


def _range_start(response: http.client.HTTPResponse) -> int | None:
    """The first byte a 206 response carries, from its Content-Range header."""
    match = re.match(r"\s*bytes\s+(\d+)-", response.headers.get("Content-Range", ""))
    return int(match.group(1)) if match else None


def _download(url: str, part: Path, label: str, hint: str = LOCAL_HINT) -> None:
    """Fetch ``url`` into ``part``, appending to what is already there when the server allows it."""
    offset = part.stat().st_size if part.exists() else 0
    response = _open(url, offset, hint)
    if response is None:  # 416: the part already holds every byte
        return
    if offset and (response.status != 206 or _range_start(response) != offset):
        response.close()  # the server ignored or misread the range: start again from zero
        offset = 0
        response = _open(url, 0, hint)
        assert response is not None
    with response:
        length = response.headers.get("Content-Length")
        total = offset + int(length) if length and length.isdigit() else None
        with open(part, "ab" if offset else "wb") as out:
            written = _copy(response, out, url, label, offset, total, hint)
    if total is not None and offset + written < total:
        raise ColdbenchError(
            f"download of {url} was interrupted after {offset + written:,} of {total:,} bytes "
            f"({part} kept; run again to resume, or {hint})"
        )


def _copy(
    response: http.client.HTTPResponse,
    out: BinaryIO,
    url: str,
    label: str,
    offset: int,
    total: int | None,
    hint: str = LOCAL_HINT,
) -> int:
    """Copy the response body into ``out`` with a progress bar on stderr; the number of bytes copied."""
    written = 0
    with byte_progress(label, total, completed=offset) as advance:
        while True:
            try:
                block = response.read(CHUNK)
            except (OSError, http.client.HTTPException) as exc:
                out.flush()
                raise ColdbenchError(
                    f"download of {url} was interrupted after {offset + written:,} bytes ({exc}); "
                    f"run again to resume, or {hint}"
                ) from None
            if not block:
                return written
            out.write(block)
            written += len(block)
            advance(len(block))
