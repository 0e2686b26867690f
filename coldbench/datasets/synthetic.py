"""The embedded default: a seeded generator with planted, imbalanced user groups.

Users belong to latent groups whose sizes fall off as 1/(g+1)^imbalance, so a few groups hold
most users (the major mass) and the rest form a long tail. Each group has prototype values for
the user features (users keep each with probability ``feature_purity``), so frequent feature
values mark the big groups, which is what the major/minor rule measures. Each group has its own
preference over item genres and kinds; a user's preference is the group's plus a little personal
noise. A single global model therefore fits the big groups and misses the tail, while adapting
on a user's support set can recover the tail group's taste: minor users are genuinely harder.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from coldbench.datasets.base import Feature, RawDataset
from coldbench.datasets.source import SourceRequest, register_source
from coldbench.optspec import Spec, parse_options

USER_FEATURES = ("region", "age_band", "occupation", "device")
VALUES_PER_FEATURE = 10
N_GENRES = 14
N_KINDS = 6


def _group_sizes(n_users: int, n_groups: int, imbalance: float, rng: np.random.Generator) -> np.ndarray:
    weights = 1.0 / np.arange(1, n_groups + 1) ** imbalance
    return rng.choice(n_groups, size=n_users, p=weights / weights.sum())


def _users(groups: np.ndarray, purity: float, rng: np.random.Generator) -> pd.DataFrame:
    frame = {"user_id": [str(i + 1) for i in range(len(groups))]}
    n_groups = int(groups.max()) + 1
    for feature in USER_FEATURES:
        prototypes = rng.permutation(max(n_groups, VALUES_PER_FEATURE))[:n_groups] % VALUES_PER_FEATURE
        prototype = prototypes[groups]
        random_value = rng.integers(0, VALUES_PER_FEATURE, size=len(groups))
        value = np.where(rng.random(len(groups)) < purity, prototype, random_value)
        frame[feature] = [f"{feature}-{v}" for v in value]
    return pd.DataFrame(frame)


def _items(n_items: int, rng: np.random.Generator) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    n_genres = rng.integers(1, 4, size=n_items)
    genre_sets = [np.sort(rng.choice(N_GENRES, size=k, replace=False)) for k in n_genres]
    genre_matrix = np.zeros((n_items, N_GENRES))
    for row, genres in enumerate(genre_sets):
        genre_matrix[row, genres] = 1.0 / len(genres)
    kinds = rng.integers(0, N_KINDS, size=n_items)
    items = pd.DataFrame(
        {
            "item_id": [str(j + 1) for j in range(n_items)],
            "kind": [f"kind-{k}" for k in kinds],
            "genre": [[f"genre-{g}" for g in genres] for genres in genre_sets],
        }
    )
    return items, genre_matrix, kinds


def _interactions(n_users: int, n_items: int, mean_extra: float, rng: np.random.Generator):
    """Users' item lists: a long-tailed count per user, items drawn by Zipf-like popularity."""
    counts = np.minimum(5 + rng.geometric(1.0 / mean_extra, size=n_users), n_items)
    popularity = 1.0 / np.arange(1, n_items + 1) ** 0.8
    popularity = rng.permutation(popularity / popularity.sum())
    users, items = [], []
    for user, count in enumerate(counts):
        chosen = rng.choice(n_items, size=count, replace=False, p=popularity)
        users.append(np.full(count, user))
        items.append(chosen)
    return np.concatenate(users), np.concatenate(items)


OPTIONS = {
    "users": Spec(int, 2000, 1, 1_000_000, help="number of users"),
    "items": Spec(int, 300, 1, 100_000, help="number of items"),
    "groups": Spec(int, 10, 1, 10_000, help="number of latent user groups"),
    "imbalance": Spec(float, 1.0, 0, 10, help="exponent of the group-size fall-off"),
    "purity": Spec(float, 0.85, 0, 1, help="probability that a user keeps the group's prototype value"),
    "noise": Spec(float, 0.4, 0, 10, help="standard deviation of the rating noise"),
    "mean_interactions": Spec(float, 30.0, 1, 10_000, help="mean extra interactions per user"),
    "data_seed": Spec(int, 0, 0, 2**32 - 1, help="seed of the generator"),
}


@register_source(
    "synthetic",
    "Embedded seeded generator with planted imbalanced user groups (no download)",
    options=OPTIONS,
)
def read_synthetic(request: SourceRequest) -> RawDataset:
    """Generate the synthetic dataset; its size and imbalance are options."""
    values = parse_options(OPTIONS, request.options, "synthetic")
    n_users, n_items, n_groups = values["users"], values["items"], values["groups"]
    imbalance, purity, noise = values["imbalance"], values["purity"], values["noise"]
    mean_extra = values["mean_interactions"]
    rng = np.random.default_rng(values["data_seed"])

    groups = _group_sizes(n_users, n_groups, imbalance, rng)
    users = _users(groups, purity, rng)
    items, genre_matrix, kinds = _items(n_items, rng)

    genre_taste = rng.normal(0.0, 2.0, size=(n_groups, N_GENRES))
    kind_taste = rng.normal(0.0, 0.8, size=(n_groups, N_KINDS))
    personal = rng.normal(0.0, 0.5, size=(n_users, N_GENRES))
    item_bias = rng.normal(0.0, 0.4, size=n_items)

    user_rows, item_rows = _interactions(n_users, n_items, mean_extra, rng)
    taste = genre_taste[groups[user_rows]] + personal[user_rows]
    score = (
        3.2
        + np.einsum("ij,ij->i", taste, genre_matrix[item_rows])
        + kind_taste[groups[user_rows], kinds[item_rows]]
        + item_bias[item_rows]
        + rng.normal(0.0, noise, size=len(user_rows))
    )
    interactions = pd.DataFrame(
        {
            "user_id": users["user_id"].to_numpy()[user_rows],
            "item_id": items["item_id"].to_numpy()[item_rows],
            "rating": np.clip(np.rint(score), 1, 5).astype(float),
        }
    )
    return RawDataset(
        name="synthetic",
        interactions=interactions,
        users=users,
        items=items,
        user_features=[Feature(name) for name in USER_FEATURES],
        item_features=[Feature("kind"), Feature("genre", multi=True)],
        rating_scale=(1.0, 5.0),
    )
