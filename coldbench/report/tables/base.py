"""What every table shares: cells, constants, the order of rows, the metrics a table can show,
and the runs of one dataset on one preparation (with the caption lines that say which)."""

from __future__ import annotations

import json
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from coldbench.data.protocol import describe_recorded
from coldbench.errors import ColdbenchError
from coldbench.report.runs import Runs, variant_tag
from coldbench.report.stats import CORRECTIONS, TESTS
from coldbench.training.metrics import METRICS
from coldbench.training.stopping import still_improving

FLOORS = ("constant", "popular", "user-mean", "bias")  # no meta-training: what any method has to beat


METHOD_ORDER = (
    *("global", "transfer", "melu", "meta-sgd", "paml", "reg-paml", "at-paml"),
    *("mamo", "tanp"),  # beyond the paper (issue 13): baselines from later work
    "mf",  # matrix factorisation: knows item identity, as bias does (issue 21)
    *FLOORS,
)


OURS = ("paml", "reg-paml", "at-paml")  # the paper's methods; the rest (floors aside) are baselines


FLOOR_REFERENCE = {"rating": "bias", "ctr": "user-mean"}  # the floor every method is tested against


DEFAULT_METRICS = {"rating": ("mse", "ndcg@3", "ndcg@5"), "ctr": ("auc", "nel")}


CATALOGUE = ("recall@10", "recall@20", "ndcg_cat@10", "ndcg_cat@20")  # `coldbench evaluate` (top-N)
NEWER_METRICS = {"rating": ("ndcg_lin@3", "ndcg_lin@5", *CATALOGUE), "ctr": CATALOGUE}  # known beyond METRICS


LABELS = {"mse": "MSE", "mae": "MAE", "auc": "AUC", "nel": "NEL"}


GROUP_LABELS = {"overall": "all", "major": "major", "minor": "minor"}


ALPHA = 0.05


CONFIDENCE = 0.95


class NothingToShow(ColdbenchError):
    """The runs have no row this table is about (the ablation table without a PAML-family run):
    the command says so, and an export leaves the table out."""


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
    groups: list[str] = field(default_factory=list)  # one per row; a rule separates two groups


def check_options(test: str, correction: str) -> None:
    """One-line errors for an unknown ``--test`` or ``--correction``."""
    if test not in TESTS:
        raise ColdbenchError(f"--test {test!r}: expected one of {', '.join(TESTS)}")
    if correction not in CORRECTIONS:
        raise ColdbenchError(f"--correction {correction!r}: expected one of {', '.join(CORRECTIONS)}")


def known_metrics(task: str) -> list[str]:
    """Metric names a table of ``task`` (``rating`` or ``ctr``) can show."""
    names = [name for name, metric in METRICS.items() if metric.task == task]
    return names + [name for name in NEWER_METRICS[task] if name not in names]


def resolve_metrics(metrics: str | Sequence[str] | None, task: str) -> list[str]:
    """The metrics to show: ``None`` for the task's default, else a list or a comma-separated string."""
    if metrics is None:
        return list(DEFAULT_METRICS[task])
    if isinstance(metrics, str):
        metrics = [m.strip() for m in metrics.split(",")]
    metrics = [m for m in metrics if m]
    known = known_metrics(task)
    unknown = [m for m in metrics if m not in known]
    if unknown or not metrics:
        name = repr(unknown[0]) if unknown else "(none)"
        raise ColdbenchError(f"--metrics {name}: unknown for {task} tables; known: {', '.join(known)}")
    return list(dict.fromkeys(metrics))


def metric_label(metric: str) -> str:
    """``MSE``, ``nDCG@3``, ``nDCG_lin@3``, ``AUC``..."""
    if metric.startswith("ndcg_cat"):
        return "NDCG" + metric[len("ndcg_cat") :] + " (catalogue)"
    if metric.startswith("recall"):
        return "Recall" + metric[len("recall") :] + " (catalogue)"
    if metric.startswith("ndcg"):
        return "nDCG" + metric[len("ndcg") :]
    return LABELS.get(metric, metric)


def higher_is_better(metric: str) -> bool:
    if metric in METRICS:
        return METRICS[metric].higher_is_better
    return metric.startswith(("ndcg", "recall")) or metric == "auc"


def _order_key(variant: str, gammas: Mapping[str, float]) -> tuple:
    """Methods in METHOD_ORDER; a method's variants by γ (the default γ in its place), then by label."""
    method = method_of(variant)
    rank = METHOD_ORDER.index(method) if method in METHOD_ORDER else len(METHOD_ORDER)
    return (rank, method, _gamma(variant, method, gammas), 0 if variant == method else 1, variant)


def method_of(variant: str) -> str:
    return variant.split(" ")[0]


def _gamma(variant: str, method: str, gammas: Mapping[str, float]) -> float:
    """The variant's γ (REG-PAML), its method's default when not named, 0 for methods without one."""
    if "gamma=" in variant:
        return float(variant.split("gamma=")[1].split(",")[0].rstrip(")"))
    return float(gammas.get(method, 0.0))


