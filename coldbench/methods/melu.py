"""MeLU (Lee et al. 2019): MAML over users with a fixed inner learning rate."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from coldbench.methods.base import Method, MethodConfig, register_method


@dataclass
class MeLUConfig(MethodConfig):
    outer_lr: float = 5e-5  # MeLU's own code
    inner_lr: float = 1e-5  # the paper's value for MeLU (MeLU's own code uses 5e-6)


@register_method
class MeLU(Method):
    name = "melu"
    summary = "MAML with one fixed inner learning rate for every user (MeLU, Lee et al. 2019)"
    Config = MeLUConfig
    search_space = {"outer_lr": ("log", 1e-6, 1e-2), "inner_lr": ("log", 1e-7, 1e-2)}  # for `coldbench tune`

    def inner_lr(self, user_vectors: Tensor, users: Tensor | None = None) -> Tensor:
        return torch.tensor(self.config.inner_lr, dtype=user_vectors.dtype, device=user_vectors.device)
