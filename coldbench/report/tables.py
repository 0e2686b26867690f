"""The paper's tables from finished runs: main (Table 2), ablation (3), minor-major (4/5), ctr.

Each builder returns a ``ReportTable`` (cells with bold/italic marks and a caption); renderers turn
it into a rich table, Markdown, LaTeX or CSV. Numbers are mean ± std over seeds (sample std). The
paper's reported numbers (``--paper``) come from ``paper_numbers.json`` and are labelled as such.
"""

from __future__ import annotations

import csv
import io
import json
import math
from dataclasses import dataclass, field
from importlib import resources

import numpy as np
import pandas as pd
from rich.table import Table

from coldbench.errors import ColdbenchError
from coldbench.methods import METHODS
from coldbench.metrics import METRICS
from coldbench.report.runs import Runs
from coldbench.stats import ttest_p

METHOD_ORDER = ("global", "transfer", "melu", "meta-sgd", "paml", "reg-paml", "at-paml")
OURS = ("paml", "reg-paml", "at-paml")  # the paper's methods; the rest are baselines
RATING_COLUMNS = (("MSE", "mse"), ("nDCG@3", "ndcg@3"), ("nDCG@5", "ndcg@5"))
ALPHA = 0.05


@dataclass
class Cell:
    text: str
    bold: bool = False
    italic: bool = False


@dataclass
class ReportTable:
    title: str
    columns: list[str]
    rows: list[list[Cell]] = field(default_factory=list)
    caption: list[str] = field(default_factory=list)


def paper_numbers() -> dict:
    """The paper's reported numbers, shipped with the package."""
    return json.loads(resources.files("coldbench.report").joinpath("paper_numbers.json").read_text())


def _order_key(variant: str) -> tuple:
    """Methods in METHOD_ORDER; a method's variants by γ (the default γ in its place), then by label."""
    method = variant.split(" ")[0]
    rank = METHOD_ORDER.index(method) if method in METHOD_ORDER else len(METHOD_ORDER)
    return (rank, method, _gamma(variant, method), 0 if variant == method else 1, variant)


def _gamma(variant: str, method: str) -> float:
    """The variant's γ (REG-PAML), its method's default when not named, 0 for methods without one."""
    if "gamma=" in variant:
        return float(variant.split("gamma=")[1].split(",")[0].rstrip(")"))
    try:
        return float(getattr(METHODS.get(method).Config(), "gamma", 0.0))
    except ColdbenchError:
        return 0.0


def ordered_variants(variants) -> list[str]:
    return sorted(set(variants), key=_order_key)


def _fmt(mean: float, std: float, digits: int = 3) -> str:
    if math.isnan(mean):
        return "–"
    return f"{mean:.{digits}f} ± {std:.{digits}f}" if not math.isnan(std) else f"{mean:.{digits}f}"


def one_dataset(runs: Runs, dataset: str) -> tuple[pd.DataFrame, list[str]]:
    """The runs of ``dataset`` on its most-used prepared data (one manifest hash), and notes."""
    table = runs.table[runs.table["dataset"] == dataset]
    if table.empty:
        raise ColdbenchError(f"--dataset {dataset}: no finished runs (found: {', '.join(runs.datasets())})")
    counts = table["dataset_hash"].value_counts()
    chosen = counts.index[0]
    notes = [f"{dataset}: prepared data {chosen[:12]} ({counts.iloc[0]} runs)"]
    if len(counts) > 1:
        others = ", ".join(f"{h[:12]} ({n} runs)" for h, n in counts.iloc[1:].items())
        notes.append(f"runs on other preparations of {dataset} are left out: {others}")
    return table[table["dataset_hash"] == chosen], notes


def _seed_values(table: pd.DataFrame, variant: str, column: str) -> np.ndarray:
    if column not in table:
        return np.array([])
    return table.loc[table["variant"] == variant, column].dropna().to_numpy(dtype=float)


def _mean_std(values: np.ndarray) -> tuple[float, float]:
    if len(values) == 0:
        return math.nan, math.nan
    return float(values.mean()), float(values.std(ddof=1)) if len(values) > 1 else math.nan


