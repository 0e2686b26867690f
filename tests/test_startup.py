"""Light commands import no heavy library: checked on ``sys.modules`` in a fresh interpreter.

Each command runs through ``coldbench.cli.main`` in a subprocess that then writes the sorted
module names to a file; nothing here times anything.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from coldbench.choices import CORRECTIONS, DEFAULT_DATASET, TABLE_NAMES, TESTS

ROOT = Path(__file__).resolve().parents[1]
# `methods` imports the method modules (torch); the report reads what a run records of its method
# (config.json's method_info) and never imports one.
LIGHT = [
    ["--help"],
    ["datasets"],
    ["train", "--help"],
    ["report", "--help"],
    ["prepare", "--help"],
]
NEVER = ("torch", "matplotlib", "seaborn", "scipy", "pandas", "pyarrow")
CHILD = """
import json, sys
sys.argv = ["coldbench", *{args!r}]
from coldbench.cli import main
code = 0
try:
    main()
except SystemExit as stop:
    code = stop.code
with open({out!r}, "w") as handle:
    json.dump({{"code": code, "modules": sorted(sys.modules)}}, handle)
"""


def modules_after(args: list[str], tmp_path: Path) -> tuple[int, set[str]]:
    """Exit code and top-level modules loaded by ``coldbench *args`` in a fresh interpreter."""
    out = tmp_path / "modules.json"
    code = CHILD.format(args=args, out=str(out))
    env = {"COLDBENCH_HOME": str(tmp_path / "home"), "PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT)}
    subprocess.run([sys.executable, "-c", code], env=env, cwd=tmp_path, capture_output=True, check=False)
    result = json.loads(out.read_text())
    return result["code"], {name.split(".")[0] for name in result["modules"]}


@pytest.mark.parametrize("args", LIGHT)
def test_light_commands_import_no_heavy_library(args, tmp_path):
    code, modules = modules_after(args, tmp_path)
    assert code in (0, None)
    assert not modules & set(NEVER), sorted(modules & set(NEVER))


def test_report_table_imports_no_plotting_library_nor_torch(tmp_path):
    code, modules = modules_after(["report", "--table", "main", "--results-dir", str(tmp_path)], tmp_path)
    assert code == 1  # no runs: a one-line error, after the table code was imported
    assert "scipy" in modules  # the table code was really imported (pandas and scipy: its t-tests)
    assert not modules & {"matplotlib", "seaborn", "torch"}


def test_light_names_match_the_code_that_uses_them():
    from coldbench.report.stats import CORRECTIONS as stats_corrections
    from coldbench.report.stats import TESTS as stats_tests
    from coldbench.report.tables import TABLES
    from coldbench.studies.reproduce import DEFAULT_DATASET as reproduce_default

    assert tuple(TABLES) == TABLE_NAMES
    assert (stats_tests, stats_corrections, reproduce_default) == (TESTS, CORRECTIONS, DEFAULT_DATASET)


def test_training_code_imports_no_scipy(tmp_path):
    modules = "coldbench.training.trainer, coldbench.training.evaluate"
    code = f"import sys, {modules}; print('scipy' in sys.modules)"
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT)}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_report_on_runs_that_describe_their_method_imports_no_method(tmp_path):
    """Labels come from each run's recorded method_info: a table of real-looking runs needs no torch."""
    import numpy as np
    import pandas as pd

    from coldbench.testing import write_fake_run

    per_user = pd.DataFrame(
        {"user_id": [str(u) for u in range(6)], "major": [True, False] * 3, "mse": np.linspace(0.5, 1.5, 6)}
    )
    results = tmp_path / "results"
    for method, params in (("reg-paml", {"outer_lr": 5e-5, "gamma": 0.01}), ("bias", {})):
        write_fake_run(results, method, 0, per_user, params=params)
    code, modules = modules_after(["report", "--table", "main", "--results-dir", str(results)], tmp_path)
    assert code in (0, None)
    assert "scipy" in modules  # the table was built and tested
    assert not modules & {"torch", "matplotlib", "seaborn"}


def test_methods_lists_every_method_and_loads_no_data_or_report_library(tmp_path):
    """`methods` imports the method modules (torch), and nothing the methods do not need."""
    code, modules = modules_after(["methods"], tmp_path)
    assert code in (0, None)
    assert "torch" in modules  # it really read the classes
    assert not modules & {"pandas", "pyarrow", "scipy", "matplotlib", "seaborn", "optuna"}


def test_the_startup_benchmark_says_when_the_project_is_not_importable(tmp_path):
    """Run by a Python without coldbench (here: one that cannot see the checkout), it says so in one line."""
    script = ROOT / "benchmarks" / "startup.py"
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(tmp_path), "PYTHONNOUSERSITE": "1"}
    done = subprocess.run(
        [
            sys.executable,
            "-S",
            "-c",
            f"import runpy; runpy.run_path({str(script)!r}, run_name='__main__')",
        ],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 1
    assert "coldbench is not importable" in done.stderr and "Traceback" not in done.stderr
