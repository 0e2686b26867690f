"""The learning-rate module of the PAML family (App. D.2): α(h) = α_max · sigmoid(FC(h))."""

from __future__ import annotations

import torch
from torch import Tensor, nn


class LearningRateNet(nn.Module):
    """Maps a user embedding ``h`` to a positive inner learning rate below ``max_lr``.

    FC layers ``in → 64 → 32 → 1`` (paper Table 7) with a ReLU after the first layer only, as
    App. D.2's code has it, and the output squashed with ``max_lr * sigmoid`` (App. D.2 uses
    ``0.001 * torch.sigmoid(...)``).
    """

    def __init__(self, in_dim: int, hidden: tuple[int, ...] = (64, 32), max_lr: float = 1e-3) -> None:
        super().__init__()
        sizes = [in_dim, *hidden, 1]
        layers: list[nn.Module] = []
        for index, (fan_in, fan_out) in enumerate(zip(sizes[:-1], sizes[1:])):
            layers.append(nn.Linear(fan_in, fan_out))
            if index == 0:
                layers.append(nn.ReLU())
        self.layers = nn.Sequential(*layers)
        self.max_lr = max_lr

    def forward(self, user_vectors: Tensor) -> Tensor:
        """``[U, Du]`` → ``[U]`` rates in ``(0, max_lr)``."""
        return self.max_lr * torch.sigmoid(self.layers(user_vectors).squeeze(-1))
