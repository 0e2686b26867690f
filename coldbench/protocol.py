"""The paper's cold-start protocol (§5.1, App. D.1), in the paper's order.

1. keep the ``cold_fraction`` of users with the fewest interactions (stable tie-break by id);
2. split those users train/validation/test with a seeded permutation;
3. drop users with a missing (blank or invalid) feature or too few interactions;
4. split each user's interactions support/query at random, each side non-empty;
5. label users major/minor by how many of their features take a frequent value.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from fractions import Fraction

import numpy as np
import pandas as pd

from coldbench.datasets.base import RawDataset
from coldbench.datasets.limits import is_int_id
from coldbench.errors import ColdbenchError
from coldbench.optspec import Spec

SPLITS = ("train", "valid", "test")
PROTOCOL_VERSION = 1


MAX_SEED = 2**63 - 1
# ProtocolConfig field -> (CLI option, allowed values); checked whenever a config is made
FIELD_SPECS: dict[str, tuple[str, Spec]] = {
    "seed": ("--seed", Spec(int, 0, 0, MAX_SEED)),
    "cold_fraction": ("--cold-fraction", Spec(float, 0.8, 0, 1, open_low=True)),
    "min_interactions": ("--min-interactions", Spec(int, 2, 2, 1_000_000)),
    "support_fraction": ("--support-fraction", Spec(float, 0.8, 0, 1, open_low=True, open_high=True)),
    "major_value_fraction": ("--major-fraction", Spec(float, 0.3, 0, 1, open_low=True)),
    "major_min_features": ("--major-min-features", Spec(int, 3, 1, 1_000)),
    "subset": ("--subset", Spec(int, None, 1, 10**9)),
    "click_threshold": ("--click-threshold", Spec(float, None, -1e6, 1e6)),
}


@dataclass(frozen=True)
class ProtocolConfig:
    """Every parameter of the protocol; recorded in the manifest."""

    seed: int = 0  # drives the user split, the support/query split and --subset
    cold_fraction: float = 0.8  # share of users, fewest interactions first, kept as cold-start users
    split: tuple[float, float, float] = (0.7, 0.1, 0.2)  # train : valid : test
    min_interactions: int = 2  # users with fewer are dropped (after the split, as in the paper)
    support_fraction: float = 0.8  # support : query = 80 : 20
    major_value_fraction: float = 0.3  # top ceil(30%) of a feature's values are its major values
    major_min_features: int = 3  # major user: more than two features take a major value
    major_basis: str = "prepared"  # count feature values over the "prepared" users or all "source" users
    subset: int | None = None  # keep a seeded sample of N users before the protocol runs
    task: str = "rating"  # "ctr": ratings ≥ click_threshold are clicks; users need min_interactions clicks
    click_threshold: float | None = None  # ctr only; None: 4 on a 1–5 scale, 7 on 1–10, 1 on 0/1 data

    def __post_init__(self) -> None:
        for field_name, (option, spec) in FIELD_SPECS.items():
            value = getattr(self, field_name)
            if value is not None or field_name not in ("subset", "click_threshold"):
                spec.check(option, value)
        split_ok = len(self.split) == 3 and all(
            isinstance(s, int | float) and not isinstance(s, bool) and math.isfinite(s) and s >= 0
            for s in self.split
        )
        if not split_ok or sum(self.split) <= 0:
            shown = ":".join(f"{s:g}" if isinstance(s, int | float) else repr(s) for s in self.split)
            raise ColdbenchError(
                f"option --split={shown}: expected three finite non-negative numbers with a positive sum, "
                "such as 7:1:2"
            )
        checks = [
            (self.major_basis in ("prepared", "source"), "--major-basis must be 'prepared' or 'source'"),
            (self.task in ("rating", "ctr"), "--task must be 'rating' or 'ctr'"),
        ]
        for ok, message in checks:
            if not ok:
                raise ColdbenchError(f"option {message}")
        shares = _exact_shares(self.split)  # 7:1:2 and 0.7:0.1:0.2 are the same protocol
        object.__setattr__(self, "split", tuple(float(share) for share in shares))

    def to_dict(self) -> dict:
        values = asdict(self)
        values["split"] = list(self.split)
        values["version"] = PROTOCOL_VERSION
        return values


@dataclass
class PreparedTables:
    """The protocol's output: the three tables and the figures the manifest reports."""

    interactions: pd.DataFrame  # user_id, item_id, rating, split, role
    users: pd.DataFrame  # user_id, split, major, n_major_features, <user features>
    items: pd.DataFrame  # item_id, <item features>
    stats: dict


def _exact_shares(ratios: tuple[float, ...]) -> list[Fraction]:
    """Ratios as exact fractions of their sum (0.7 read as 7/10, not its binary approximation)."""
    exact = [Fraction(repr(float(r))) for r in ratios]
    total = sum(exact)
    return [r / total for r in exact]


