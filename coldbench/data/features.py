"""Turn a prepared dataset into integer tensors: feature codes and per-user support/query rows."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch

from coldbench.data.prepared import PreparedDataset
from coldbench.data.protocol import STATES
from coldbench.data.tasks import RATING, Task, get_task


@dataclass
class FeatureTable:
    """Codes of one categorical feature for every user or item: [n_rows, width], 0 = none."""

    name: str
    codes: torch.Tensor
    vocab_size: int  # number of real values; embeddings have vocab_size + 1 rows (0 is padding)
    multi: bool


@dataclass
class UserRows:
    """One split's interactions grouped by user, for one role (support or query), CSR-style."""

    items: np.ndarray  # item index per interaction, grouped by user
    targets: np.ndarray  # rating (or click) per interaction
    offsets: np.ndarray  # user u's rows are offsets[u]:offsets[u+1]

    def sizes(self) -> np.ndarray:
        return np.diff(self.offsets)


@dataclass
class SplitData:
    """Users of one split with their support and query rows."""

    users: np.ndarray  # user index (into EncodedDataset.user_features) per position
    user_ids: np.ndarray  # original ids, same order
    major: np.ndarray  # bool per position
    support: UserRows
    query: UserRows


@dataclass
class EncodedDataset:
    user_features: list[FeatureTable]
    item_features: list[FeatureTable]
    splits: dict[str, SplitData]
    item_ids: np.ndarray
    task: Task = RATING


def item_id_table(data: EncodedDataset) -> FeatureTable:
    """The item-ID feature of ``item_id=true``: each item a training user rated gets its own code
    (1..K, in item order); every other item, new items included, gets 0, the unknown ID, whose
    embedding is the zero vector (padding), so such an item is seen through its features alone."""
    train = data.splits["train"]
    seen = np.zeros(len(data.item_ids), dtype=bool)
    seen[np.r_[train.support.items, train.query.items]] = True
    codes = np.zeros(len(data.item_ids), dtype=np.int64)
    codes[seen] = np.arange(1, int(seen.sum()) + 1)
    return FeatureTable("item_id", torch.from_numpy(codes).unsqueeze(1), int(seen.sum()), multi=False)


def model_item_tables(data: EncodedDataset, item_id: bool) -> list[FeatureTable]:
    """The item feature tables a model embeds: the prepared features, plus the item ID when asked."""
    return [*data.item_features, item_id_table(data)] if item_id else list(data.item_features)


def _single_codes(values: pd.Series, vocab: list[str]) -> torch.Tensor:
    lookup = {value: index + 1 for index, value in enumerate(vocab)}
    codes = values.map(lambda v: lookup.get(str(v), 0) if v is not None and not pd.isna(v) else 0)
    return torch.tensor(codes.to_numpy(dtype=np.int64)).unsqueeze(1)


def _multi_codes(values: pd.Series, vocab: list[str]) -> torch.Tensor:
    lookup = {value: index + 1 for index, value in enumerate(vocab)}
    rows = [[lookup.get(str(v), 0) for v in cell] for cell in values]
    width = max((len(r) for r in rows), default=0) or 1
    codes = np.zeros((len(rows), width), dtype=np.int64)
    for index, row in enumerate(rows):
        codes[index, : len(row)] = row
    return torch.from_numpy(codes)


def _rows(frame: pd.DataFrame, n_users: int, target: str) -> UserRows:
    frame = frame.sort_values("user_pos", kind="stable")
    counts = np.bincount(frame["user_pos"].to_numpy(), minlength=n_users)
    return UserRows(
        items=frame["item_pos"].to_numpy(np.int64),
        targets=frame[target].to_numpy(np.float32),
        offsets=np.r_[0, np.cumsum(counts)],
    )


def encode(dataset: PreparedDataset) -> EncodedDataset:
    """Encode a prepared dataset with its manifest's vocabularies."""
    vocab = dataset.manifest["vocab"]
    task = get_task(dataset.manifest.get("task", "rating"))
    target = "rating" if task.name == "rating" else "click"
    users = dataset.users.reset_index(drop=True)
    items = dataset.items.reset_index(drop=True)
    user_tables = [
        FeatureTable(
            f["name"],
            _single_codes(users[f["name"]], vocab["user"][f["name"]]),
            len(vocab["user"][f["name"]]),
            multi=False,
        )
        for f in dataset.manifest["features"]["user"]
    ]
    item_tables = []
    for f in dataset.manifest["features"]["item"]:
        values = vocab["item"][f["name"]]
        coder = _multi_codes if f["multi"] else _single_codes
        item_tables.append(FeatureTable(f["name"], coder(items[f["name"]], values), len(values), f["multi"]))

    user_index = pd.Series(np.arange(len(users)), index=users["user_id"].astype(str))
    item_index = pd.Series(np.arange(len(items)), index=items["item_id"].astype(str))
    rows = dataset.interactions.assign(
        user_idx=dataset.interactions["user_id"].astype(str).map(user_index).to_numpy(),
        item_pos=dataset.interactions["item_id"].astype(str).map(item_index).to_numpy(),
    )
    splits = {}
    states = "state" in rows  # the four-state protocol (see coldbench.data.protocol)
    for split, members in users.groupby("split", sort=False):
        part = rows[rows["split"] == split]
        if states and split == "train":
            part = part[part["state"] == "train"]  # meta-training: never a held-out or new-item row
        splits[split] = _split(members, part, part["role"] == "support", part["role"] == "query", target)
    if states:
        for state in STATES:
            training = state in ("warm", "item-cold")  # else test users (validation users select)
            chosen = rows[(rows["state"] == state) & ((rows["split"] == "test") | training)]
            members = users[users.index.isin(chosen["user_idx"])]
            if training:  # existing users adapt on what meta-training saw of them
                support = rows["state"] == "train"
            else:
                support = (rows["state"] == "support") & (rows["split"] == "test")
            part = rows[rows["user_idx"].isin(members.index) & (support | (rows["state"] == state))]
            splits[state] = _split(members, part, part["state"] != state, part["state"] == state, target)
    return EncodedDataset(user_tables, item_tables, splits, items["item_id"].astype(str).to_numpy(), task)


def _split(members: pd.DataFrame, part: pd.DataFrame, support, query, target: str) -> SplitData:
    """The users ``members`` (sorted by id) with the rows of ``part`` that ``support``/``query`` pick."""
    members = members.sort_values("user_id", kind="stable")
    positions = pd.Series(np.arange(len(members)), index=members.index)
    part = part.assign(user_pos=part["user_idx"].map(positions).to_numpy())
    return SplitData(
        users=members.index.to_numpy(np.int64),
        user_ids=members["user_id"].astype(str).to_numpy(),
        major=members["major"].to_numpy(bool),
        support=_rows(part[np.asarray(support)], len(members), target),
        query=_rows(part[np.asarray(query)], len(members), target),
    )
