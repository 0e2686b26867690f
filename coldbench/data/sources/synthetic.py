"""The embedded default: a seeded generator where a user's support set says what features cannot.

A rating is the sum of parts that different predictors can know (see docs/protocol.md):

    r_ui = clip(rint(c + b_i + o_u + (T_g(u) + p_u)·x_i + K_g(u),k(i) + ε), 1, 5)

- ``b_i`` item bias, ``x_i`` the item's genre weights, ``k(i)`` its kind: item features know them.
- ``T_g``, ``K_g`` the taste of the user's latent group ``g(u)``. Group sizes fall off as
  1/(g+1)^imbalance; each group has prototype feature values that a user keeps with probability
  ``purity``, so user features predict the group, hence its taste, only partly. Frequent values
  mark the big groups: the tail groups are the minor users, with tastes of their own.
- ``o_u`` (``user_bias``) and ``p_u`` (``personal``): a per-user offset and genre taste drawn
  independently of everything else. No feature predicts them; only the user's own ratings, the
  support set, reveal them. This is the part per-user adaptation can win and a global model cannot.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from coldbench.data.optspec import Spec, parse_options
from coldbench.data.sources.base import Feature, RawDataset
from coldbench.data.sources.source import SourceRequest, register_source

USER_FEATURES = ("region", "age_band", "occupation", "device")
VALUES_PER_FEATURE = 10
N_GENRES = 14
N_KINDS = 6
CENTER = 3.2  # c: the rating every part is added to
ITEM_BIAS = 0.4  # standard deviation of b_i
KIND_TASTE = 0.6  # standard deviation of K_g,k


def _groups(n_users: int, n_groups: int, imbalance: float, rng: np.random.Generator) -> np.ndarray:
    """Each user's latent group; group g has weight 1/(g+1)^imbalance."""
    weights = 1.0 / np.arange(1, n_groups + 1) ** imbalance
    return rng.choice(n_groups, size=n_users, p=weights / weights.sum())


def _users(groups: np.ndarray, n_groups: int, purity: float, rng: np.random.Generator) -> pd.DataFrame:
    """User features: the group's prototype value with probability ``purity``, else a uniform one."""
    frame = {"user_id": [str(i + 1) for i in range(len(groups))]}
    for feature in USER_FEATURES:
        prototypes = rng.permutation(max(n_groups, VALUES_PER_FEATURE))[:n_groups] % VALUES_PER_FEATURE
        random_value = rng.integers(0, VALUES_PER_FEATURE, size=len(groups))
        value = np.where(rng.random(len(groups)) < purity, prototypes[groups], random_value)
        frame[feature] = [f"{feature}-{v}" for v in value]
    return pd.DataFrame(frame)


def _items(n_items: int, rng: np.random.Generator) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """Items with 1–3 genres (weights 1/count each) and one kind."""
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


def _interactions(
    n_users: int, n_items: int, mean_extra: float, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Users' item lists: 5 + a geometric count per user, items drawn by Zipf-like popularity."""
    counts = np.minimum(5 + rng.geometric(1.0 / mean_extra, size=n_users), n_items)
    popularity = 1.0 / np.arange(1, n_items + 1) ** 0.8
    popularity = rng.permutation(popularity / popularity.sum())
    users, items = [], []
    for user, count in enumerate(counts):
        users.append(np.full(count, user))
        items.append(rng.choice(n_items, size=count, replace=False, p=popularity))
    return np.concatenate(users), np.concatenate(items)


OPTIONS = {
    "users": Spec(int, 2000, 1, 1_000_000, help="number of users"),
    "items": Spec(int, 300, 1, 100_000, help="number of items"),
    "groups": Spec(int, 10, 1, 10_000, help="number of latent user groups"),
    "imbalance": Spec(float, 1.0, 0, 10, help="exponent of the group-size fall-off"),
    "purity": Spec(float, 0.85, 0, 1, help="probability that a user keeps the group's prototype value"),
    "taste": Spec(float, 1.2, 0, 10, help="standard deviation of a group's genre taste T_g"),
    "personal": Spec(float, 1.0, 0, 10, help="standard deviation of a user's own genre taste p_u"),
    "user_bias": Spec(float, 0.5, 0, 10, help="standard deviation of a user's own rating offset o_u"),
    "noise": Spec(float, 0.4, 0, 10, help="standard deviation of the rating noise"),
    "mean_interactions": Spec(float, 30.0, 1, 10_000, help="mean extra interactions per user"),
    "data_seed": Spec(int, 0, 0, 2**32 - 1, help="seed of the generator"),
}


@register_source(
    "synthetic",
    "Embedded seeded generator: imbalanced user groups, per-user tastes only the support set reveals",
    options=OPTIONS,
    version=2,
)
def read_synthetic(request: SourceRequest) -> RawDataset:
    """Generate the synthetic dataset; its size, imbalance and signal strengths are options."""
    values = parse_options(OPTIONS, request.options, "synthetic")
    n_users, n_items, n_groups = values["users"], values["items"], values["groups"]
    rng = np.random.default_rng(values["data_seed"])

    groups = _groups(n_users, n_groups, values["imbalance"], rng)
    users = _users(groups, n_groups, values["purity"], rng)
    items, genre_matrix, kinds = _items(n_items, rng)

    group_taste = rng.normal(0.0, values["taste"], size=(n_groups, N_GENRES))
    kind_taste = rng.normal(0.0, KIND_TASTE, size=(n_groups, N_KINDS))
    personal = rng.normal(0.0, values["personal"], size=(n_users, N_GENRES))
    offset = rng.normal(0.0, values["user_bias"], size=n_users)
    item_bias = rng.normal(0.0, ITEM_BIAS, size=n_items)

    u, i = _interactions(n_users, n_items, values["mean_interactions"], rng)
    taste = group_taste[groups[u]] + personal[u]
    score = (
        CENTER
        + item_bias[i]
        + offset[u]
        + np.einsum("ij,ij->i", taste, genre_matrix[i])
        + kind_taste[groups[u], kinds[i]]
        + rng.normal(0.0, values["noise"], size=len(u))
    )
    interactions = pd.DataFrame(
        {
            "user_id": users["user_id"].to_numpy()[u],
            "item_id": items["item_id"].to_numpy()[i],
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