def _id_order(ids: pd.Index) -> np.ndarray:
    """Positions that sort ids naturally: integer ids (ASCII digits, see ``is_int_id``) first, by
    value (ties by text, e.g. ``7`` before ``07``), then every other id as text.

    An odd id therefore never changes the order of the integer ids among themselves.
    """
    text = pd.Series(np.asarray(ids, dtype=object)).astype(str)
    numeric = is_int_id(text)
    values = np.zeros(len(text), dtype=np.int64)
    values[numeric] = text[numeric].astype(np.int64).to_numpy()
    keys = np.asarray(text.to_numpy(), dtype=str)
    return np.lexsort((keys, values, ~numeric))


def _rng(seed: int, stream: int) -> np.random.Generator:
    """An independent random stream per protocol step, so that options don't shift each other."""
    return np.random.default_rng([seed, stream])


def _take_subset(interactions: pd.DataFrame, config: ProtocolConfig) -> pd.DataFrame:
    users = pd.Index(interactions["user_id"].unique())
    users = users[_id_order(users)]
    if config.subset is None or config.subset >= len(users):
        return interactions
    chosen = _rng(config.seed, 0).choice(len(users), size=config.subset, replace=False)
    return interactions[interactions["user_id"].isin(users[np.sort(chosen)])]


def cold_start_users(interactions: pd.DataFrame, fraction: float) -> pd.Index:
    """The ``fraction`` of users with the fewest interactions; ties go to the smaller id."""
    counts = interactions.groupby("user_id", sort=False).size()
    counts = counts.iloc[_id_order(counts.index)]
    ranked = counts.sort_values(kind="stable")
    keep = int(round(fraction * len(ranked)))
    return ranked.index[:keep]


def split_users(users: pd.Index, ratios: tuple[float, float, float], seed: int) -> pd.Series:
    """Assign users to train/valid/test by a seeded permutation in the given ratios."""
    users = users[_id_order(users)]
    shares = _exact_shares(ratios)
    n_train = round(len(users) * shares[0])
    n_valid = round(len(users) * shares[1])
    labels = np.array(["test"] * len(users), dtype=object)
    order = _rng(seed, 1).permutation(len(users))
    labels[order[:n_train]] = "train"
    labels[order[n_train : n_train + n_valid]] = "valid"
    return pd.Series(labels, index=users, name="split")


def support_query_roles(user_codes: np.ndarray, fraction: float, seed: int) -> np.ndarray:
    """Per interaction 'support' or 'query': each user's rows split at random, both sides non-empty.

    ``user_codes`` gives each row's user as an integer; every user needs at least two rows.
    """
    n = len(user_codes)
    keys = _rng(seed, 2).random(n)
    order = np.lexsort((keys, user_codes))
    sorted_users = user_codes[order]
    starts = np.r_[0, np.flatnonzero(np.diff(sorted_users)) + 1]
    sizes = np.diff(np.r_[starts, n])
    n_support = np.clip(np.rint(sizes * fraction).astype(int), 1, sizes - 1)
    rank = np.arange(n) - np.repeat(starts, sizes)
    is_support = np.empty(n, dtype=bool)
    is_support[order] = rank < np.repeat(n_support, sizes)
    return np.where(is_support, "support", "query")


def major_values(values: pd.Series, fraction: float) -> list[str]:
    """A feature's major values: the top ceil(fraction) of its distinct values by number of users.

    Ties in count are broken by the value itself (sorted as text), so the result is deterministic.
    """
    counts = values.value_counts()
    counts = counts.rename_axis("value").reset_index(name="n")
    counts["value"] = counts["value"].astype(str)
    counts = counts.sort_values(["n", "value"], ascending=[False, True], kind="stable")
    k = math.ceil(fraction * len(counts))
    return counts["value"].head(k).tolist()


def label_major(
    users: pd.DataFrame, features: list[str], config: ProtocolConfig, basis: pd.DataFrame | None = None
) -> tuple[pd.DataFrame, dict]:
    """Add ``n_major_features`` and ``major`` columns; return them with per-feature shares.

    A feature's major values are counted over ``basis`` (default: ``users`` themselves).
    """
    basis = users if basis is None else basis
    users = users.copy()
    n_major = np.zeros(len(users), dtype=int)
    shares, tops = {}, {}
    for feature in features:
        top = major_values(basis[feature].dropna(), config.major_value_fraction)
        held = users[feature].astype(str).isin(top).to_numpy()
        n_major += held
        shares[feature] = float(held.mean()) if len(users) else 0.0
        tops[feature] = len(top)
    users["n_major_features"] = n_major
    users["major"] = n_major >= config.major_min_features
    info = {
        "feature_share": shares,
        "n_major_values": tops,
        "major_share": float(users["major"].mean()) if len(users) else 0.0,
        "basis": config.major_basis,
    }
    return users, info


