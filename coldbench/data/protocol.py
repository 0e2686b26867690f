"""The cold-start protocols: the PAML paper's (§5.1, App. D.1, the default) and MeLU's preset.

``paml``, in the paper's order:

1. keep the ``cold_fraction`` of users with the fewest interactions (stable tie-break by id);
2. split those users train/validation/test with a seeded permutation;
3. drop users with a missing (blank or invalid) feature or too few interactions;
4. split each user's interactions support/query at random, each side non-empty;
5. label users major/minor by how many of their features take a frequent value.

``melu`` (MeLU's code, as also run by MAMO, TaNP and RecBole-MetaRec; see docs/protocol.md):
keep every user with 13 to 100 interactions and a complete profile, split those users 8:1:1, and
give each user exactly 10 random query interactions, the rest support; step 5 as above.

Either preset can add MeLU's **four cold-start states** (``item_split``): the items are split into
existing and new ones (a seeded random share, or the newest by release year or by first rating),
and each interaction lands in exactly one place, its ``state``:

- ``train``: a training user's rating of an existing item; the only rows meta-training sees;
- ``warm``: a held-out share (``warm_fraction``) of a training user's existing-item ratings;
- ``item-cold``: a training user's rating of a new item;
- ``support``: a validation or test user's support row, always an existing item;
- ``user-cold``: a validation or test user's query row of an existing item;
- ``user-item-cold``: a validation or test user's rating of a new item (always query).

Warm and item-cold are evaluated on the training users (existing users), adapting on their
``train`` rows; user-cold and user-item-cold on the test users, adapting on their support.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from fractions import Fraction

import numpy as np
import pandas as pd

from coldbench.choices import DEFAULT_PROTOCOL
from coldbench.data.optspec import Spec
from coldbench.data.sources.base import RawDataset
from coldbench.data.sources.limits import is_int_id
from coldbench.errors import ColdbenchError
from coldbench.excerpt import excerpt

SPLITS = ("train", "valid", "test")
PROTOCOL_VERSION = 1
STATES = ("warm", "user-cold", "item-cold", "user-item-cold")  # the evaluation sets, MeLU's order
HEADLINE_STATE = "user-cold"  # new users, existing items: the paper protocol's only state, every run's "test"
ITEM_SPLITS = ("random", "year", "time")  # how items are split into existing and new


MAX_SEED = 2**63 - 1

# ProtocolConfig field -> (CLI option, allowed values); checked whenever a config is made
FIELD_SPECS: dict[str, tuple[str, Spec]] = {
    "seed": ("--seed", Spec(int, 0, 0, MAX_SEED)),
    "cold_fraction": ("--cold-fraction", Spec(float, 0.8, 0, 1, open_low=True)),
    "min_interactions": ("--min-interactions", Spec(int, 2, 2, 1_000_000)),
    "support_fraction": ("--support-fraction", Spec(float, 0.8, 0, 1, open_low=True, open_high=True)),
    "max_interactions": ("max_interactions", Spec(int, None, 2, 1_000_000)),
    "query_size": ("query_size", Spec(int, None, 1, 1_000_000)),
    "major_value_fraction": ("--major-fraction", Spec(float, 0.3, 0, 1, open_low=True)),
    "major_min_features": ("--major-min-features", Spec(int, 3, 1, 1_000)),
    "subset": ("--subset", Spec(int, None, 1, 10**9)),
    "click_threshold": ("--click-threshold", Spec(float, None, -1e6, 1e6)),
    "new_item_fraction": ("--new-items", Spec(float, 0.2, 0, 1, open_low=True, open_high=True)),
    "warm_fraction": ("--warm-fraction", Spec(float, 0.2, 0, 1, open_low=True, open_high=True)),
}
OPTIONAL_FIELDS = ("subset", "click_threshold", "max_interactions", "query_size", "support_fraction")

# What each preset fixes: naming one of these options together with the preset is an error.
# melu: MeLU's code (hoyeoplee/MeLU data_generation.py) keeps users with 13..100 ratings, puts 10
# random ones in the query and the rest in the support, and has no cold-start cut; the users are
# split at random as RecBole-MetaRec does (its MeLU/MAMO/TaNP runs, 8:1:1); see docs/protocol.md.
PRESETS: dict[str, dict[str, object]] = {
    "paml": {"max_interactions": None, "query_size": None, "filter_before_split": False},
    "melu": {
        "cold_fraction": 1.0,
        "min_interactions": 13,
        "max_interactions": 100,
        "filter_before_split": True,
        "support_fraction": None,
        "query_size": 10,
    },
}
# What each preset changes from the dataclass defaults but lets an option override.
PRESET_DEFAULTS: dict[str, dict[str, object]] = {"paml": {}, "melu": {"split": (8.0, 1.0, 1.0)}}


def _option(field_name: str) -> str:
    return FIELD_SPECS[field_name][0] if field_name in FIELD_SPECS else field_name


def check_preset(config: ProtocolConfig) -> None:
    """A ColdbenchError unless ``config`` holds every value its preset (``name``) fixes."""
    if config.name not in PRESETS:
        raise ColdbenchError(f"option --protocol {config.name!r}: expected one of {', '.join(PRESETS)}")
    for field_name, fixed in PRESETS[config.name].items():
        value = getattr(config, field_name)
        if value != fixed:
            shown = "unset" if fixed is None else f"{fixed:g}" if isinstance(fixed, float) else str(fixed)
            raise ColdbenchError(
                f"option {_option(field_name)}={value} conflicts with --protocol {config.name}, which fixes "
                f"it to {shown}; leave it out (or pick another --protocol)"
            )
    if (config.query_size is None) == (config.support_fraction is None):
        raise ColdbenchError("give either a support fraction or a query size, not both")
    if config.query_size is not None and config.min_interactions <= config.query_size:
        raise ColdbenchError(
            f"--min-interactions {config.min_interactions} leaves no support beside "
            f"{config.query_size} query items: it must exceed the query size"
        )
    if config.max_interactions is not None and config.max_interactions < config.min_interactions:
        raise ColdbenchError(
            f"max_interactions {config.max_interactions} is below "
            f"--min-interactions {config.min_interactions}"
        )


def protocol_config(name: str = DEFAULT_PROTOCOL, **given: object) -> ProtocolConfig:
    """The preset ``name`` with the ``given`` options (``None``: not given) on top.

    An option the preset fixes (for melu: --cold-fraction, --min-interactions, --support-fraction)
    is refused with a one-line error rather than silently overridden or ignored.
    """
    if name not in PRESETS:
        raise ColdbenchError(f"option --protocol {excerpt(str(name))}: expected one of {', '.join(PRESETS)}")
    given = {key: value for key, value in given.items() if value is not None}
    for field_name in given:
        if field_name in PRESETS[name] and name != DEFAULT_PROTOCOL:
            raise ColdbenchError(
                f"option {_option(field_name)} conflicts with --protocol {name}, which fixes "
                f"{_fixed_text(name)}; leave {_option(field_name)} out or use --protocol {DEFAULT_PROTOCOL}"
            )
    return ProtocolConfig(name=name, **{**PRESETS[name], **PRESET_DEFAULTS[name], **given})


def _fixed_text(name: str) -> str:
    fixed = PRESETS[name]
    bounds = f"{fixed['min_interactions']}–{fixed['max_interactions']} ratings a user"
    return f"{bounds}, {fixed['query_size']} query items each and the rest support, no cold-start cut"


@dataclass(frozen=True)
class ProtocolConfig:
    """Every parameter of the protocol; recorded in the manifest."""

    name: str = DEFAULT_PROTOCOL  # the preset: "paml" (the paper's) or "melu"; see PRESETS
    seed: int = 0  # drives the user split, the support/query split and --subset
    cold_fraction: float = 0.8  # share of users, fewest interactions first, kept as cold-start users
    split: tuple[float, float, float] = (0.7, 0.1, 0.2)  # train : valid : test
    min_interactions: int = 2  # users with fewer are dropped (after the split, as in the paper)
    max_interactions: int | None = None  # users with more are dropped; None: no upper bound
    filter_before_split: bool = False  # drop users before the user split (melu) or after it (paml)
    support_fraction: float | None = 0.8  # support : query = 80 : 20; None when query_size is set
    query_size: int | None = None  # exactly this many query interactions a user, the rest support
    major_value_fraction: float = 0.3  # top ceil(30%) of a feature's values are its major values
    major_min_features: int = 3  # major user: more than two features take a major value
    major_basis: str = "prepared"  # count feature values over the "prepared" users or all "source" users
    subset: int | None = None  # keep a seeded sample of N users before the protocol runs
    task: str = "rating"  # "ctr": ratings ≥ click_threshold are clicks; users need min_interactions clicks
    click_threshold: float | None = None  # ctr only; None: 4 on a 1–5 scale, 7 on 1–10, 1 on 0/1 data
    item_split: str | None = None  # four states: "random", "year" or "time"; None: items are not split
    new_item_fraction: float = 0.2  # four states: the share of items that are new
    warm_fraction: float = 0.2  # four states: held-out share of a training user's existing-item ratings

    def __post_init__(self) -> None:
        for field_name, (option, spec) in FIELD_SPECS.items():
            value = getattr(self, field_name)
            if value is not None or field_name not in OPTIONAL_FIELDS:
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
        check_preset(self)
        checks = [
            (self.major_basis in ("prepared", "source"), "--major-basis must be 'prepared' or 'source'"),
            (isinstance(self.filter_before_split, bool), "filter_before_split must be true or false"),
            (self.task in ("rating", "ctr"), "--task must be 'rating' or 'ctr'"),
            (
                self.item_split is None or self.item_split in ITEM_SPLITS,
                f"--item-split must be one of {', '.join(ITEM_SPLITS)}",
            ),
        ]
        for ok, message in checks:
            if not ok:
                raise ColdbenchError(f"option {message}")
        shares = _exact_shares(self.split)  # 7:1:2 and 0.7:0.1:0.2 are the same protocol
        object.__setattr__(self, "split", tuple(float(share) for share in shares))

    def describe(self) -> str:
        """One line for captions: the preset and the parameters that define it."""
        split = ":".join(f"{share:g}" for share in self.split)
        if self.query_size is not None:
            bounds = (
                f"{self.min_interactions}–{self.max_interactions}"
                if self.max_interactions
                else (f"≥ {self.min_interactions}")
            )
            sizes = f"users with {bounds} ratings, {self.query_size} query items each, the rest support"
        else:
            upper = f"–{self.max_interactions}" if self.max_interactions else "+"
            sizes = (
                f"{self.cold_fraction:g} of users with fewest ratings, "
                f"{self.min_interactions}{upper} ratings, "
                f"support {self.support_fraction:g} of each user's ratings"
            )
        states = ""
        if self.item_split is not None:
            states = (
                f", four states: {self.new_item_fraction:g} of items new (by {self.item_split}), "
                f"{self.warm_fraction:g} of training users' existing-item ratings held out (warm)"
            )
        return f"protocol {self.name}: {sizes}, users split {split}, seed {self.seed}{states}"

    def to_dict(self) -> dict:
        values = asdict(self)
        values["split"] = list(self.split)
        values["version"] = PROTOCOL_VERSION
        return values


def recorded_config(recorded: dict) -> ProtocolConfig:
    """The config a manifest's ``protocol`` records; fields an older manifest lacks are paml's defaults."""
    values = {**ProtocolConfig().to_dict(), **recorded}
    values.pop("version", None)
    return ProtocolConfig(**{**values, "split": tuple(values["split"])})


def describe_recorded(recorded: dict) -> str:
    """``ProtocolConfig.describe`` of a manifest's ``protocol``; a line saying so when it is unreadable."""
    try:
        return recorded_config(recorded).describe()
    except (TypeError, ValueError, KeyError, ColdbenchError):
        return f"protocol {excerpt(str(recorded.get('name', '?')))} (unreadable parameters)"


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


