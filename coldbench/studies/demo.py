"""``coldbench demo``: prepare the synthetic data, train every method briefly, report, explain.

Everything runs in one process (one torch import), on a short budget: ``DEMO_EPOCHS`` epochs at
``DEMO_SETTINGS`` instead of the paper's 20 epochs at its small outer rates. The floors need no
training. The demo shows what the suite measures, not which method wins on real data.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from rich.markup import escape

from coldbench.choices import DEMO_EPOCHS, DEMO_SEEDS
from coldbench.config import check_seed_count
from coldbench.data.prepare import prepare
from coldbench.data.prepared import load_prepared
from coldbench.methods import METHODS
from coldbench.report.runs import Runs, load_runs
from coldbench.report.tables import METHOD_ORDER, ReportTable, main_table, minor_major_table
from coldbench.training.trainer import make_spec, train_spec

DEMO_NAME = "synthetic-demo"  # its own prepared folder: `prepare synthetic` keeps the full default
DEMO_OPTIONS = {"users": "800"}  # 640 cold-start users: 448 train, 64 validation, 128 test
DEMO_SETTINGS = {"outer_lr": "1e-3"}  # the paper's 5e-5/5e-6 learns little in a few epochs
ADAPTING = ("transfer", "melu", "meta-sgd", "paml", "reg-paml", "at-paml", "mamo", "tanp")
SUPPORT_FLOORS = ("user-mean", "bias")  # no training; read only the user's support set


def demo_methods() -> list[str]:
    """Every registered method, in the tables' order (the paper's first, then the others)."""
    known = METHODS.names()
    return [m for m in METHOD_ORDER if m in known] + sorted(m for m in known if m not in METHOD_ORDER)


@dataclass
class DemoResult:
    """What the demo made: the dataset's name, its runs, the two tables and the seconds per method."""

    dataset: str
    runs: Runs
    tables: list[ReportTable]
    seconds: dict[str, float] = field(default_factory=dict)


def run_demo(
    *,
    epochs: int = DEMO_EPOCHS,
    seeds: int = DEMO_SEEDS,
    methods: Sequence[str] | None = None,
    options: dict[str, str] | None = None,
    settings: dict[str, str] | None = None,
    results_dir: Path = Path("results"),
    data_dir: Path | None = None,
    device: str = "cpu",
    force: bool = False,
    say: Callable[[str], None] = lambda line: None,
) -> DemoResult:
    """Prepare ``synthetic`` as ``DEMO_NAME`` (``DEMO_OPTIONS``, then ``options``), train ``methods``
    for ``seeds`` seeds and build the tables.

    Every method's settings are checked before anything is prepared. Finished runs are reused
    unless ``force`` (which also rebuilds the prepared data).
    """
    check_seed_count(seeds)
    methods = list(methods or demo_methods())
    overrides = {"epochs": epochs, **DEMO_SETTINGS, **(settings or {})}
    specs = [
        make_spec(m, overrides if METHODS.get(m).meta_trained else {}, device, results_dir) for m in methods
    ]
    options = {**DEMO_OPTIONS, **(options or {})}
    prepared_result = prepare("synthetic", options=options, name=DEMO_NAME, data_dir=data_dir, force=force)
    dataset = load_prepared(prepared_result.path.name, data_dir)
    say(f"prepared {dataset.name} → {dataset.path}")
    seconds = {}
    for index, (method, spec) in enumerate(zip(methods, specs)):
        start = time.perf_counter()
        results = train_spec(spec, dataset, list(range(seeds)), force)
        seconds[method] = time.perf_counter() - start
        mse = sum(r.metrics["test"]["overall"]["mse"] for r in results) / len(results)
        reused = " (earlier runs reused)" if all(r.skipped for r in results) else ""
        say(f"({index + 1}/{len(methods)}) {method:<9} test MSE {mse:.3f}  {seconds[method]:5.1f} s{reused}")
    runs = load_runs(results_dir).select(dataset.name)  # this demo's runs only, not earlier budgets
    runs = Runs(runs.table[runs.table["config_id"].isin({spec.config_id for spec in specs})])
    tables = [main_table(runs, dataset.name), minor_major_table(runs, dataset.name)]
    return DemoResult(dataset.name, runs, tables, seconds)


def _mean(runs: Runs, method: str, column: str = "overall_mse") -> float:
    table = runs.table[runs.table["method"] == method]
    return float(table[column].mean()) if len(table) and column in table else float("nan")


def summary(result: DemoResult, figure: Path | None) -> list[str]:
    """The closing message: what the tables show (in numbers, whatever they are) and next steps."""
    runs, name = result.runs, result.dataset
    best = {
        group: min(((m, _mean(runs, m)) for m in members), key=lambda pair: pair[1], default=None)
        for group, members in (("floor", SUPPORT_FLOORS), ("adapting", ADAPTING))
    }
    lines = ["[bold]What you just saw[/]"]
    lines.append(
        "- The synthetic data gives every user a taste of their own that no user feature predicts; "
        "only the user's support ratings reveal it (docs/protocol.md, 'Synthetic')."
    )
    glob = _mean(runs, "global")
    whats = {"floor": "support-set floor, no training", "adapting": "method adapting per user"}
    for group, what in whats.items():
        if best[group] is not None and best[group][1] == best[group][1]:
            method, value = best[group]
            lines.append(
                f"- test MSE: global (one model for all) {glob:.3f}; best {what}: {method} {value:.3f}"
            )
    major, minor = _mean(runs, "global", "major_mse"), _mean(runs, "global", "minor_mse")
    lines.append(
        f"- Major vs minor users (global): MSE {major:.3f} vs {minor:.3f}. Minor users hold rare feature "
        "values and tastes of their own; the minor-major table tests the gap for every method."
    )
    lines.append(
        "- This is a short run (few epochs, a large outer rate): it shows what the suite measures, "
        "not which method wins. Lower MSE is better; * marks significance after correction."
    )
    if figure is not None:
        where = escape(str(figure))
        lines.append(f"- Figure: per-user test MSE, major vs minor users: {where}.png (and .pdf)")
    lines += [
        "",
        "[bold]Next steps[/]",
        f"  coldbench report --table main --dataset {name} --format markdown",
        "  coldbench prepare movielens                 # or, offline:",
        "  coldbench prepare movielens --source ml-1m.zip --extras movies_extrainfos.dat",
        "  coldbench train reg-paml --dataset movielens --seeds 3 --preset paper   # Table 7, 20 epochs",
        "  coldbench report --table main --dataset movielens --paper",
        "  coldbench reproduce --dataset movielens     # every method, every table and figure",
    ]
    return lines