def default_gammas(table: pd.DataFrame) -> dict[str, float]:
    """Each method's default γ as its runs record it (``method_info``), to order REG-PAML's variants."""
    if "default_gamma" not in table:
        return {}
    return dict(zip(table["method"], table["default_gamma"]))


def ordered_variants(variants, gammas: Mapping[str, float] | None = None) -> list[str]:
    """Methods in METHOD_ORDER; a method's variants by γ (``gammas``: each method's default γ), then label."""
    return sorted(set(variants), key=lambda variant: _order_key(variant, gammas or {}))


def rule_note(groups: Sequence[str], text: str = "below the rule: floors (no meta-training)") -> list[str]:
    """``[text]`` when the table draws the rule above its floors (methods and floors both shown)."""
    return [text] if "floors" in groups and len(set(groups)) > 1 else []


def split_floors(variants: list[str]) -> list[tuple[str, list[str]]]:
    """``[("methods", ...), ("floors", ...)]``, empty groups left out."""
    blocks = [
        ("methods", [v for v in variants if method_of(v) not in FLOORS]),
        ("floors", [v for v in variants if method_of(v) in FLOORS]),
    ]
    return [(name, rows) for name, rows in blocks if rows]


def plainest(variants, gammas: Mapping[str, float] | None = None) -> list[str]:
    """Per method, the variant with the fewest non-default settings (its default, when it ran)."""
    chosen: dict[str, str] = {}
    for variant in ordered_variants(variants, gammas):
        method = method_of(variant)
        if method not in chosen or variant.count("=") < chosen[method].count("="):
            chosen[method] = variant
    return ordered_variants(chosen.values(), gammas)


def _recorded_protocol(table: pd.DataFrame) -> dict | None:
    """The prepared data's protocol as the first run records it (``None`` for runs that predate it)."""
    if "protocol" in table:  # load_runs keeps it from config.json (live runs and committed studies)
        protocol = json.loads(table["protocol"].iloc[0])
    else:
        try:
            path = Path(table["path"].iloc[0]) / "config.json"
            protocol = json.loads(path.read_text(encoding="utf-8")).get("dataset_protocol")
        except (OSError, ValueError):
            return None
    return protocol if isinstance(protocol, dict) else None


def one_dataset(
    runs: Runs, dataset: str, shown: Collection[str] | None = None
) -> tuple[pd.DataFrame, list[str]]:
    """The runs of ``dataset`` on its most-used prepared data (one manifest hash), and notes.

    The convergence and tuning notes speak of the ``shown`` variants only (default: every one),
    so a caption never warns about a run its table leaves out.
    """
    table = runs.table[runs.table["dataset"] == dataset]
    if table.empty:
        raise ColdbenchError(f"--dataset {dataset}: no finished runs (found: {', '.join(runs.datasets())})")
    counts = table["dataset_hash"].value_counts()
    chosen = counts.index[0]
    notes = [f"{dataset}: prepared data {chosen[:12]} ({counts.iloc[0]} runs)"]
    protocol = _recorded_protocol(table[table["dataset_hash"] == chosen])
    if protocol is not None:
        notes.append(f"{dataset}: {describe_recorded(protocol)}")
    if len(counts) > 1:
        others = ", ".join(f"{h[:12]} ({n} runs)" for h, n in counts.iloc[1:].items())
        notes.append(f"runs on other preparations of {dataset} are left out: {others}")
    table = table[table["dataset_hash"] == chosen]
    described = table if shown is None else table[table["variant"].isin(list(shown))]
    return table, notes + _convergence_notes(described)


def _convergence_notes(table: pd.DataFrame) -> list[str]:
    """Warn about runs still improving at their last epoch; state the tuning budget of tuned runs."""
    notes = []
    improving = [
        row.variant
        for row in table.itertuples()
        if pd.notna(getattr(row, "epochs_run", None))
        and pd.notna(row.selected_epoch)
        and still_improving(int(row.selected_epoch), int(row.epochs_run), getattr(row, "stopped", "maximum"))
    ]
    if improving:
        names = ", ".join(ordered_variants(improving, default_gammas(table)))
        notes.append(
            f"WARNING: still improving when stopped (best validation epoch = last epoch, at the maximum) "
            f"in some seeds of: {names}; their numbers may change with more epochs"
        )
    if "tuned_trials" in table and table["tuned_trials"].notna().any():
        tuned = table[table["tuned_trials"].notna()].drop_duplicates("variant")
        budgets = ", ".join(
            f"{row.variant}: {int(row.tuned_trials)} trials, {row.tuned_pruner} pruner"
            for row in tuned.itertuples()
        )
        tags = sorted({variant_tag(v) for v in tuned["variant"]} - {None})
        shown = "/".join(f"[{tag}]" for tag in tags) or "[tuned]"
        where = " ([recommended]: in the committed tuned study)" if "recommended" in tags else ""
        notes.append(f"{shown}: settings chosen by Optuna TPE on validation users{where} ({budgets})")
    return notes
