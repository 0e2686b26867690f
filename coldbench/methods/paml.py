"""PAML (§4.1, Eq. 1): a personalised inner learning rate α(h_i) from the user's embedding.

θ_i = θ − α(h_i)·∇θ L_τi(θ). The inner step stays differentiable in α, so the meta-gradient
reaches the learning-rate network through the adapted weights (end to end).
"""

from __future__ import annotations

from dataclasses import dataclass

from torch import Tensor

from coldbench.config import TrainConfig
from coldbench.engine.model import RecModel
from coldbench.methods.base import Method, MethodConfig, register_method
from coldbench.methods.lr_net import LearningRateNet


@dataclass
class PAMLConfig(MethodConfig):
    outer_lr: float = 5e-6  # paper Table 7
    max_lr: float = 1e-3  # α_max: the learning-rate network's output is max_lr · sigmoid(·)


@register_method
class PAML(Method):
    name = "paml"
    summary = "Personalised adaptive inner learning rate α(h) from the user embedding (PAML, §4.1)"
    Config = PAMLConfig
    search_space = {"outer_lr": ("log", 1e-6, 1e-2), "max_lr": ("log", 1e-5, 1e-1)}  # for `coldbench tune`

    def __init__(self, config: PAMLConfig, model: RecModel, train: TrainConfig) -> None:
        super().__init__(config, model, train)
        self.lr_net = LearningRateNet(model.user_dim, max_lr=config.max_lr)

    def inner_lr(self, user_vectors: Tensor, users: Tensor | None = None) -> Tensor:
        return self.lr_net(user_vectors)
