"""Meta-SGD (Li et al. 2017): a learned inner learning rate per parameter, the same for all users.

The published form learns the rates themselves, unbounded (``meta-sgd``). ``bounded=true`` learns
them as ``max_lr · sigmoid(ρ)`` instead, capped at α_max = 1e-3 as the PAML family's rates are, so
the ablation can tell a better rate *shape* from a larger rate.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from coldbench.config import TrainConfig
from coldbench.engine.model import RecModel
from coldbench.errors import ColdbenchError
from coldbench.methods.base import Method, MethodConfig, register_method


@dataclass
class MetaSGDConfig(MethodConfig):
    outer_lr: float = 5e-5
    init_lr: float = 1e-5  # starting value of every per-parameter rate (MeLU's fixed rate)
    bounded: bool = False  # rates = max_lr · sigmoid(ρ) instead of free (Li et al.'s form)
    max_lr: float = 1e-3  # α_max of the bounded form (PAML's)


@register_method
class MetaSGD(Method):
    name = "meta-sgd"
    summary = "MAML with a learned inner learning rate per parameter, not per user (Li et al. 2017)"
    Config = MetaSGDConfig
    search_space = {  # for `coldbench tune`; init_lr stays below max_lr (1e-3) for the bounded form
        "outer_lr": ("log", 1e-6, 1e-2),
        "init_lr": ("log", 1e-7, 5e-4),
        "bounded": ("cat", [False, True]),
    }

    def __init__(self, config: MetaSGDConfig, model: RecModel, train: TrainConfig) -> None:
        super().__init__(config, model, train)
        start = config.init_lr
        if config.bounded:
            if not 0 < config.init_lr < config.max_lr:
                raise ColdbenchError(
                    f"--set init_lr={config.init_lr:g}: the bounded form needs 0 < init_lr < max_lr "
                    f"({config.max_lr:g})"
                )
            start = math.log(config.init_lr / (config.max_lr - config.init_lr))  # sigmoid⁻¹(init/max)
        self.rates = nn.ParameterList(
            nn.Parameter(torch.full_like(p, start)) for p in model.decision_params()
        )

    def inner_lr(self, user_vectors: Tensor, users: Tensor | None = None) -> list[Tensor]:
        if self.config.bounded:
            return [self.config.max_lr * torch.sigmoid(rate) for rate in self.rates]
        return list(self.rates)
