"""Shared test fixtures."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

torch.set_num_threads(1)  # tiny models: one thread is fastest and keeps runs on a shared machine quiet

REPO_ROOT = Path(__file__).resolve().parents[1]


def shared_data_dir() -> Path:
    """The folder with the real (never committed) datasets: $COLDBENCH_SHARED_DATA or ../shared/data."""
    return Path(os.environ.get("COLDBENCH_SHARED_DATA", REPO_ROOT.parent / "shared" / "data"))


@pytest.fixture
def shared_data() -> Path:
    """Path to the real datasets; the test is skipped cleanly when they are absent."""
    path = shared_data_dir()
    if not path.is_dir():
        pytest.skip(f"real data not found at {path} (set COLDBENCH_SHARED_DATA)")
    return path


@pytest.fixture(autouse=True)
def _isolated_home(tmp_path_factory, monkeypatch):
    """Never let a test write into the user's real data home."""
    monkeypatch.setenv("COLDBENCH_HOME", str(tmp_path_factory.mktemp("coldbench-home")))


@pytest.fixture
def cli(monkeypatch, capsys):
    """Run ``coldbench ARGS`` in-process; returns ``(exit code, stdout, stderr)``."""
    import sys

    from coldbench.cli import main

    def run(*args: str) -> tuple[int, str, str]:
        monkeypatch.setattr(sys, "argv", ["coldbench", *args])
        monkeypatch.setenv("COLUMNS", "200")  # rich sizes tables to the terminal; keep output stable
        try:
            main()
            code = 0
        except SystemExit as done:
            code = done.code or 0
        captured = capsys.readouterr()
        return code, captured.out, captured.err

    return run


@pytest.fixture
def tmpfs():
    """``tmpfs(path, size, read_only=False)`` mounts a small tmpfs at ``path`` (a real full or read-only
    file system, not a faked OSError; root on Linux) and skips the test where mounting is not
    allowed; every mount is undone after the test."""
    import subprocess

    mounted: list[Path] = []

    def mount(path: Path, size: str, read_only: bool = False) -> Path:
        path.mkdir(parents=True, exist_ok=True)
        options = f"size={size}" + (",ro" if read_only else "")
        done = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(path)], capture_output=True
        )
        if done.returncode != 0:
            pytest.skip(f"cannot mount a tmpfs here ({done.stderr.decode().strip()[:80]})")
        mounted.append(path)
        return path

    yield mount
    for path in reversed(mounted):
        subprocess.run(["umount", "-l", str(path)], capture_output=True)
