"""REG-PAML (§4.3): PAML plus the memory-agnostic regulariser.

Total loss Σ_i [L_τi(θ_i) + γ · ‖∇θ L_τi(θ)‖² · ‖α(h_i)‖], averaged over the meta-batch's users
like the query loss. ∇θ L_τi(θ) is the support-loss gradient at θ (the inner step's first
gradient), so the regulariser is differentiable in θ and in the learning-rate network.
"""

from __future__ import annotations

from dataclasses import dataclass

from torch import Tensor

from coldbench.engine.batched import InnerLoopOutput
from coldbench.methods.base import register_method
from coldbench.methods.paml import PAML, PAMLConfig


@dataclass
class RegPAMLConfig(PAMLConfig):
    outer_lr: float = 5e-5  # paper Table 7
    gamma: float = 1e-3  # γ, the regulariser's weight (ablation: 1e-5 … 1e-2)


@register_method
class RegPAML(PAML):
    name = "reg-paml"
    summary = "PAML with the regulariser γ‖∇L‖²‖α(h)‖ that keeps seen users remembered (REG-PAML, §4.3)"
    Config = RegPAMLConfig
    search_space = {  # for `coldbench tune`
        "outer_lr": ("log", 1e-6, 1e-2),
        "max_lr": ("log", 1e-5, 1e-1),
        "gamma": ("log", 1e-6, 1e-1),
    }
    with_grad_norm = True

    def regulariser(self, output: InnerLoopOutput) -> Tensor:
        """Per user: ‖∇θ L_support(θ)‖² · |α(h_i)|."""
        return output.support_grad_sq_norm * output.lr.abs()

    def outer_loss(self, output: InnerLoopOutput) -> Tensor:
        return (output.query_loss + self.config.gamma * self.regulariser(output)).mean()
