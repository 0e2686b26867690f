"""fetch() against a throwaway HTTP server on 127.0.0.1 that supports Range and can drop a response."""

from __future__ import annotations

import hashlib
import random
import re
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from coldbench.data.sources import download
from coldbench.data.sources.download import fetch, verify_file
from coldbench.errors import ColdbenchError

PAYLOAD = random.Random(7).randbytes(300_000)
SHA = hashlib.sha256(PAYLOAD).hexdigest()
MD5 = hashlib.md5(PAYLOAD).hexdigest()


@dataclass
class ServerState:
    """What the server sends and what it saw."""

    payload: bytes = PAYLOAD
    cut_after: int | None = None  # drop the connection after this many body bytes (next response only)
    honour_range: bool = True
    requests: list[str | None] = field(default_factory=list)  # the Range header of each request


def _handler(state: ServerState) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: object) -> None:  # keep test output quiet
            pass

        def do_GET(self) -> None:
            header = self.headers.get("Range")
            state.requests.append(header)
            if self.path != "/data.bin":
                self.send_error(404)
                return
            body, start = state.payload, 0
            match = re.fullmatch(r"bytes=(\d+)-", header or "")
            if match and state.honour_range:
                start = int(match.group(1))
                if start >= len(body):
                    self.send_response(416)
                    self.send_header("Content-Range", f"bytes */{len(body)}")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                self.send_response(206)
                self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
            else:
                self.send_response(200)
            chunk = body[start:]
            self.send_header("Content-Length", str(len(chunk)))
            self.end_headers()
            if state.cut_after is not None:
                chunk, state.cut_after = chunk[: state.cut_after], None
                self.close_connection = True
            self.wfile.write(chunk)
            self.wfile.flush()

    return Handler


@pytest.fixture(autouse=True)
def _no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    """Talk to 127.0.0.1 directly, with short timeouts."""
    for name in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("no_proxy", "127.0.0.1")
    monkeypatch.setattr(download, "TIMEOUT_S", 5.0)


@pytest.fixture
def server() -> Iterator[tuple[str, ServerState]]:
    """A server for /data.bin and its state."""
    state = ServerState()
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}/data.bin", state
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)


def test_full_download_with_correct_sha256_is_verified(server, tmp_path: Path) -> None:
    url, state = server
    dest = tmp_path / "raw" / "data.bin"
    path, verified = fetch(url, dest, size=len(PAYLOAD), sha256=SHA)
    assert (path, verified) == (dest, True)
    assert dest.read_bytes() == PAYLOAD
    assert not (tmp_path / "raw" / "data.bin.part").exists()
    assert state.requests == [None]


def test_md5_alone_verifies(server, tmp_path: Path) -> None:
    url, _ = server
    assert fetch(url, tmp_path / "d.bin", md5=MD5) == (tmp_path / "d.bin", True)


def test_interrupted_download_resumes_with_range(server, tmp_path: Path) -> None:
    url, state = server
    dest = tmp_path / "data.bin"
    part = tmp_path / "data.bin.part"
    state.cut_after = 100_000
    with pytest.raises(ColdbenchError, match=r"interrupted after 100,000 of 300,000 bytes.*--source PATH"):
        fetch(url, dest, sha256=SHA)
    assert not dest.exists()
    assert part.read_bytes() == PAYLOAD[:100_000]

    assert fetch(url, dest, sha256=SHA) == (dest, True)
    assert state.requests == [None, "bytes=100000-"]
    assert dest.read_bytes() == PAYLOAD
    assert not part.exists()


def test_server_ignoring_range_restarts_from_zero(server, tmp_path: Path) -> None:
    url, state = server
    (tmp_path / "data.bin.part").write_bytes(b"stale bytes that are not the payload")
    state.honour_range = False
    dest = tmp_path / "data.bin"
    assert fetch(url, dest, sha256=SHA) == (dest, True)
    assert state.requests == ["bytes=36-", None]
    assert dest.read_bytes() == PAYLOAD


def test_complete_part_answered_416_is_kept(server, tmp_path: Path) -> None:
    url, state = server
    (tmp_path / "data.bin.part").write_bytes(PAYLOAD)
    dest = tmp_path / "data.bin"
    assert fetch(url, dest, sha256=SHA) == (dest, True)
    assert state.requests == ["bytes=300000-"]
    assert dest.read_bytes() == PAYLOAD


