"""Export a study for committing: tables in three formats, figures, and each run's small files.

``results/reference/<dataset>/`` gets ``table-<name>.{md,csv,tex}``, ``figures/<name>.png`` and
``runs/<method>/<config-id>/seed-<k>/{config.json,epochs.csv,metrics.json}``. Predictions,
per-user rows and checkpoints stay behind: they are large, and MovieLens may not be
redistributed. ``check_exported`` reads the committed files back and confirms that every mean in
the committed tables is the mean over seeds of the committed ``metrics.json`` files.
"""

from __future__ import annotations

import csv
import json
import math
import re
import shutil
from pathlib import Path

from coldbench.atomic_io import atomic_path
from coldbench.errors import ColdbenchError
from coldbench.report.runs import Runs, variant_label
from coldbench.report.tables import RENDERERS, TABLES, metric_label

RUN_FILES = ("config.json", "epochs.csv", "metrics.json")
RATING_TABLES = ("main", "ablation", "minor-major")
FIGURES = ("boxplot", "lr-hist", "curves")
EXTENSIONS = {"markdown": "md", "csv": "csv", "latex": "tex"}
METRIC_COLUMNS = ("mse", "mae", "ndcg@3", "ndcg@5", "ndcg_lin@3", "ndcg_lin@5")


def export_study(runs: Runs, dataset: str, out: Path) -> list[Path]:
    """Write the committed form of ``dataset``'s study under ``out``; returns the files written."""
    from coldbench.report.figures import FIGURES as DRAW

    selected = runs.select(dataset)
    if len(selected) == 0:
        raise ColdbenchError(f"--dataset {dataset}: no finished runs to export")
    out = Path(out)
    written: list[Path] = []
    ctr = (selected.table["task"] == "ctr").all()
    tags = selected.tags()
    # One set of tables per preset when the study holds several (table-main-paper, table-main-tuned);
    # a preset whose runs are all of one family may lack a table (no PAML run: no ablation).
    views = [(f"-{tag}", selected.for_preset(tag)) for tag in tags] if len(tags) > 1 else [("", selected)]
    for suffix, view in views:
        for name in ("ctr",) if ctr else RATING_TABLES:
            options = {} if name in ("minor-major", "ctr") else {"metrics": ",".join(METRIC_COLUMNS)}
            try:
                report = TABLES[name](view, dataset, **options)
            except ColdbenchError:
                if suffix:
                    continue
                raise
            for fmt, ext in EXTENSIONS.items():
                path = out / f"table-{name}{suffix}.{ext}"
                path.parent.mkdir(parents=True, exist_ok=True)
                with atomic_path(path) as tmp:
                    tmp.write_text(RENDERERS[fmt](report))
                written.append(path)
    figures = out / "figures"
    for name in ("ctr", "curves") if ctr else FIGURES:
        DRAW[name](selected, figures)
        (figures / f"{name}.pdf").unlink(missing_ok=True)  # the PNG is enough for a repository
        compact_png(figures / f"{name}.png")
        written.append(figures / f"{name}.png")
    for row in selected.table.itertuples():
        source = Path(row.path)
        target = out / "runs" / row.method / row.config_id / f"seed-{row.seed}"
        target.mkdir(parents=True, exist_ok=True)
        for name in RUN_FILES:
            shutil.copyfile(source / name, target / name)
            written.append(target / name)
    return written


def compact_png(path: Path) -> None:
    """Rewrite a figure as a 256-colour PNG: about a third of the bytes, the same plot to the eye."""
    from PIL import Image  # matplotlib's own dependency

    with Image.open(path) as image:
        palette = image.convert("RGB").quantize(
            256, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE
        )
    with atomic_path(path) as tmp:
        palette.save(tmp, format="PNG", optimize=True)


def _committed_means(folder: Path) -> dict[str, dict[str, float]]:
    """variant → metric → mean over seeds, from ``runs/**/metrics.json`` and ``config.json``."""
    values: dict[str, dict[str, list[float]]] = {}
    for metrics_path in sorted(folder.glob("runs/*/*/seed-*/metrics.json")):
        config = json.loads((metrics_path.parent / "config.json").read_text())
        variant = variant_label(config["method"], config["params"], config.get("train"), config.get("tuned"))
        overall = json.loads(metrics_path.read_text())["test"]["overall"]
        for metric, value in overall.items():
            values.setdefault(variant, {}).setdefault(metric, []).append(value)
    return {v: {m: sum(x) / len(x) for m, x in metrics.items()} for v, metrics in values.items()}


def check_exported(folder: Path, digits: int = 3) -> int:
    """Every mean printed in ``table-main.csv`` and ``table-ablation.csv`` against the run files.

    Returns the number of cells checked; a mismatch raises ColdbenchError naming the cell.
    """
    means = _committed_means(Path(folder))
    checked = 0
    paths = sorted(Path(folder).glob("table-main*.csv")) + sorted(Path(folder).glob("table-ablation*.csv"))
    for path in paths:
        with path.open(newline="") as handle:
            rows = list(csv.reader(handle))
        header = rows[0]
        labels = {metric_label(m): m for m in METRIC_COLUMNS}
        for row in rows[1:]:
            variant = row[0]
            for column, text in zip(header, row):
                metric = labels.get(column)
                match = re.match(r"\s*(-?\d+\.\d+)", text)
                if metric is None or match is None:
                    continue
                if variant not in means:
                    raise ColdbenchError(f"{path}: row {variant!r} has no committed runs")
                want = means[variant][metric]
                if not math.isclose(float(match.group(1)), want, abs_tol=0.5 * 10**-digits + 1e-12):
                    raise ColdbenchError(f"{path}: {variant} {column} shows {text}, runs give {want:.4f}")
                checked += 1
    return checked
