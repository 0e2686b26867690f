"""k-shot evaluation of a finished run: its test users scored with their support cut to k ratings.

For each test user the support rows get a seeded random order (``shot_ranks``); the k-shot
support is the first k of them, so the k-subset lies inside the 2k-subset, and every method sees
the same subsets (the order depends on the prepared data and ``seed`` only, not on the run). The
query is never changed. k = 0 is the prediction without adaptation (an empty support). At each k
the users with at least k support ratings are scored; ``per_user`` rows say how many each has, so
a report can also keep the users with at least max(k) (the same users at every k).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from coldbench.atomic_io import atomic_path
from coldbench.data.features import SplitData, UserRows
from coldbench.data.protocol import HEADLINE_STATE
from coldbench.training.evaluate import evaluate_split
from coldbench.training.loaded import LoadedRun, load_run
from coldbench.training.metrics import aggregate, metric_names
from coldbench.training.run_files import read_finished, record_files, write_metrics
from coldbench.training.run_folder import run_lock

SHOTS = (0, 1, 2, 4, 8, 16, 32)  # the default support sizes
SHOT_STREAM = 5  # the random stream of the support order (the protocol's use 0–4)


def shot_ranks(split: SplitData, seed: int = 0) -> np.ndarray:
    """Per support row of ``split``, its rank in the user's seeded random order (0 = first kept)."""
    rows = split.support
    sizes = rows.sizes()
    keys = np.random.default_rng([seed, SHOT_STREAM]).random(len(rows.items))
    users = np.repeat(np.arange(len(sizes)), sizes)
    order = np.lexsort((keys, users))
    ranks = np.empty(len(order), dtype=np.int64)
    ranks[order] = np.arange(len(order)) - np.repeat(rows.offsets[:-1], sizes)
    return ranks


def cut_support(split: SplitData, ranks: np.ndarray, k: int | None) -> SplitData:
    """The users with at least ``k`` support rows, each with only their first ``k`` (by ``ranks``);
    ``k=None``: every user with their whole support (the run's own test evaluation)."""
    if k is None:
        return split
    sizes = split.support.sizes()
    keep_users = np.flatnonzero(sizes >= k)
    user_of_row = np.repeat(np.arange(len(sizes)), sizes)
    keep_rows = (ranks < k) & np.isin(user_of_row, keep_users)
    support = _rows_of(split.support, keep_rows, keep_users)
    query_rows = np.isin(np.repeat(np.arange(len(sizes)), split.query.sizes()), keep_users)
    query = _rows_of(split.query, query_rows, keep_users)
    return dataclasses.replace(
        split,
        users=split.users[keep_users],
        user_ids=split.user_ids[keep_users],
        major=split.major[keep_users],
        support=support,
        query=query,
    )


def _rows_of(rows: UserRows, keep: np.ndarray, users: np.ndarray) -> UserRows:
    """The kept rows of the kept users, still grouped by user in the users' order."""
    owner = np.repeat(np.arange(len(rows.offsets) - 1), rows.sizes())
    counts = np.bincount(owner[keep], minlength=len(rows.offsets) - 1)[users]
    return UserRows(items=rows.items[keep], targets=rows.targets[keep], offsets=np.r_[0, np.cumsum(counts)])


def evaluate_shots(
    run: LoadedRun, shots: tuple[int | None, ...] = SHOTS, seed: int = 0, split: str = "test"
) -> pd.DataFrame:
    """Per user and k: the run's metrics with the support cut to k (the user's full support size in
    ``n_support_full``; k ``None``, written -1: the whole support). Scores users of ``split``."""
    part = run.data.splits[split]
    ranks = shot_ranks(part, seed)
    full = pd.Series(part.support.sizes(), index=part.user_ids)
    frames = []
    for k in sorted(set(shots), key=lambda k: np.inf if k is None else k):
        name = f"shots-{'all' if k is None else k}"
        data = dataclasses.replace(run.data, splits={**run.data.splits, name: cut_support(part, ranks, k)})
        if len(data.splits[name].users) == 0:
            continue
        with torch.no_grad():
            _, per_user = evaluate_split(
                run.model,
                run.method,
                data,
                name,
                run.spec.train.eval_batch_size,
                run.spec.device,
                seed=int(run.config["seed"]),
            )
        shown = -1 if k is None else k
        frames.append(per_user.assign(k=shown, n_support_full=per_user["user_id"].map(full).to_numpy()))
    return pd.concat(frames, ignore_index=True)


SHOTS_FILE = "shots.parquet"


def headline_split(run: LoadedRun) -> str:
    """The set a run's ``metrics.json`` ``test`` scores: the user-cold state's, else the test users."""
    return HEADLINE_STATE if HEADLINE_STATE in run.data.splits else "test"


def add_shots(
    run_path: Path,
    shots: tuple[int, ...] = SHOTS,
    seed: int = 0,
    data_dir: Path | None = None,
    force: bool = False,
) -> str:
    """Score a finished run at each k and keep the result in its folder; returns what was done.

    Writes ``shots.parquet`` (one row per user and k, ``k = -1`` the whole support) and adds to
    ``metrics.json`` its checksum (under ``files``) and ``shots``: the seed, the k and each k's
    aggregate metrics. A run that already holds the same k and seed is left alone (``"kept"``)
    unless ``force``. The run's lock is held throughout, so no training process can interleave.
    """
    run_path = Path(run_path)
    wanted = sorted(set(int(k) for k in shots))
    with run_lock(run_path):
        metrics = read_finished(run_path)
        recorded = metrics.get("shots") or {}
        if not force and recorded.get("k") == wanted and recorded.get("seed") == seed:
            return "kept"
        run = load_run(run_path, data_dir)
        scored = evaluate_shots(run, (*wanted, None), seed=seed, split=headline_split(run))
        names = metric_names(run.data.task.name)
        by_k = {
            str(k): {
                "users": int(len(part)),
                **aggregate(part.set_index("user_id")[names], part.set_index("user_id")["major"]),
            }
            for k, part in scored.groupby("k", sort=True)
        }
        with atomic_path(run_path / SHOTS_FILE) as tmp:
            scored.to_parquet(tmp, index=False)
        files = {**(metrics.get("files") or {}), **record_files(run_path, (SHOTS_FILE,))}
        write_metrics(
            run_path, {**metrics, "files": files, "shots": {"seed": seed, "k": wanted, "by_k": by_k}}
        )
    return "scored"
