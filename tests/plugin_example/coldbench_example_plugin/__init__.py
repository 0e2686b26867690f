"""An example method from another package: MAML with one learned inner learning rate.

It never touches coldbench: the entry point ``coldbench.methods`` names the class, and coldbench
registers it under its ``name`` the first time the method registry is used.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from coldbench.methods import Method, MethodConfig, RecModel, TrainConfig


@dataclass
class LearnedRateConfig(MethodConfig):
    outer_lr: float = 5e-5  # Adam's rate for the outer update
    init_lr: float = 1e-3  # starting value of the shared inner rate


class LearnedRate(Method):
    name = "example-learned-lr"
    summary = "Example plug-in: MAML with one learned inner rate shared by all users"
    Config = LearnedRateConfig
    search_space = {"outer_lr": ("log", 1e-6, 1e-2), "init_lr": ("log", 1e-5, 1e-1)}

    def __init__(self, config: LearnedRateConfig, model: RecModel, train: TrainConfig) -> None:
        super().__init__(config, model, train)
        self.log_lr = nn.Parameter(torch.tensor(math.log(config.init_lr)))

    def inner_lr(self, user_vectors: Tensor, users: Tensor | None = None) -> Tensor:
        return self.log_lr.exp().to(user_vectors.dtype)