def support_query_roles(
    user_codes: np.ndarray, fraction: float | None, seed: int, query_size: int | None = None
) -> np.ndarray:
    """Per interaction 'support' or 'query': each user's rows split at random, both sides non-empty.

    ``user_codes`` gives each row's user as an integer; every user needs at least two rows. With
    ``query_size``, exactly that many of a user's rows are query (the user needs more rows than
    that) and ``fraction`` is not used.
    """
    n = len(user_codes)
    keys = _rng(seed, 2).random(n)
    order = np.lexsort((keys, user_codes))
    sorted_users = user_codes[order]
    starts = np.r_[0, np.flatnonzero(np.diff(sorted_users)) + 1]
    sizes = np.diff(np.r_[starts, n])
    if query_size is not None:
        n_support = sizes - query_size
        if (n_support < 1).any():
            raise ColdbenchError(f"every user needs more than {query_size} interactions for its query")
    else:
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


def _usable_users(
    users: pd.Index,
    interactions: pd.DataFrame,
    profiles: pd.DataFrame,
    features: list[str],
    config: ProtocolConfig,
) -> tuple[np.ndarray, dict[str, int]]:
    """Which of ``users`` have a complete profile and an allowed number of interactions.

    Counted are ratings (rating task), clicks (CTR under ``paml``) or, with a query size (melu),
    all interactions, as MeLU's code counts them. Returns the mask and the dropped counts by reason.
    """
    by_clicks = config.task == "ctr" and config.query_size is None
    counted = interactions[interactions["click"] > 0] if by_clicks else interactions
    counts = counted.groupby("user_id").size().reindex(users).fillna(0).to_numpy()
    valid_profile = users.isin(profiles.index)
    if features:
        valid_profile &= profiles.reindex(users)[features].notna().all(axis=1).to_numpy()
    enough = counts >= config.min_interactions
    not_too_many = counts <= (config.max_interactions or np.inf)
    too_few = "too_few_clicks" if by_clicks else "too_few_interactions"
    dropped = {"invalid_features": int((~valid_profile).sum()), too_few: int((valid_profile & ~enough).sum())}
    if config.max_interactions is not None:
        dropped["too_many_interactions"] = int((valid_profile & enough & ~not_too_many).sum())
    return valid_profile & enough & not_too_many, dropped


