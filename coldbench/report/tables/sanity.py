"""Sanity flags: caption lines naming rows whose numbers look like a failure rather than a result.

Each flag reads the per-user scores the table already averages (each user's metric averaged over a
variant's seeds):

- **identical results across settings**: two rows whose per-user MSE agree for every common user
  to a relative 1e-6 (a setting that changes nothing, or a model that ignores it);
- **no different from a floor**: a trained row whose per-user MSE equals a floor's in the same way
  (the model predicts what the floor predicts);
- **predictions that barely vary within users**: a trained row whose median user has a spread
  (std over the user's query items) of predicted ratings below ``SPREAD_MIN`` (0.02 on the
  rating scale): the model says about the same for every item. Read from ``pred_std``, which
  live runs get from their ``predictions.parquet`` and committed studies keep;
- **ranking at the random level**: a row whose nDCG@3 is not above the ``constant`` floor's (a
  constant predictor ranks in a seeded random order, so its nDCG is the random level): the paired
  t-test over users gives p ≥ 0.05 for "higher than constant", unadjusted, so a flag errs towards
  being shown.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from itertools import combinations

import numpy as np
from scipy import stats

from coldbench.report.tables.base import FLOORS, method_of
from coldbench.report.tables.measure import Measurements

TOLERANCE = 1e-6  # relative: per-user values this close are the same number
RANDOM_LEVEL = "constant"
RANKING_METRIC = "ndcg@3"
SPREAD_MIN = 0.02  # rating units: a median user's predictions spread less than this are flat


def _same(a, b) -> bool:
    common = a.index.intersection(b.index)
    if len(common) == 0:
        return False
    x, y = a[common].to_numpy(dtype=float), b[common].to_numpy(dtype=float)
    return bool(np.allclose(x, y, rtol=TOLERANCE, atol=TOLERANCE))


def sanity_notes(measured: Measurements, variants: Sequence[str], state: str | None = None) -> list[str]:
    """Caption lines for the flagged rows among ``variants`` (none when nothing is flagged)."""
    kwargs = {} if state is None else {"state": state}
    mse = {v: measured.users(v, "mse", **kwargs) for v in variants}
    mse = {v: s for v, s in mse.items() if len(s)}
    notes = []
    trained = [v for v in mse if method_of(v) not in FLOORS]
    identical = [f"{a} = {b}" for a, b in combinations(trained, 2) if _same(mse[a], mse[b])]
    floor_like = [
        f"{v} = {floor}"
        for v in trained
        for floor in mse
        if method_of(floor) in FLOORS and _same(mse[v], mse[floor])
    ]
    if floor_like:
        notes.append(
            "SANITY: per-user MSE the same as a floor's (the model predicts what the floor predicts): "
            + "; ".join(floor_like)
        )
    if identical:
        notes.append(
            "SANITY: identical per-user MSE across different settings (the setting changes nothing here): "
            + "; ".join(identical)
        )
    flat = _flat(measured, trained, kwargs)
    if flat:
        notes.append(
            f"SANITY: predictions barely vary within users (median per-user spread < {SPREAD_MIN:g}; "
            "the model predicts about the same for every item): " + ", ".join(flat)
        )
    random_rows = _at_random_level(measured, trained, kwargs)
    if random_rows:
        notes.append(
            f"SANITY: nDCG@3 not above the random level (the {RANDOM_LEVEL} floor's; paired t-test, "
            f"one-sided p ≥ 0.05, unadjusted): " + ", ".join(random_rows)
        )
    return notes


def _flat(measured: Measurements, trained: list[str], kwargs: dict) -> list[str]:
    """Trained rating rows whose median user's prediction spread is below ``SPREAD_MIN``."""
    flagged = []
    for variant in trained:
        spread = measured.users(variant, "pred_std", **kwargs)
        if len(spread) and float(np.median(spread.to_numpy(dtype=float))) < SPREAD_MIN:
            flagged.append(variant)
    return flagged


def _at_random_level(measured: Measurements, trained: list[str], kwargs: dict) -> list[str]:
    floors = [v for v in measured.table["variant"].unique() if method_of(v) == RANDOM_LEVEL]
    if not floors:
        return []
    reference = measured.users(floors[0], RANKING_METRIC, **kwargs)
    flagged = []
    for variant in trained:
        scores = measured.users(variant, RANKING_METRIC, **kwargs)
        common = scores.index.intersection(reference.index)
        if len(common) < 3:
            continue
        diff = scores[common].to_numpy(dtype=float) - reference[common].to_numpy(dtype=float)
        if np.allclose(diff, 0):
            flagged.append(variant)
            continue
        p = stats.ttest_1samp(diff, 0.0, alternative="greater").pvalue
        if not math.isnan(p) and p >= 0.05:
            flagged.append(variant)
    return flagged
