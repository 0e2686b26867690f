"""config.json's ``versions.coldbench_commit``: the source's git commit, ``+dirty`` with edits."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import coldbench

PACKAGE = Path(coldbench.__file__).resolve().parent
pytestmark = pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")


def commit_of_copy(root: Path) -> str:
    """``source_commit()`` as seen by a copy of the package under ``root``, in a fresh interpreter."""
    code = "from coldbench.training.trainer import source_commit; print(source_commit())"
    out = subprocess.run(
        [sys.executable, "-c", code],
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(root)},
        cwd=root,
        capture_output=True,
        text=True,
        check=True,
    )
    return out.stdout.strip()


def git(root: Path, *args: str) -> None:
    subprocess.run(["git", "-C", str(root), *args], check=True, capture_output=True)


@pytest.fixture
def copy(tmp_path) -> Path:
    shutil.copytree(PACKAGE, tmp_path / "coldbench", ignore=shutil.ignore_patterns("__pycache__"))
    return tmp_path


def test_a_copy_outside_any_repository_records_no_commit(copy):
    assert commit_of_copy(copy) == "None"


def test_an_untracked_copy_inside_another_repository_records_no_commit(copy):
    git(copy, "init", "-q")
    git(copy, "-c", "user.email=a@b", "-c", "user.name=a", "commit", "-q", "--allow-empty", "-m", "x")
    assert commit_of_copy(copy) == "None"


def test_a_checkout_records_its_commit_and_then_its_edits(copy):
    (copy / ".gitignore").write_text("__pycache__/\n")
    git(copy, "init", "-q")
    git(copy, "add", ".")
    git(copy, "-c", "user.email=a@b", "-c", "user.name=a", "commit", "-q", "-m", "x")
    head = subprocess.run(["git", "-C", str(copy), "rev-parse", "HEAD"], capture_output=True, text=True)
    assert commit_of_copy(copy) == head.stdout.strip()
    with (copy / "coldbench" / "metrics.py").open("a") as handle:
        handle.write("\n# an edit\n")
    assert commit_of_copy(copy) == head.stdout.strip() + "+dirty"