def new_items(raw: RawDataset, interactions: pd.DataFrame, config: ProtocolConfig) -> pd.Index:
    """The new items of the four-state protocol: ``new_item_fraction`` of the rated items.

    ``random``: a seeded sample; ``year``: the latest released (the source's ``item_years``);
    ``time``: the latest first rated (the interactions' ``timestamp``). Ties, and items whose year
    or time is unknown (counted as oldest, so existing), are ordered by a seeded random key.
    """
    items = pd.Index(interactions["item_id"].unique())
    items = items[_id_order(items)]
    n_new = int(round(config.new_item_fraction * len(items)))
    ties = _rng(config.seed, 3).random(len(items))
    if config.item_split == "random":
        order = np.argsort(ties, kind="stable")
    else:
        if config.item_split == "year":
            known = raw.item_years
            what = "release years of its items"
        else:
            has_time = "timestamp" in interactions
            known = interactions.groupby("item_id")["timestamp"].min() if has_time else None
            what = "rating timestamps"
        when = pd.Series(dtype=float) if known is None else pd.to_numeric(known, errors="coerce")
        when = when.reindex(items).to_numpy(dtype=float)
        if np.isnan(when).all():
            raise ColdbenchError(
                f"--item-split {config.item_split}: {raw.name} records no {what}; use --item-split random"
            )
        newest_first = -np.nan_to_num(when, nan=-np.inf)
        order = np.lexsort((ties, newest_first))
    return items[np.sort(order[:n_new])]


