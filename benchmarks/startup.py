"""Start-up cost of light CLI commands: wall time, CPU time, peak RSS and heavy modules imported.

    python benchmarks/startup.py [--repeat 3] [--data-dir DIR] [--results-dir DIR]

Each command runs in a fresh interpreter that calls ``coldbench.cli.main()`` and then reports
which of the heavy libraries ended up in ``sys.modules``. Figures come from the child's
``getrusage`` (CPU seconds, ru_maxrss), so they hold up better than wall time on a busy machine.
The last line is one JSON object.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import subprocess
import sys
import tempfile
import time

HEAVY = ("torch", "pandas", "pyarrow", "scipy", "matplotlib", "seaborn", "sklearn", "numpy")

CHILD = """
import json, resource, sys
sys.argv = ["coldbench", *{args!r}]
from coldbench.cli import main
code = 0
try:
    main()
except SystemExit as stop:
    code = stop.code
heavy = sorted(m for m in {heavy!r} if m in sys.modules)
usage = resource.getrusage(resource.RUSAGE_SELF)
figures = {{"heavy": heavy, "cpu_s": usage.ru_utime + usage.ru_stime, "rss_mb": usage.ru_maxrss / 1024}}
with open({out!r}, "w") as handle:
    json.dump({{**figures, "exit": code}}, handle)
"""


def run_command(args: list[str], env: dict[str, str]) -> dict:
    """Run ``coldbench *args`` in a fresh interpreter; its wall time, CPU time, RSS and heavy imports."""
    with tempfile.TemporaryDirectory() as folder:
        out = os.path.join(folder, "modules.json")
        code = CHILD.format(args=args, heavy=HEAVY, out=out)
        start = time.perf_counter()
        child = subprocess.run(
            [sys.executable, "-c", code],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        wall = time.perf_counter() - start
        if not os.path.exists(out):  # the child died before it could report (e.g. no coldbench)
            last = (child.stderr.strip().splitlines() or ["no message"])[-1]
            raise SystemExit(f"coldbench {' '.join(args)} failed before it could report: {last}")
        with open(out) as handle:
            figures = json.load(handle)
    figures["wall_s"] = wall
    return figures


def main() -> None:
    if importlib.util.find_spec("coldbench") is None:
        raise SystemExit(
            f"coldbench is not importable by {sys.executable}; run this with the project's Python: "
            ".venv/bin/python benchmarks/startup.py (after make install)"
        )
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--results-dir", default="results")
    args = parser.parse_args()
    env = dict(os.environ)
    if args.data_dir:
        env["COLDBENCH_HOME"] = args.data_dir
    commands = {
        "--help": ["--help"],
        "methods": ["methods"],
        "datasets": ["datasets"],
        "report-table": ["report", "--table", "main", "--results-dir", args.results_dir, "--format", "csv"],
    }
    results = {}
    for name, argv in commands.items():
        runs = [run_command(argv, env) for _ in range(args.repeat)]
        best = min(runs, key=lambda r: r["cpu_s"])
        results[name] = {
            "cpu_s": round(best["cpu_s"], 3),
            "wall_s": round(min(r["wall_s"] for r in runs), 3),
            "rss_mb": round(max(r["rss_mb"] for r in runs), 1),
            "heavy": best["heavy"],
            "exit": best["exit"],
        }
        shown = results[name]
        print(f"{name:14s} cpu {shown['cpu_s']:.3f}s  rss {shown['rss_mb']:.0f} MB  heavy {shown['heavy']}")
    print(json.dumps({"startup": results}))


if __name__ == "__main__":
    main()