def test_complete_part_of_known_size_needs_no_request(server, tmp_path: Path) -> None:
    url, state = server
    (tmp_path / "data.bin.part").write_bytes(PAYLOAD)
    assert fetch(url, tmp_path / "data.bin", size=len(PAYLOAD), md5=MD5) == (tmp_path / "data.bin", True)
    assert state.requests == []


def test_wrong_checksum_with_verify_errors_and_leaves_nothing(server, tmp_path: Path) -> None:
    url, _ = server
    dest = tmp_path / "data.bin"
    wrong = "0" * 64
    with pytest.raises(ColdbenchError) as info:
        fetch(url, dest, sha256=wrong)
    message = str(info.value)
    assert message == (
        f"checksum mismatch for data.bin: expected sha256 {wrong}, got {SHA}; "
        "use --no-verify to accept it (recorded as unverified)"
    )
    assert not dest.exists()
    assert not (tmp_path / "data.bin.part").exists()


def test_wrong_size_with_verify_errors(server, tmp_path: Path) -> None:
    url, _ = server
    with pytest.raises(ColdbenchError, match=r"expected 299,999 bytes, got 300,000; use --no-verify"):
        fetch(url, tmp_path / "data.bin", size=299_999)


def test_wrong_checksum_without_verify_is_kept_unverified(server, tmp_path: Path) -> None:
    url, _ = server
    dest = tmp_path / "data.bin"
    assert fetch(url, dest, md5="f" * 32, verify=False) == (dest, False)
    assert dest.read_bytes() == PAYLOAD


def test_no_checksum_means_unverified(server, tmp_path: Path) -> None:
    url, _ = server
    assert fetch(url, tmp_path / "data.bin") == (tmp_path / "data.bin", False)


def test_existing_good_file_is_reused_without_request(server, tmp_path: Path) -> None:
    url, state = server
    dest = tmp_path / "data.bin"
    dest.write_bytes(PAYLOAD)
    assert fetch(url, dest, size=len(PAYLOAD), sha256=SHA) == (dest, True)
    assert state.requests == []


def test_existing_bad_file_errors_when_verifying(server, tmp_path: Path) -> None:
    url, state = server
    dest = tmp_path / "data.bin"
    dest.write_bytes(b"corrupt")
    with pytest.raises(ColdbenchError, match=r"existing .*data\.bin: expected sha256"):
        fetch(url, dest, sha256=SHA)
    assert fetch(url, dest, sha256=SHA, verify=False) == (dest, False)
    assert dest.read_bytes() == b"corrupt"
    assert state.requests == []


def test_http_error_names_url(server, tmp_path: Path) -> None:
    url, _ = server
    missing = url.replace("/data.bin", "/missing.zip")
    with pytest.raises(ColdbenchError, match=r"cannot download .*/missing\.zip: HTTP 404 .*--source PATH"):
        fetch(missing, tmp_path / "missing.zip")
    assert not (tmp_path / "missing.zip").exists()


def test_oversized_part_fails_the_check_and_is_removed(server, tmp_path: Path) -> None:
    url, state = server
    part = tmp_path / "x.part"
    part.write_bytes(PAYLOAD + b"extra")
    with pytest.raises(ColdbenchError, match=r"checksum mismatch for x: expected sha256"):
        fetch(url, tmp_path / "x", sha256=SHA)
    assert state.requests == ["bytes=300005-"]
    assert not part.exists()
    assert not (tmp_path / "x").exists()


def test_unreachable_url_errors(tmp_path: Path) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    url = f"http://127.0.0.1:{port}/BX-CSV-Dump.zip"
    with pytest.raises(ColdbenchError) as info:
        fetch(url, tmp_path / "BX-CSV-Dump.zip", md5=MD5)
    message = str(info.value)
    assert message.startswith(f"cannot download {url}: ")
    assert "--source PATH" in message
    assert not (tmp_path / "BX-CSV-Dump.zip").exists()


def test_verify_file_describes_mismatches(tmp_path: Path) -> None:
    path = tmp_path / "f.bin"
    path.write_bytes(PAYLOAD)
    assert verify_file(path, size=len(PAYLOAD), sha256=SHA, md5=MD5) is None
    assert verify_file(path) is None
    assert verify_file(path, size=10) == "expected 10 bytes, got 300,000"
    assert verify_file(path, md5="a" * 32) == f"expected md5 {'a' * 32}, got {MD5}"
    assert verify_file(path, sha256=SHA.upper()) is None