def _warm_holdout(user_codes: np.ndarray, fraction: float, keep: int, seed: int) -> np.ndarray:
    """Per row: held out for the warm state? ``round(fraction · n)`` of each user's rows, at random,
    but never so many that fewer than ``keep`` rows are left for meta-training."""
    n = len(user_codes)
    keys = _rng(seed, 4).random(n)
    order = np.lexsort((keys, user_codes))
    starts = np.r_[0, np.flatnonzero(np.diff(user_codes[order])) + 1] if n else np.array([], dtype=int)
    sizes = np.diff(np.r_[starts, n])
    n_held = np.clip(np.rint(sizes * fraction).astype(int), 0, np.maximum(sizes - keep, 0))
    rank = np.arange(n) - np.repeat(starts, sizes)
    held = np.empty(n, dtype=bool)
    held[order] = rank < np.repeat(n_held, sizes)
    return held


def assign_states(rows: pd.DataFrame, new: pd.Index, config: ProtocolConfig) -> pd.DataFrame:
    """``rows`` (the kept users' interactions, with ``split``) with ``role`` and ``state`` columns.

    Existing items of a training user: the warm hold-out, the rest split support/query for
    meta-training (state ``train``); of a validation or test user: split support/query (states
    ``support`` and ``user-cold``). New items are always query: ``item-cold`` for a training user,
    ``user-item-cold`` for the others. See the module's docstring.
    """
    rows = rows.copy()
    is_new = rows["item_id"].isin(new).to_numpy()
    training = (rows["split"] == "train").to_numpy()
    codes = np.asarray(pd.Categorical(rows["user_id"]).codes)
    role = np.full(len(rows), "query", dtype=object)
    state = np.where(training, "item-cold", "user-item-cold").astype(object)
    need = (config.query_size + 1) if config.query_size is not None else 2
    held = np.zeros(len(rows), dtype=bool)
    existing_training = np.flatnonzero(~is_new & training)
    held[existing_training] = _warm_holdout(codes[existing_training], config.warm_fraction, need, config.seed)
    state[held] = "warm"
    split_rows = np.flatnonzero(~is_new & ~held)
    roles = support_query_roles(codes[split_rows], config.support_fraction, config.seed, config.query_size)
    role[split_rows] = roles
    state[split_rows] = np.where(
        training[split_rows], "train", np.where(roles == "support", "support", "user-cold")
    )
    return rows.assign(role=role, state=state)


