"""Every "ours" number in docs/reproduction.md's tables is the committed study's (issue 23, point 3).

Each table of the document is read as Markdown; each checked column maps to a committed table
(``results/reference/<study>/table-<name>.csv``) and its column, each row label to a committed
row. A cell's leading number (and its interval, where the prose shows one) must be the committed
cell's. Editing a number in the document, or a committed study without the document, fails here.
"""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "reproduction.md"
REFERENCE = ROOT / "results" / "reference"

METHODS = {
    "global": "global",
    "transfer": "transfer",
    "MeLU": "melu",
    "Meta-SGD": "meta-sgd",
    "PAML": "paml",
    "REG-PAML": "reg-paml",
    "AT-PAML": "at-paml",
    "MAMO": "mamo",
    "TaNP": "tanp",
    "MAMO (not in the paper)": "mamo",
    "TaNP (not in the paper)": "tanp",
}
FLOORS = {"*floor* constant": "constant", "*floor* user-mean": "user-mean", "*floor* bias": "bias"}
ABLATION = {
    "REG-PAML γ = 1e-5": "reg-paml [paper] (gamma=1e-05)",
    "REG-PAML γ = 1e-4": "reg-paml [paper] (gamma=0.0001)",
    "REG-PAML γ = 1e-3": "reg-paml [paper]",
    "REG-PAML γ = 1e-2": "reg-paml [paper] (gamma=0.01)",
    "PAML": "paml [paper]",
    "AT-PAML (Gaussian kernel, one entry a user)": "at-paml [paper]",
    "AT-PAML, inverse kernel (App. D.2's NEC code)": "at-paml [paper] (kernel=inverse)",
    "AT-PAML, memory appended on every visit (Alg. 2 literally)": "at-paml [paper] (memory_entries=append)",
    "Meta-SGD (unbounded, published)": "meta-sgd [paper]",
    "Meta-SGD bounded at α_max = 1e-3": "meta-sgd [paper] (bounded=True)",
}
MINOR_MAJOR = {**{k: v for k, v in METHODS.items() if "(" not in k}, "bias (floor)": "bias"}


def markdown_tables(text: str) -> dict[str, list[dict[str, str]]]:
    """Each table's rows (header → cell), keyed by the first ``##`` heading above it."""
    tables: dict[str, list[dict[str, str]]] = {}
    heading, lines = "", text.splitlines()
    i = 0
    while i < len(lines):
        if lines[i].startswith("## "):
            heading = lines[i][3:].strip()
        if lines[i].startswith("|") and i + 1 < len(lines) and re.match(r"\|[-| :]+\|$", lines[i + 1]):
            header = [c.strip() for c in lines[i].strip("|").split("|")]
            rows = []
            i += 2
            while i < len(lines) and lines[i].startswith("|"):
                cells = [c.strip() for c in lines[i].strip("|").split("|")]
                rows.append(dict(zip(header, cells)))
                i += 1
            tables.setdefault(heading, rows)
            continue
        i += 1
    return tables


def committed(study: str, name: str) -> pd.DataFrame:
    return pd.read_csv(REFERENCE / study / f"table-{name}.csv", dtype=str).set_index("method")


def row_name(method: str, preset: str) -> str:
    """A committed table's row: floors without a tag (``bias`` is tuned too), methods with one."""
    if method in ("constant", "user-mean"):
        return method
    if method == "bias":
        return "bias" if preset == "paper" else "bias [tuned]"
    return f"{method} [{preset}]"


NUMBER = re.compile(r"-?\d+\.\d+")


def numbers(text: str) -> list[str]:
    return NUMBER.findall(text.replace("*", ""))