def _mark_ranks(cells: list[Cell], means: list[float], higher_is_better: bool) -> None:
    """Best bold, second best italic."""
    valid = [(m if higher_is_better else -m, i) for i, m in enumerate(means) if not math.isnan(m)]
    ranked = [i for _, i in sorted(valid, reverse=True)]
    if ranked:
        cells[ranked[0]].bold = True
    if len(ranked) > 1:
        cells[ranked[1]].italic = True


def _best(variants: list[str], means: list[float], higher: bool, allowed) -> str | None:
    pool = [(m, v) for v, m in zip(variants, means) if allowed(v) and not math.isnan(m)]
    if not pool:
        return None
    return (max if higher else min)(pool)[1]


def _paper_cells(paper: dict | None, variant: str, metric: str, mean: float) -> list[Cell]:
    entry = (paper or {}).get(variant, {}).get(metric)
    if entry is None:
        return [Cell("–"), Cell("–")]
    value = entry[0] if isinstance(entry, list) else entry
    std = entry[1] if isinstance(entry, list) else math.nan
    diff = "–" if math.isnan(mean) else f"{mean - value:+.3f}"
    return [Cell(_fmt(value, std)), Cell(diff)]


def _paper_for(dataset: str, table_name: str) -> dict | None:
    numbers = paper_numbers()
    for prefix, name in numbers["datasets"].items():
        if dataset == prefix or dataset.startswith(prefix + "-"):
            return numbers[table_name].get(name)
    return None


def metric_table(
    runs: Runs,
    dataset: str,
    variants: list[str],
    title: str,
    paper_key: str | None,
    with_paper: bool,
    significance: str,
) -> ReportTable:
    """Rows = variants, columns = MSE / nDCG@3 / nDCG@5 (± the paper's numbers and the difference)."""
    table, notes = one_dataset(runs, dataset)
    paper = _paper_for(dataset, paper_key) if (with_paper and paper_key) else None
    columns = ["method", "seeds"]
    for label, _ in RATING_COLUMNS:
        columns += [label] + (["paper", "Δ"] if with_paper else [])
    report = ReportTable(title, columns)
    rows = [[Cell(v), Cell(str(len(_seed_values(table, v, "overall_mse"))))] for v in variants]
    for _, metric in RATING_COLUMNS:
        higher = METRICS[metric].higher_is_better
        values = [_seed_values(table, v, f"overall_{metric}") for v in variants]
        means = [_mean_std(x)[0] for x in values]
        cells = [Cell(_fmt(*_mean_std(x))) for x in values]
        _mark_ranks(cells, means, higher)
        star = _significant(variants, values, means, higher, significance)
        if star is not None:
            cells[star].text += "*"
        for row, cell, variant, mean in zip(rows, cells, variants, means):
            row.append(cell)
            if with_paper:
                row.extend(_paper_cells(paper, variant, metric, mean))
    report.rows = rows
    report.caption = notes + [
        "mean ± std over seeds (test users; epoch chosen on validation MSE); best **bold**, second *italic*",
        _significance_note(significance),
    ]
    if with_paper:
        report.caption.append(
            "paper: numbers reported by Yu et al. (AAAI 2021), not measured here; Δ = ours − paper"
            if paper
            else "paper: no reported numbers for this dataset"
        )
    return report


def _significant(variants, values, means, higher, mode) -> int | None:
    """Index of the cell that earns a '*', if any."""
    if mode == "ours-vs-baseline":
        ours = _best(variants, means, higher, lambda v: v.split(" ")[0] in OURS)
        base = _best(variants, means, higher, lambda v: v.split(" ")[0] not in OURS)
        if ours is None or base is None:
            return None
        i, j = variants.index(ours), variants.index(base)
    else:  # best vs second best
        order = sorted((m if higher else -m, k) for k, m in enumerate(means) if not math.isnan(m))
        if len(order) < 2:
            return None
        i, j = order[-1][1], order[-2][1]
    better = means[i] > means[j] if higher else means[i] < means[j]
    return i if better and ttest_p(values[i], values[j]) < ALPHA else None