def _state_counts(rows: pd.DataFrame, new: pd.Index, n_items: int) -> dict:
    """The manifest's counts of the four-state protocol: items, meta-training rows and each state."""
    counts = {"new_items": int(len(new)), "existing_items": int(n_items - len(new))}
    for state in ("train", "support", *STATES):
        part = rows[rows["state"] == state]
        counts[state] = {"users": int(part["user_id"].nunique()), "interactions": int(len(part))}
    return counts


MAX_RATING = 100.0  # nDCG's gain 2^r − 1 stays finite and meaningful up to here


def _plain(value: object) -> object:
    """A numpy scalar as the Python value it holds, so a message shows ``3``, not ``np.int64(3)``."""
    return value.item() if isinstance(value, np.generic) else value


def check_rating_scale(raw: RawDataset) -> None:
    """Ratings must be finite and in [0, MAX_RATING]: nDCG's gains assume non-negative relevance,
    and 2^r overflows for huge r (a rating ×1e5 gives NaN nDCG)."""
    ratings = raw.interactions["rating"].to_numpy(dtype=float)
    bad = ~np.isfinite(ratings) | (ratings < 0) | (ratings > MAX_RATING)
    if bad.any():
        first = int(np.flatnonzero(bad)[0])
        row = raw.interactions.iloc[first]
        user, item = (_plain(row[key]) for key in ("user_id", "item_id"))
        raise ColdbenchError(
            f"{raw.name}: rating {float(ratings[first])!r} of user {user!r}, item {item!r} "
            f"({int(bad.sum())} such ratings): ratings must be finite and in [0, {MAX_RATING:g}] "
            "(nDCG's gain is 2^r − 1); rescale them"
        )