def _split_counts(interactions: pd.DataFrame, users: pd.DataFrame) -> dict:
    counts = {}
    for split in SPLITS:
        chosen = users[users["split"] == split]
        rows = interactions[interactions["split"] == split]
        counts[split] = {
            "users": int(len(chosen)),
            "major_users": int(chosen["major"].sum()),
            "minor_users": int((~chosen["major"]).sum()),
            "interactions": int(len(rows)),
            "support": int((rows["role"] == "support").sum()),
            "query": int((rows["role"] == "query").sum()),
        }
    return counts


def click_threshold(config: ProtocolConfig, rating_scale: tuple[float, float]) -> float:
    """The rating from which an interaction counts as a click (CTR task)."""
    if config.click_threshold is not None:
        return config.click_threshold
    defaults = {1.0: 1.0, 5.0: 4.0, 10.0: 7.0}
    top = float(rating_scale[1])
    if top not in defaults:
        raise ColdbenchError(f"option --click-threshold is needed: no default for ratings up to {top:g}")
    return defaults[top]


def apply_protocol(raw: RawDataset, config: ProtocolConfig) -> PreparedTables:
    """Run the five protocol steps on a raw dataset."""
    user_features = [f.name for f in raw.user_features]
    if not user_features:
        raise ColdbenchError(
            f"{raw.name}: no user features (for RecBole atomic data, a NAME.user file): "
            "cold-start users are described only by their features"
        )
    interactions = _take_subset(raw.interactions, config)
    threshold = None
    if config.task == "ctr":
        threshold = click_threshold(config, raw.rating_scale)
        interactions = interactions.assign(click=(interactions["rating"] >= threshold).astype(float))
    n_users_raw = interactions["user_id"].nunique()

    cold = cold_start_users(interactions, config.cold_fraction)
    split = split_users(cold, config.split, config.seed)

    profiles = raw.users.drop_duplicates("user_id").set_index("user_id")
    counted = interactions if config.task == "rating" else interactions[interactions["click"] > 0]
    counts = counted.groupby("user_id").size()
    valid_profile = split.index.isin(profiles.index)
    if user_features:
        complete = profiles.reindex(split.index)[user_features].notna().all(axis=1).to_numpy()
        valid_profile &= complete
    enough = counts.reindex(split.index).fillna(0).to_numpy() >= config.min_interactions
    kept = split[valid_profile & enough]
    too_few = "too_few_interactions" if config.task == "rating" else "too_few_clicks"
    dropped = {"invalid_features": int((~valid_profile).sum()), too_few: int((valid_profile & ~enough).sum())}
    for name, ratio in zip(SPLITS, config.split):
        if ratio > 0 and not (kept == name).any():
            raise ColdbenchError(
                f"the {name} split is empty after filtering ({len(kept)} users kept of {len(split)}): "
                "use more users (--subset) or other --split ratios"
            )

    rows = interactions[interactions["user_id"].isin(kept.index)].copy()
    rows["split"] = rows["user_id"].map(kept).astype(str)
    codes = pd.Categorical(rows["user_id"], categories=kept.index).codes
    rows["role"] = support_query_roles(np.asarray(codes), config.support_fraction, config.seed)

    users = profiles.reindex(kept.index)[user_features].reset_index()
    users.insert(1, "split", kept.to_numpy())
    basis = None
    if config.major_basis == "source":
        basis = profiles[profiles.index.isin(interactions["user_id"].unique())]
    users, major_info = label_major(users, user_features, config, basis)

    item_ids = pd.Index(raw.items["item_id"]).union(pd.Index(rows["item_id"].unique()))
    item_ids = item_ids[_id_order(item_ids)]
    items = raw.items.drop_duplicates("item_id").set_index("item_id").reindex(item_ids)
    items = items.rename_axis("item_id").reset_index()
    for feature in raw.item_features:
        if feature.multi:
            items[feature.name] = [
                v if isinstance(v, list | tuple | np.ndarray) else [] for v in items[feature.name]
            ]

    stats = {
        "users_in_source": int(n_users_raw),
        "cold_start_users": int(len(cold)),
        "dropped_users": dropped,
        "users": int(len(kept)),
        "items": int(len(items)),
        "interactions": int(len(rows)),
        "splits": _split_counts(rows, users),
        "major": major_info,
    }
    columns = (
        ["user_id", "item_id", "rating"] + (["click"] if config.task == "ctr" else []) + ["split", "role"]
    )
    rows = rows[columns].reset_index(drop=True)
    if threshold is not None:
        stats["click_threshold"] = threshold
        stats["click_rate"] = float(rows["click"].mean()) if len(rows) else 0.0
    return PreparedTables(interactions=rows, users=users, items=items, stats=stats)