def _significance_note(mode: str) -> str:
    if mode == "ours-vs-baseline":
        return (
            "* the best PAML-family method beats the best baseline: two-tailed Student's t-test over "
            f"seeds, p < {ALPHA}"
        )
    return f"* the best row beats the second best: two-tailed Student's t-test over seeds, p < {ALPHA}"


def _plainest(variants) -> list[str]:
    """Per method, the variant with the fewest non-default settings (its default, when it ran)."""
    chosen: dict[str, str] = {}
    for variant in ordered_variants(variants):
        method = variant.split(" ")[0]
        if method not in chosen or variant.count("=") < chosen[method].count("="):
            chosen[method] = variant
    return ordered_variants(chosen.values())


def main_table(runs: Runs, dataset: str, with_paper: bool = False) -> ReportTable:
    """Paper Table 2: one row per method, with its default settings where those ran."""
    variants = _plainest(runs.table.loc[runs.table["dataset"] == dataset, "variant"])
    return metric_table(
        runs, dataset, variants, f"Main results — {dataset}", "main", with_paper, "ours-vs-baseline"
    )


def ablation_table(runs: Runs, dataset: str, with_paper: bool = False) -> ReportTable:
    """Paper Table 3: REG-PAML over γ, PAML, AT-PAML."""
    in_dataset = runs.table.loc[runs.table["dataset"] == dataset, "variant"]
    variants = ordered_variants(v for v in in_dataset if v.split(" ")[0] in OURS)
    if not variants:
        raise ColdbenchError("the ablation table needs paml / reg-paml / at-paml runs")
    return metric_table(runs, dataset, variants, f"Ablation — {dataset}", "ablation", with_paper, "best")


def minor_major_table(runs: Runs, dataset: str, with_paper: bool = False, welch: bool = False) -> ReportTable:
    """Paper Tables 4/5: MSE of major and minor users and the t-test between them."""
    table, notes = one_dataset(runs, dataset)
    per_user = Runs(table).per_user()
    paper = _paper_for(dataset, "minor-major") if with_paper else None
    columns = ["method", "seeds", "MSE major", "MSE minor", "p-value", "major / minor users"]
    if with_paper:
        columns += ["paper major", "paper minor", "paper p"]
    report = ReportTable(f"Major vs minor users — {dataset}", columns)
    for variant in ordered_variants(table["variant"]):
        major = _seed_values(table, variant, "major_mse")
        minor = _seed_values(table, variant, "minor_mse")
        users = (
            per_user[per_user["variant"] == variant]
            .groupby("user_id")
            .agg(mse=("mse", "mean"), major=("major", "first"))
        )
        p = ttest_p(users.loc[~users["major"], "mse"], users.loc[users["major"], "mse"], welch=welch)
        row = [
            Cell(variant),
            Cell(str(len(major))),
            Cell(_fmt(*_mean_std(major))),
            Cell(_fmt(*_mean_std(minor))),
            Cell("–" if math.isnan(p) else f"{p:.3g}"),
            Cell(f"{int(users['major'].sum())} / {int((~users['major']).sum())}"),
        ]
        if with_paper:
            entry = (paper or {}).get(variant)
            row += (
                [Cell(_fmt(*entry["major_mse"])), Cell(_fmt(*entry["minor_mse"])), Cell(f"{entry['p']:.3g}")]
                if entry
                else [Cell("–")] * 3
            )
        report.rows.append(row)
    test = "Welch's" if welch else "Student's"
    report.caption = notes + [
        "MSE major / minor: mean ± std over seeds of the test MSE of major and of minor users",
        f"p: two-tailed {test} t-test between the per-user test MSEs of minor and major users of the same "
        "method; each user's MSE is first averaged over seeds; a low p means the two groups fare differently",
    ]
    if with_paper:
        report.caption.append("paper: Tables 4/5 of Yu et al. (AAAI 2021), reported there, not measured here")
    return report