def drop_repeated_pairs(interactions: pd.DataFrame) -> tuple[pd.DataFrame, int]:
    """One interaction per (user, item): a repeated pair keeps its last row in source order, so a
    pair can never sit in both a user's support and query. Returns the rows and how many were dropped."""
    repeated = interactions.duplicated(["user_id", "item_id"], keep="last")
    count = int(repeated.sum())
    return (interactions[~repeated] if count else interactions), count


def apply_protocol(raw: RawDataset, config: ProtocolConfig) -> PreparedTables:
    """Run the five protocol steps on a raw dataset."""
    user_features = [f.name for f in raw.user_features]
    if not user_features:
        raise ColdbenchError(
            f"{raw.name}: no user features (for RecBole atomic data, a NAME.user file): "
            "cold-start users are described only by their features"
        )
    check_rating_scale(raw)
    interactions, repeated = drop_repeated_pairs(raw.interactions)
    interactions = _take_subset(interactions, config)
    threshold = None
    if config.task == "ctr":
        threshold = click_threshold(config, raw.rating_scale)
        interactions = interactions.assign(click=(interactions["rating"] >= threshold).astype(float))
    n_users_raw = interactions["user_id"].nunique()

    cold = cold_start_users(interactions, config.cold_fraction)
    profiles = raw.users.drop_duplicates("user_id").set_index("user_id")
    if config.filter_before_split:  # melu: filter the users, then split the ones kept
        keep, dropped = _usable_users(cold, interactions, profiles, user_features, config)
        kept = split_users(cold[keep], config.split, config.seed)
    else:  # paml: split the cold-start users, then drop (the paper's order)
        split = split_users(cold, config.split, config.seed)
        keep, dropped = _usable_users(split.index, interactions, profiles, user_features, config)
        kept = split[keep]
    new = None
    if config.item_split is not None:  # four states: a user needs enough existing items for support
        new = new_items(raw, interactions, config)
        need = (config.query_size + 1) if config.query_size is not None else 2
        existing = interactions[~interactions["item_id"].isin(new)]
        counts = existing.groupby("user_id").size().reindex(kept.index).fillna(0).to_numpy()
        dropped["too_few_existing_items"] = int((counts < need).sum())
        kept = kept[counts >= need]
    for name, ratio in zip(SPLITS, config.split):
        if ratio > 0 and not (kept == name).any():
            raise ColdbenchError(
                f"the {name} split is empty after filtering ({len(kept)} users kept of {len(cold)}): "
                "use more users (--subset) or other --split ratios"
            )

    rows = interactions[interactions["user_id"].isin(kept.index)].copy()
    rows["split"] = rows["user_id"].map(kept).astype(str)
    if new is None:
        codes = pd.Categorical(rows["user_id"], categories=kept.index).codes
        rows["role"] = support_query_roles(
            np.asarray(codes), config.support_fraction, config.seed, query_size=config.query_size
        )
    else:
        rows = assign_states(rows, new, config)

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

    if new is not None:
        items["new"] = items["item_id"].isin(new).to_numpy()
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
    if repeated:  # recorded only when there were any, so clean data keeps its manifest
        stats["repeated_pairs_dropped"] = repeated
    if new is not None:
        stats["states"] = _state_counts(rows, new, interactions["item_id"].nunique())
    columns = (
        ["user_id", "item_id", "rating"]
        + (["click"] if config.task == "ctr" else [])
        + ["split", "role"]
        + (["state"] if new is not None else [])
    )
    rows = rows[columns].reset_index(drop=True)
    if threshold is not None:
        stats["click_threshold"] = threshold
        stats["click_rate"] = float(rows["click"].mean()) if len(rows) else 0.0
    return PreparedTables(interactions=rows, users=users, items=items, stats=stats)
