"""Early stopping on the validation metric (lower is better): patience and a minimum improvement.

An epoch improves when its value is below the best so far by more than ``min_delta``; the best
epoch is the last improving one, and training stops once ``patience`` epochs in a row have not
improved (``patience`` 0: never early). The state is a small dict, saved in ``last.pt`` so that a
resumed run stops at the same epoch as an uninterrupted one.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

STOP_REASONS = ("patience", "maximum", "divergence")


@dataclass
class EarlyStopping:
    """Tracks the best epoch (0-based) and how many epochs since it improved."""

    patience: int = 0
    min_delta: float = 0.0
    best_epoch: int = -1
    best_value: float = math.inf
    stale: int = 0  # epochs in a row without improvement

    def step(self, epoch: int, value: float) -> bool:
        """Record ``value`` of ``epoch``; True when it is the new best."""
        if value < self.best_value - self.min_delta:
            self.best_epoch, self.best_value, self.stale = epoch, value, 0
            return True
        self.stale += 1
        return False

    @property
    def should_stop(self) -> bool:
        return self.patience > 0 and self.stale >= self.patience

    def state_dict(self) -> dict:
        return {"best_epoch": self.best_epoch, "best_value": self.best_value, "stale": self.stale}

    def load_state_dict(self, state: dict) -> None:
        self.best_epoch = int(state["best_epoch"])
        self.best_value = float(state["best_value"])
        self.stale = int(state["stale"])

    @classmethod
    def replay(cls, patience: int, min_delta: float, values: list[float]) -> EarlyStopping:
        """The state after ``values`` (one per epoch, in order): for checks and older checkpoints."""
        stopper = cls(patience, min_delta)
        for epoch, value in enumerate(values):
            stopper.step(epoch, value)
        return stopper


def still_improving(best_epoch: int, epochs_run: int, stopped: str) -> bool:
    """True when the run selected its last epoch and ended only because it hit the maximum."""
    return stopped == "maximum" and epochs_run > 1 and best_epoch == epochs_run


def worse_than_constant(metrics: dict, meta_trained: bool = True) -> str | None:
    """A warning when a finished run's test MSE is above what the constant floor scores, naming
    the likely cause and the fix; None otherwise, and always for a floor fitted in closed form
    (``meta_trained`` False): it has no epochs or rates to change (and ``constant`` is the floor)."""
    mse, floor = metrics.get("test", {}).get("overall", {}).get("mse"), metrics.get("constant_mse")
    if not meta_trained or mse is None or floor is None or not mse > floor:
        return None
    return (
        f"test MSE {mse:.3f} is worse than the constant floor's {floor:.3f} (the mean training rating "
        f"for everyone): the model has not learned yet. Likely causes: too short a budget for its rates "
        f"({metrics.get('epochs_run')} epochs) or rates too large. Fix: raise --epochs, use --tuned, or "
        "lower the rates (--set outer_lr=...)"
    )