def ctr_table(runs: Runs, dataset: str, with_paper: bool = False) -> ReportTable:
    """AUC and NEL per method, overall / major / minor."""
    table, notes = one_dataset(runs, dataset)
    if "overall_auc" not in table or table["overall_auc"].isna().all():
        raise ColdbenchError(f"{dataset}: no click-through-rate runs (prepare the data with --task ctr)")
    columns = ["method", "seeds"] + [f"{m} {g}" for m in ("AUC", "NEL") for g in ("all", "major", "minor")]
    report = ReportTable(f"Click-through rate — {dataset}", columns)
    variants = ordered_variants(table.loc[table["overall_auc"].notna(), "variant"])
    report.rows = [[Cell(v), Cell(str(len(_seed_values(table, v, "overall_auc"))))] for v in variants]
    for metric in ("auc", "nel"):
        for group in ("overall", "major", "minor"):
            values = [_seed_values(table, v, f"{group}_{metric}") for v in variants]
            cells = [Cell(_fmt(*_mean_std(x), digits=4)) for x in values]
            _mark_ranks(cells, [_mean_std(x)[0] for x in values], METRICS[metric].higher_is_better)
            for row, cell in zip(report.rows, cells):
                row.append(cell)
    report.caption = notes + [
        "mean ± std over seeds; NEL is the weighted negative-entropy loss (lower is better)"
    ]
    if with_paper:
        report.caption.append(
            "paper: its CTR results (Fig. 3) come from private Taobao data and are not comparable"
        )
    return report


TABLES = {"main": main_table, "ablation": ablation_table, "minor-major": minor_major_table, "ctr": ctr_table}


# ------------------------------------------------------------------ renderers


def to_rich(report: ReportTable) -> Table:
    table = Table(title=report.title, caption="\n".join(report.caption), caption_justify="left")
    for index, column in enumerate(report.columns):
        table.add_column(column, justify="left" if index == 0 else "right")
    for row in report.rows:
        table.add_row(
            *(f"[bold]{c.text}[/]" if c.bold else f"[italic]{c.text}[/]" if c.italic else c.text for c in row)
        )
    return table


def to_markdown(report: ReportTable) -> str:
    def cell(c: Cell) -> str:
        return f"**{c.text}**" if c.bold else f"*{c.text}*" if c.italic else c.text

    lines = [
        f"**{report.title}**",
        "",
        "| " + " | ".join(report.columns) + " |",
        "|" + "|".join(["---"] + ["---:"] * (len(report.columns) - 1)) + "|",
    ]
    lines += ["| " + " | ".join(cell(c) for c in row) + " |" for row in report.rows]
    lines += [""] + [f"- {note}" for note in report.caption]
    return "\n".join(lines) + "\n"


def _latex_escape(text: str) -> str:
    for old, new in (("\\", r"\textbackslash{}"), ("&", r"\&"), ("%", r"\%"), ("_", r"\_"), ("#", r"\#")):
        text = text.replace(old, new)
    return text.replace("±", r"$\pm$").replace("Δ", r"$\Delta$").replace("γ", r"$\gamma$").replace("–", "--")


def to_latex(report: ReportTable) -> str:
    def cell(c: Cell) -> str:
        text = _latex_escape(c.text)
        return rf"\textbf{{{text}}}" if c.bold else rf"\textit{{{text}}}" if c.italic else text

    spec = "l" + "r" * (len(report.columns) - 1)
    lines = [
        r"\begin{table}[t]",
        r"\centering",
        rf"\begin{{tabular}}{{{spec}}}",
        r"\toprule",
        " & ".join(_latex_escape(c) for c in report.columns) + r" \\",
        r"\midrule",
    ]
    lines += [" & ".join(cell(c) for c in row) + r" \\" for row in report.rows]
    lines += [
        r"\bottomrule",
        r"\end{tabular}",
        rf"\caption{{{_latex_escape(report.title)}. {_latex_escape('; '.join(report.caption))}}}",
        r"\end{table}",
    ]
    return "\n".join(lines) + "\n"


def to_csv(report: ReportTable) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(report.columns)
    writer.writerows([c.text for c in row] for row in report.rows)
    return buffer.getvalue()


RENDERERS = {"markdown": to_markdown, "latex": to_latex, "csv": to_csv}
