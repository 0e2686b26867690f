"""Top-N ranking over the whole catalogue: each test user's adapted model scores every item.

Beside the within-query metrics (MSE, nDCG over a user's own 10–20 query items), this asks the
question a recommender answers: ranked against every item of the catalogue but the user's own
support items, do the user's liked query items come out on top?

- **candidates**: every item except the user's support items (never ranked);
- **relevant**: the user's query items rated at least ``threshold`` (default 4 on a 1–5 scale, 7 on
  1–10; clicks for click data);
- **Recall@K** = |top K ∩ relevant| / |relevant|; **NDCG@K** with binary gain:
  Σ_{i≤K} rel_i / log2(i + 1), divided by its ideal, Σ_{i≤min(K, |relevant|)} 1 / log2(i + 1).
  A user without relevant items has neither (NaN). Tied scores are ordered by a seeded random key.

Scored in chunks of users: the method adapts each user on their support as at test, then
predicts every candidate (``evaluate_batch`` with the catalogue as the query).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from coldbench.atomic_io import atomic_path
from coldbench.data.features import SplitData, UserRows
from coldbench.engine.batched import make_batch
from coldbench.training.loaded import LoadedRun, load_run
from coldbench.training.metrics import aggregate
from coldbench.training.run_files import read_finished, record_files, write_metrics
from coldbench.training.run_folder import run_lock
from coldbench.training.shots import add_shots, headline_split

CATALOGUE_FILE = "catalogue.parquet"
CUTOFFS = (10, 20)
CATALOGUE_METRICS = tuple(f"{name}@{k}" for name in ("recall", "ndcg_cat") for k in CUTOFFS)
TIE_STREAM = 6  # the random stream of the tie-break keys
DEFAULT_THRESHOLDS = {5.0: 4.0, 10.0: 7.0, 1.0: 1.0}  # top of the rating scale → "liked"


def rank_metrics(
    scores: np.ndarray, candidates: np.ndarray, relevant: np.ndarray, keys: np.ndarray, cutoffs: Sequence[int]
) -> dict[str, float]:
    """Recall@K and binary NDCG@K of one user: ``scores``, ``candidates``, ``relevant`` and the
    tie-break ``keys`` are per item; only candidates are ranked."""
    items = np.flatnonzero(candidates)
    order = items[np.lexsort((keys[items], -scores[items]))]
    hits = relevant[order].astype(float)
    n_relevant = int(relevant[candidates].sum())
    out = {}
    for k in cutoffs:
        if n_relevant == 0:
            out[f"recall@{k}"] = out[f"ndcg_cat@{k}"] = float("nan")
            continue
        top = hits[:k]
        discounts = 1.0 / np.log2(np.arange(2, len(top) + 2))
        ideal = (1.0 / np.log2(np.arange(2, min(k, n_relevant) + 2))).sum()
        out[f"recall@{k}"] = float(top.sum() / n_relevant)
        out[f"ndcg_cat@{k}"] = float((top * discounts).sum() / ideal)
    return out


def liked_threshold(run: LoadedRun, threshold: float | None) -> float:
    """The rating from which a query item is relevant: given, else by the scale; 1 for clicks."""
    if run.data.task.name == "ctr":
        return 1.0
    if threshold is not None:
        return float(threshold)
    top = float(
        max(run.data.splits["train"].support.targets.max(), run.data.splits["train"].query.targets.max())
    )
    return DEFAULT_THRESHOLDS.get(top, top)


def _catalogue_split(split: SplitData, positions: np.ndarray, n_items: int) -> SplitData:
    """The users at ``positions`` with their support, and every item as their query (targets 0)."""
    support_sizes = split.support.sizes()[positions]
    starts = split.support.offsets[positions]
    support_rows = (
        np.concatenate([np.arange(s, s + n) for s, n in zip(starts, support_sizes)]) if len(positions) else []
    )
    support = UserRows(
        split.support.items[support_rows],
        split.support.targets[support_rows],
        np.r_[0, np.cumsum(support_sizes)],
    )
    query = UserRows(
        np.tile(np.arange(n_items), len(positions)),
        np.zeros(n_items * len(positions), dtype=np.float32),
        np.arange(len(positions) + 1) * n_items,
    )
    return SplitData(
        split.users[positions], split.user_ids[positions], split.major[positions], support, query
    )


def evaluate_catalogue(
    run: LoadedRun,
    threshold: float | None = None,
    cutoffs: Sequence[int] = CUTOFFS,
    seed: int = 0,
    chunk: int = 16,
) -> pd.DataFrame:
    """Per test user (the run's headline set): Recall@K and NDCG@K over the whole catalogue."""
    split = run.data.splits[headline_split(run)]
    liked = liked_threshold(run, threshold)
    n_items = len(run.data.item_ids)
    model, method, device = run.model, run.method, run.spec.device
    model.eval()
    method.eval()
    rows = []
    for start in range(0, len(split.users), chunk):
        positions = np.arange(start, min(start + chunk, len(split.users)))
        part = _catalogue_split(split, positions, n_items)
        batch = make_batch(part, np.arange(len(positions)), device=device)
        with torch.no_grad():
            output = method.evaluate_batch(model, batch)
            scores = model.task.predict(output.query_predictions).double().cpu().numpy()
        for j, position in enumerate(positions):
            candidates = np.ones(n_items, dtype=bool)
            candidates[
                split.support.items[split.support.offsets[position] : split.support.offsets[position + 1]]
            ] = False
            query = slice(split.query.offsets[position], split.query.offsets[position + 1])
            relevant = np.zeros(n_items, dtype=bool)
            relevant[split.query.items[query][split.query.targets[query] >= liked]] = True
            keys = np.random.default_rng([seed, TIE_STREAM, int(position)]).random(n_items)
            rows.append(
                {
                    "user_id": split.user_ids[position],
                    "major": bool(split.major[position]),
                    "n_relevant": int(relevant.sum()),
                    **rank_metrics(scores[j], candidates, relevant, keys, cutoffs),
                }
            )
    return pd.DataFrame(rows)


def add_catalogue(
    run_path: Path,
    threshold: float | None = None,
    data_dir: Path | None = None,
    force: bool = False,
    seed: int = 0,
) -> str:
    """Score a finished run over the catalogue and keep it in its folder (``catalogue.parquet`` and
    ``metrics.json`` ``catalogue``: the threshold, the seed and the aggregates, checksummed)."""
    run_path = Path(run_path)
    with run_lock(run_path):
        metrics = read_finished(run_path)
        recorded = metrics.get("catalogue") or {}
        if not force and recorded and recorded.get("seed") == seed and recorded.get("asked") == threshold:
            return "kept"
        run = load_run(run_path, data_dir)
        scored = evaluate_catalogue(run, threshold, seed=seed)
        indexed = scored.set_index("user_id")
        summary = aggregate(indexed[list(CATALOGUE_METRICS)], indexed["major"])
        with atomic_path(run_path / CATALOGUE_FILE) as tmp:
            scored.to_parquet(tmp, index=False)
        files = {**(metrics.get("files") or {}), **record_files(run_path, (CATALOGUE_FILE,))}
        catalogue = {
            "threshold": liked_threshold(run, threshold),
            "asked": threshold,
            "seed": seed,
            "test": summary,
        }
        write_metrics(run_path, {**metrics, "files": files, "catalogue": catalogue})
    return "scored"


def rescore(
    run_path: Path,
    shots: tuple[int, ...],
    *,
    catalogue: bool = True,
    threshold: float | None = None,
    seed: int = 0,
    data_dir: Path | None = None,
    force: bool = False,
) -> str:
    """What ``coldbench evaluate`` does to one finished run: the k-shot scores, then the catalogue
    ranking (unless ``catalogue`` is off); returns what was done (``shots scored, catalogue kept``)."""
    run_path = Path(run_path)
    done = f"shots {add_shots(run_path, shots, seed=seed, data_dir=data_dir, force=force)}"
    if catalogue:
        ranked = add_catalogue(run_path, threshold, data_dir=data_dir, force=force, seed=seed)
        done += f", catalogue {ranked}"
    return done
