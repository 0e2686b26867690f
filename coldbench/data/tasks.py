"""Prediction tasks: what the model outputs, the loss of both loops, and how outputs become scores.

``rating``: a scalar output, squared error. ``ctr``: a two-way softmax output and the weighted
negative-entropy loss of App. D.5–D.6 (weight 0.9 for clicks, 0.1 for non-clicks), the same loss in
the inner and the outer loop. Methods never see the task: the engine asks the model's task.
"""

from __future__ import annotations

from dataclasses import dataclass

from torch import Tensor
from torch.nn import functional as F

from coldbench.errors import ColdbenchError


@dataclass(frozen=True)
class Task:
    name: str
    output_dim: int
    selection_metric: str  # chosen on validation users (lower is better for both)
    click_weight: float = 0.9
    nonclick_weight: float = 0.1

    def elementwise_loss(self, outputs: Tensor, targets: Tensor) -> Tensor:
        """Loss per row: ``outputs`` ``[..., N]`` (rating) or ``[..., N, 2]`` (ctr), targets ``[..., N]``."""
        if self.name == "rating":
            return (outputs - targets) ** 2
        log_p = F.log_softmax(outputs, dim=-1)
        clicked = (targets > 0.5).to(outputs.dtype)
        weights = self.nonclick_weight + (self.click_weight - self.nonclick_weight) * clicked
        return -weights * (clicked * log_p[..., 1] + (1 - clicked) * log_p[..., 0])

    def masked_loss(self, outputs: Tensor, targets: Tensor, mask: Tensor) -> Tensor:
        """Mean loss per user over its real (unmasked) rows: ``[U, N(, 2)]`` → ``[U]``."""
        return (self.elementwise_loss(outputs, targets) * mask).sum(-1) / mask.sum(-1).clamp(min=1.0)

    def predict(self, outputs: Tensor) -> Tensor:
        """The score a metric sees: the rating itself, or the click probability."""
        return outputs if self.name == "rating" else F.softmax(outputs, dim=-1)[..., 1]


RATING = Task("rating", output_dim=1, selection_metric="mse")
CTR = Task("ctr", output_dim=2, selection_metric="nel")
TASKS = {"rating": RATING, "ctr": CTR}


def get_task(name: str) -> Task:
    if name not in TASKS:
        raise ColdbenchError(f"option --task {name!r}: expected one of {', '.join(TASKS)}")
    return TASKS[name]