# (document table heading, column, committed study, committed table, committed column, preset, labels)
CHECKS = [
    (
        "Table 2 — main results (MSE, nDCG@3, nDCG@5)",
        "ours MSE",
        "movielens",
        "main-paper",
        "MSE",
        "paper",
        METHODS,
    ),
    (
        "Table 2 — main results (MSE, nDCG@3, nDCG@5)",
        "ours MSE",
        "movielens",
        "main-paper",
        "MSE",
        "paper",
        FLOORS,
    ),
    (
        "Table 2 — main results (MSE, nDCG@3, nDCG@5)",
        "ours tuned MSE",
        "movielens",
        "main-tuned",
        "MSE",
        "tuned",
        METHODS,
    ),
    *(
        (
            "Table 2 — main results (MSE, nDCG@3, nDCG@5)",
            f"ours {label}",
            "movielens",
            "main-paper",
            label,
            "paper",
            labels,
        )
        for label in ("nDCG@3", "nDCG_lin@3", "nDCG@5", "nDCG_lin@5")
        for labels in (METHODS, FLOORS)
    ),
    ("ML-1M: tuned", "paper preset: MSE (valid)", "movielens", "main-paper", "MSE", "paper", METHODS),
    ("ML-1M: tuned", "tuned: MSE", "movielens", "main-tuned", "MSE", "tuned", METHODS),
    ("ML-1M: tuned", "tuned: MSE", "movielens", "main-tuned", "MSE", "tuned", {"*floor* bias": "bias"}),
    (
        "ML-100K: paper preset and tuned, side by side",
        "paper preset: MSE",
        "ml-100k",
        "main-paper",
        "MSE",
        "paper",
        METHODS,
    ),
    (
        "ML-100K: paper preset and tuned, side by side",
        "paper preset: MSE",
        "ml-100k",
        "main-paper",
        "MSE",
        "paper",
        FLOORS,
    ),
    (
        "ML-100K: paper preset and tuned, side by side",
        "tuned: MSE",
        "ml-100k",
        "main-tuned",
        "MSE",
        "tuned",
        METHODS,
    ),
    (
        "ML-100K: paper preset and tuned, side by side",
        "tuned: MSE",
        "ml-100k",
        "main-tuned",
        "MSE",
        "tuned",
        {"*floor* bias": "bias"},
    ),
    (
        "Synthetic default: paper preset",
        "MSE",
        "synthetic",
        "main-paper",
        "MSE",
        "paper",
        {k: v for k, v in METHODS.items() if "(" not in k and k != "AT-PAML"},
    ),
    ("Synthetic default: tuned", "MSE", "synthetic", "main-tuned", "MSE", "tuned", METHODS),
]


@pytest.fixture(scope="module")
def doc_tables():
    return markdown_tables(DOC.read_text(encoding="utf-8"))


@pytest.mark.parametrize("check", CHECKS, ids=[f"{c[0][:24]}/{c[1]}/{c[2]}" for c in CHECKS])
def test_each_ours_number_of_reproduction_md_is_the_committed_one(doc_tables, check):
    check_column(doc_tables, check)


def check_column(doc_tables, check) -> None:
    heading, column, study, name, committed_column, preset, labels = check
    rows = {row[next(iter(row))]: row for row in doc_tables[heading]}
    table = committed(study, name)
    checked = 0
    for label, method in labels.items():
        if label not in rows:
            continue
        ours = numbers(rows[label][column])
        want = numbers(table.loc[row_name(method, preset), committed_column])
        assert ours, (label, column, rows[label][column])
        n = min(len(ours), len(want))  # the mean, and the interval where both show it
        assert ours[:n] == want[:n], f"{heading} / {label} / {column}: {ours} vs committed {want}"
        checked += 1
    assert checked >= min(len(labels), 3), (heading, column, sorted(rows))


def test_the_ablation_table_is_the_committed_one(doc_tables):
    rows = {row["variant"]: row for row in doc_tables["Table 3 — ablation"]}
    table = committed("movielens", "ablation-paper")
    assert set(ABLATION) == set(rows)
    for label, variant in ABLATION.items():
        for column, theirs in (("ours MSE", "MSE"), ("ours nDCG@3", "nDCG@3")):
            assert numbers(rows[label][column]) == numbers(table.loc[variant, theirs])[:1], (label, column)


def test_the_minor_major_table_is_the_committed_one(doc_tables):
    heading = next(h for h in doc_tables if h.startswith("Tables 4/5"))
    table = committed("movielens", "minor-major-paper")
    for row in doc_tables[heading]:
        variant = row_name(MINOR_MAJOR[row["method"]], "paper")
        major, minor = (numbers(table.loc[variant, c])[0] for c in ("MSE major", "MSE minor"))
        assert numbers(row["ours MAU / MU"]) == [major, minor], row["method"]
        p, holm = table.loc[variant, "p-value"], table.loc[variant, "p Holm"]
        assert row["ours p (Holm)"] == f"{p} ({holm})", row["method"]


def test_a_changed_number_in_the_document_fails_the_check():
    text = DOC.read_text(encoding="utf-8")
    assert "| 1.143 [1.100, 1.187] |" in text
    edited = markdown_tables(text.replace("| 1.143 [1.100, 1.187] |", "| 1.142 [1.100, 1.187] |"))
    with pytest.raises(AssertionError, match="MeLU / ours MSE"):
        check_column(edited, CHECKS[0])
