"""Meta-SGD (Li et al. 2017): a learned inner learning rate per parameter, the same for all users."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from coldbench.config import TrainConfig
from coldbench.methods.base import Method, MethodConfig, register_method
from coldbench.model import RecModel


@dataclass
class MetaSGDConfig(MethodConfig):
    outer_lr: float = 5e-5
    init_lr: float = 1e-5  # starting value of every per-parameter rate (MeLU's fixed rate)


@register_method
class MetaSGD(Method):
    name = "meta-sgd"
    summary = "MAML with a learned inner learning rate per parameter, not per user (Li et al. 2017)"
    Config = MetaSGDConfig

    def __init__(self, config: MetaSGDConfig, model: RecModel, train: TrainConfig) -> None:
        super().__init__(config, model, train)
        self.rates = nn.ParameterList(
            nn.Parameter(torch.full_like(p, config.init_lr)) for p in model.decision_params()
        )

    def inner_lr(self, user_vectors: Tensor) -> list[Tensor]:
        return list(self.rates)
