"""The paper's reported numbers (``paper_numbers.json``) beside ours: matching rows, cells, captions."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources

from coldbench.report.tables.base import Cell, method_of
from coldbench.report.tables.measure import fmt_mean_std


def paper_numbers() -> dict:
    """The paper's reported numbers, shipped with the package."""
    return json.loads(resources.files("coldbench.report").joinpath("paper_numbers.json").read_text())


SETTING_SPLIT = re.compile(r", (?=[A-Za-z_][\w@.]*=)")  # splits "a=1, b=[2, 3]" at ", b="


def label_settings(variant: str) -> dict[str, str]:
    """``{"gamma": "0.01", "epochs": "2"}`` from ``reg-paml (epochs=2, gamma=0.01)``."""
    _, _, inner = variant.partition(" (")
    pairs = (part.partition("=") for part in SETTING_SPLIT.split(inner.rstrip(")")) if part)
    return {key: value for key, _, value in pairs}


@dataclass(frozen=True)
class PaperMatch:
    """The paper's entry for a row: its key, and the row's settings that differ from the paper's."""

    key: str
    differ: tuple[str, ...] = ()

    def mark(self) -> str:
        return " †" if self.differ else ""


def paper_match(paper: dict | None, variant: str) -> PaperMatch | None:
    """The paper entry of ``variant``'s method whose named settings the variant shares most.

    An exact label wins; otherwise the entry of the same method whose settings all appear in the
    variant (``reg-paml (epochs=2, gamma=0.01)`` → ``reg-paml (gamma=0.01)``), else the method's
    plain entry. ``differ`` lists the variant's settings the paper's entry does not name.
    """
    if not paper:
        return None
    if variant in paper:
        return PaperMatch(variant)
    mine = label_settings(variant)
    candidates = []
    for key in paper:
        if method_of(key) != method_of(variant):
            continue
        theirs = label_settings(key)
        if all(mine.get(k) == v for k, v in theirs.items()):
            candidates.append((len(theirs), key))
    if not candidates:
        plain = method_of(variant)
        if plain not in paper:
            return None
        candidates = [(0, plain)]
    key = max(candidates)[1]
    named = label_settings(key)
    return PaperMatch(key, tuple(f"{k}={v}" for k, v in mine.items() if k not in named))


def paper_cells(paper: dict | None, variant: str, metric: str, mean: float) -> list[Cell]:
    """The paper's ``mean ± std`` (``†`` when this row's settings differ) and Δ = ours − paper."""
    match = paper_match(paper, variant)
    entry = paper[match.key].get(metric) if match else None
    if entry is None:
        return [Cell("–"), Cell("–")]
    value = entry[0] if isinstance(entry, list) else entry
    std = entry[1] if isinstance(entry, list) else math.nan
    diff = "–" if math.isnan(mean) else f"{mean - value:+.3f}"
    return [Cell(fmt_mean_std(value, std) + match.mark()), Cell(diff)]


def paper_notes(paper: dict | None, variants: Sequence[str], what: str) -> list[str]:
    """Caption lines: where the numbers come from, what a dash and what a † mean."""
    if not paper:
        return ["paper: no reported numbers for this dataset"]
    notes = [f"paper: {what}, reported by Yu et al. (AAAI 2021), not measured here; Δ = ours − paper"]
    matches = {v: paper_match(paper, v) for v in variants}
    absent = [v for v, m in matches.items() if m is None]
    if absent:
        notes.append(f"paper –: the paper reports no number for {', '.join(absent)} in this table")
    differ = [
        f"{v} (paper: {m.key}; differs in {', '.join(m.differ)})"
        for v, m in matches.items()
        if m and m.differ
    ]
    if differ:
        notes.append(
            "paper †: the paper's number for the method at the paper's own settings (coldbench's defaults, "
            "from its Table 7); this row's settings differ, so Δ compares different settings: "
            + "; ".join(differ)
        )
    return notes


def paper_for(dataset: str, table_name: str) -> dict | None:
    numbers = paper_numbers()
    for prefix, name in numbers["datasets"].items():
        if dataset == prefix or dataset.startswith(prefix + "-"):
            return numbers[table_name].get(name)
    return None
