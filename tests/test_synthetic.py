"""The synthetic generator: a per-user signal only the support set reveals, and minor groups."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from coldbench.data.prepare import prepare
from coldbench.data.prepared import load_prepared
from coldbench.data.sources import SOURCES, SourceRequest
from coldbench.errors import ColdbenchError


def _prepared(tmp_path_factory, **options: str):
    home = tmp_path_factory.mktemp("synthetic")
    prepare("synthetic", options=options, data_dir=home, on_wait=None)
    return load_prepared("synthetic", home)


def _query_errors(dataset) -> pd.DataFrame:
    """Test users' query rows with the squared errors of three predictors that need no training.

    ``global``: the training users' mean rating. ``support``: the user's own support mean.
    ``item``: the item's mean over the training users (what features of the item can tell).
    """
    rows = dataset.interactions
    train = rows[rows["split"] == "train"]
    test = rows[rows["split"] == "test"]
    support = test[test["role"] == "support"].groupby("user_id")["rating"].mean().rename("support")
    query = test[test["role"] == "query"].join(support, on="user_id")
    query = query.merge(dataset.users[["user_id", "major"]], on="user_id")
    mu = train["rating"].mean()
    item = query["item_id"].map(train.groupby("item_id")["rating"].mean()).fillna(mu)
    return pd.DataFrame(
        {
            "major": query["major"].to_numpy(),
            "global": (query["rating"] - mu).to_numpy() ** 2,
            "support": (query["rating"] - query["support"]).to_numpy() ** 2,
            "item": (query["rating"] - item).to_numpy() ** 2,
        }
    )


@pytest.fixture(scope="module")
def default(tmp_path_factory):
    return _prepared(tmp_path_factory)


def test_support_mean_beats_the_global_mean_on_the_default(default):
    errors = _query_errors(default)
    assert errors["support"].mean() < errors["global"].mean() - 0.15
    for major in (True, False):  # for major and minor users alike
        part = errors[errors["major"] == major]
        assert part["support"].mean() < part["global"].mean() - 0.1


def test_the_per_user_signal_comes_from_personal_and_user_bias(tmp_path_factory):
    """Without a per-user taste and offset, a user's own mean helps far less than with them."""
    small = {"users": "800"}
    gain = {}
    for label, options in {"with": small, "without": {**small, "personal": "0", "user_bias": "0"}}.items():
        errors = _query_errors(_prepared(tmp_path_factory, **options))
        gain[label] = errors["global"].mean() - errors["support"].mean()
    assert gain["with"] > gain["without"] + 0.1  # measured: 0.257 with, 0.135 without


def test_minor_users_exist_and_have_tastes_of_their_own(default):
    """About 58% major users (the 3 biggest of 10 groups); the item means of the training users,
    dominated by major users, fit minor users worse."""
    share = default.users["major"].mean()
    assert 0.5 < share < 0.7
    assert default.manifest["stats"]["major"]["major_share"] == pytest.approx(share)
    errors = _query_errors(default)
    major, minor = errors[errors["major"]], errors[~errors["major"]]
    assert minor["item"].mean() > major["item"].mean() + 0.15


def _read(**options: str):
    return SOURCES.get("synthetic").read(SourceRequest(raw_dir=None, options=options))


def test_seeded_and_sized_by_its_options():
    first, again = _read(users="50", items="20"), _read(users="50", items="20")
    pd.testing.assert_frame_equal(first.interactions, again.interactions)
    other = _read(users="50", items="20", data_seed="1")
    assert not first.interactions.equals(other.interactions)
    assert first.users["user_id"].nunique() == 50 and set(first.interactions["rating"]) <= {1, 2, 3, 4, 5}
    assert SOURCES.get("synthetic").version == 2  # the same options give other tables than version 1


def test_signal_strengths_are_checked_options():
    for option in ("personal=-1", "user_bias=nan", "taste=11"):
        key, value = option.split("=")
        with pytest.raises(ColdbenchError, match=rf"option {key}="):
            _read(**{key: value})


def test_without_any_taste_ratings_do_not_depend_on_the_user():
    """taste = personal = user_bias = noise = 0: a rating depends on the item and the group's kind
    taste only, so users of one group rate an item alike."""
    data = _read(users="200", items="30", taste="0", personal="0", user_bias="0", noise="0", groups="1")
    spread = data.interactions.groupby("item_id")["rating"].agg(np.ptp)
    assert spread.max() == 0
