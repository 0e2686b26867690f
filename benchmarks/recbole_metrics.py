"""RecBole-MetaRec's ranking metrics recomputed from coldbench runs, to set our numbers beside theirs.

    python benchmarks/recbole_metrics.py --results-dir results [--k 5]

RecBole-MetaRec's collector counts the k highest true ratings of a user's query items as the
positives (binary gains) and ranks the query items by prediction: Precision@k, nDCG@k with binary
gains, and MRR@k. Ties among true ratings go to the first rows (a stable sort), as ``torch.topk``
on CPU mostly does. Prints a Markdown table: mean ± std over seeds of each (dataset, method,
epochs) from every ``predictions.parquet`` under ``--results-dir``.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pandas as pd


def user_scores(frame: pd.DataFrame, k: int) -> tuple[float, float, float]:
    """Precision@k, binary nDCG@k and MRR@k of one user's query rows."""
    discount = 1 / np.log2(np.arange(2, k + 2))
    truth = frame["rating"].to_numpy()
    predicted = frame["prediction"].to_numpy()
    positives = set(np.argsort(-truth, kind="stable")[:k])
    ranked = np.argsort(-predicted, kind="stable")[:k]
    hits = np.array([row in positives for row in ranked], dtype=float)
    ndcg = float((hits * discount[: len(hits)]).sum() / discount[: min(len(positives), k)].sum())
    first = np.flatnonzero(hits)
    mrr = 1.0 / (first[0] + 1) if len(first) else 0.0
    return hits.sum() / k, ndcg, mrr


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results-dir", type=Path, default=Path("results"))
    parser.add_argument("--k", type=int, default=5)
    args = parser.parse_args()
    groups: dict[tuple, list[np.ndarray]] = {}
    for path in sorted(args.results_dir.rglob("predictions.parquet")):
        config = json.loads((path.parent / "config.json").read_text())
        frame = pd.read_parquet(path)
        scores = np.array([user_scores(rows, args.k) for _, rows in frame.groupby("user_id", sort=False)])
        key = (config["dataset"], config["method"], config["train"].get("epochs"))
        groups.setdefault(key, []).append(scores.mean(axis=0))
    k = args.k
    print(f"| dataset | method | epochs | seeds | P@{k} | nDCG@{k} (binary) | MRR@{k} |")
    print("|---|---|---|---|---|---|---|")
    for (dataset, method, epochs), values in sorted(groups.items()):
        table = np.array(values)
        spread = [table[:, j].std(ddof=1) if len(table) > 1 else 0.0 for j in range(3)]
        cells = " | ".join(f"{table[:, j].mean():.3f} ± {spread[j]:.3f}" for j in range(3))
        print(f"| {dataset} | {method} | {epochs} | {len(table)} | {cells} |")


if __name__ == "__main__":
    main()
