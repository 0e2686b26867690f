"""RecBole-MetaRec's ranking metrics recomputed from coldbench runs, to set our numbers beside theirs.

    python benchmarks/recbole_metrics.py --results-dir results [--dataset D] [--k 5] [--out FILE]

RecBole-MetaRec's collector counts the k highest true ratings of a user's query items as the
positives (binary gains) and ranks the query items by prediction: Precision@k, nDCG@k with binary
gains, and MRR@k. Ties among true ratings go to the first rows (a stable sort), as ``torch.topk``
on CPU mostly does. Prints a Markdown table: mean ± std over seeds of each (dataset, method,
epochs) from every ``predictions.parquet`` under ``--results-dir``. ``--out`` also writes each
user's three scores (``run``, ``user_id`` and float32 scores: no ratings, no item ids) as Parquet,
the file a committed study keeps as ``recbole_metrics.parquet`` so that its docs table can be
rendered from it.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pandas as pd

OUT_NAME = "recbole_metrics.parquet"  # what a committed study calls the --out file


def columns(k: int) -> tuple[str, str, str]:
    return f"p@{k}", f"ndcg_binary@{k}", f"mrr@{k}"


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


def per_user(results_dir: Path, k: int = 5, dataset: str | None = None) -> tuple[pd.DataFrame, dict]:
    """Every run's per-user scores under ``results_dir`` (one row per run and user) and each run's
    (dataset, method, epochs) key."""
    frames, keys = [], {}
    for path in sorted(results_dir.rglob("predictions.parquet")):
        config = json.loads((path.parent / "config.json").read_text())
        if dataset is not None and config["dataset"] != dataset:
            continue
        run = f"{config['method']}/{config['config_id']}/seed-{config['seed']}"
        predictions = pd.read_parquet(path)
        users = list(predictions.groupby("user_id", sort=True))
        scores = np.array([user_scores(rows, k) for _, rows in users], dtype=np.float32).reshape(-1, 3)
        frame = pd.DataFrame(scores, columns=list(columns(k)))
        frame.insert(0, "user_id", [str(user) for user, _ in users])
        frame.insert(0, "run", run)
        frames.append(frame)
        keys[run] = (config["dataset"], config["method"], config["train"].get("epochs"))
    if not frames:
        which = f" for {dataset}" if dataset else ""
        raise SystemExit(f"no predictions.parquet under {results_dir}{which}")
    table = pd.concat(frames, ignore_index=True)
    return table.astype({"run": "category", "user_id": "category"}), keys


def write_atomic(table: pd.DataFrame, out: Path) -> None:
    """Write the table whole or not at all, with the permissions of any file written here."""
    from coldbench.atomic_io import atomic_path

    with atomic_path(out) as temporary:
        table.to_parquet(temporary, index=False)


def summary(table: pd.DataFrame, keys: dict, k: int) -> str:
    """Mean ± std over seeds of each (dataset, method, epochs), as a Markdown table."""
    means = table.groupby("run", observed=True)[list(columns(k))].mean()
    key = pd.DataFrame([keys[run] for run in means.index], index=means.index, columns=["d", "m", "e"])
    lines = [
        f"| dataset | method | epochs | seeds | P@{k} | nDCG@{k} (binary) | MRR@{k} |",
        "|---|---|---|---|---|---|---|",
    ]
    for (dataset, method, epochs), values in means.groupby([key.d, key.m, key.e.astype(str)], sort=True):
        spread = values.std(ddof=1).fillna(0.0)  # one seed: no spread, written as 0
        cells = " | ".join(f"{values[c].mean():.3f} ± {spread[c]:.3f}" for c in columns(k))
        lines.append(f"| {dataset} | {method} | {epochs} | {len(values)} | {cells} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results-dir", type=Path, default=Path("results"))
    parser.add_argument("--dataset", help="Only this prepared dataset's runs.")
    parser.add_argument("--k", type=int, default=5)
    parser.add_argument("--out", type=Path, help=f"Write each user's scores here (a study keeps {OUT_NAME}).")
    args = parser.parse_args()
    table, keys = per_user(args.results_dir, args.k, args.dataset)
    if args.out:
        write_atomic(table, args.out)
    print(summary(table, keys, args.k))


if __name__ == "__main__":
    main()
