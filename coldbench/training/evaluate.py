"""Evaluate a method on one split: adapt on support, predict query, per-user metrics."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import torch

from coldbench.data.features import EncodedDataset
from coldbench.data.protocol import HEADLINE_STATE, STATES
from coldbench.engine.batched import make_batch, per_user_rate
from coldbench.engine.model import RecModel
from coldbench.methods.base import Method
from coldbench.training.metrics import per_user_metrics


def evaluate_split(
    model: RecModel,
    method: Method,
    data: EncodedDataset,
    split: str,
    batch_size: int,
    device: torch.device,
    seed: int = 0,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Return ``(predictions, per_user)`` for every user of ``split``.

    Users are processed in groups of similar support size (sorted), so padding stays small.
    ``predictions`` has one row per query interaction; ``per_user`` one row per user with every
    metric, the major flag, support/query sizes and the inner learning rate the user got.
    ``seed`` orders tied predictions for nDCG (a seeded random order, see ``per_user_metrics``).
    """
    part = data.splits[split]
    support_sizes = part.support.sizes()
    order = np.argsort(support_sizes, kind="stable")
    n_chunks = max(1, math.ceil(len(order) / batch_size))
    model.eval()
    method.eval()
    method.start_evaluation(split)
    frames, rates = [], np.zeros(len(order))
    for chunk in np.array_split(order, n_chunks):
        if len(chunk) == 0:
            continue
        batch = make_batch(part, chunk, device=device)
        output = method.evaluate_batch(model, batch)
        mask = batch.query_mask.bool().cpu().numpy()
        predictions = model.task.predict(output.query_predictions).detach().cpu().numpy()
        rows, cols = np.nonzero(mask)
        frames.append(
            pd.DataFrame(
                {
                    "position": chunk[rows],
                    "order": cols,
                    "item": batch.query_items.cpu().numpy()[rows, cols],
                    "target": batch.query_targets.cpu().numpy()[rows, cols],
                    "prediction": predictions[rows, cols],
                }
            )
        )
        rates[chunk] = per_user_rate(output.lr, len(chunk)).cpu().numpy()
    model.train()
    method.train()
    frame = pd.concat(frames).sort_values(["position", "order"], kind="stable")
    target = "rating" if model.task.name == "rating" else "click"
    predictions = pd.DataFrame(
        {
            "user_id": part.user_ids[frame["position"].to_numpy()],
            "item_id": data.item_ids[frame["item"].to_numpy()],
            target: frame["target"].to_numpy(),
            "prediction": frame["prediction"].to_numpy(np.float64),
        }
    )
    renamed = predictions.rename(columns={"user_id": "user", target: "target"})
    scores = per_user_metrics(renamed, task=model.task.name, seed=seed)
    per_user = pd.DataFrame(
        {
            "user_id": part.user_ids,
            "major": part.major,
            "n_support": support_sizes,
            "n_query": part.query.sizes(),
            "inner_lr": rates,
        }
    ).set_index("user_id")
    per_user = per_user.join(scores.drop(columns=["n_query"]), how="left")
    return predictions, per_user.reset_index()


def evaluate_test(
    model: RecModel,
    method: Method,
    data: EncodedDataset,
    batch_size: int,
    device: torch.device,
    seed: int = 0,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``evaluate_split`` over every evaluation set, each row labelled with its cold-start ``state``.

    Under the four-state protocol: the four sets of ``STATES`` (warm and item-cold are training
    users, user-cold and user-item-cold test users); otherwise the test users, all ``user-cold``.
    """
    sets = [state for state in STATES if state in data.splits] or ["test"]
    predictions, per_user = [], []
    for name in sets:
        state = HEADLINE_STATE if name == "test" else name
        scored, users = evaluate_split(model, method, data, name, batch_size, device, seed=seed)
        predictions.append(scored.assign(state=state))
        per_user.append(users.assign(state=state))
    return pd.concat(predictions, ignore_index=True), pd.concat(per_user, ignore_index=True)
