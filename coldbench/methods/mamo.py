"""MAMO (Dong et al., KDD 2020): memories that personalise MAML's starting point.

Feature-specific memory: a profile memory M_P (K slots shaped like the user embedding) gives
attention weights a_u = softmax_k cos(p_u, M_P^k); a bias memory M_F (K slots shaped like the
decision parameters) gives the personalised bias b_u = Σ_k a_uk M_F^k, and the user starts from
θ_u⁰ = θ − τ·b_u. Task-specific memory: M_UI (K slots shaped like the fusion layer, the first
decision layer that reads the fused [item, user] vector) gives the user's preference matrix
M_u = Σ_k a_uk M_UI^k, added to that layer's weight as fast weights. The user then adapts by
plain gradient steps of rate ρ (``local_lr``); Adam with ``outer_lr`` plays the global rate λ.
After each outer step the memories are written with rates α, β, γ (see ``after_outer_step``);
evaluation reads them and never writes. Memories are buffers: written by rule, not by Adam.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

import torch
from torch import Tensor

from coldbench.config import TrainConfig
from coldbench.engine.batched import Batch, InnerLoopOutput, first_adapted, run_inner_loop
from coldbench.engine.model import RecModel
from coldbench.errors import ColdbenchError
from coldbench.methods.base import Method, MethodConfig, register_method

COS_EPS = 1e-8  # floor of the norms in the cosine similarity


@dataclass
class MAMOConfig(MethodConfig):
    outer_lr: float = 5e-5  # global rate λ, as Adam's rate (coldbench's MAML default; MAMO's code: SGD 0.05)
    local_lr: float = 1e-2  # ρ, the local (inner) SGD rate (MAMO code configs.py ``rho``)
    n_slots: int = 3  # K, memory slots of every memory (MAMO code configs.py ``n_k``)
    profile_rate: float = 0.5  # α, M_P ← α a_u⊗p_u + (1−α) M_P (MAMO code configs.py ``alpha``)
    bias_rate: float = 0.05  # β, M_F ← β a_u⊗∇ + (1−β) M_F (MAMO code configs.py ``beta``)
    preference_rate: float = 0.1  # γ, M_UI ← γ a_u⊗M_u + (1−γ) M_UI (MAMO code configs.py ``gamma``)
    bias_scale: float = 0.01  # τ, θ_u⁰ = θ − τ b_u (MAMO code configs.py ``tao``)
    bias_init_std: float = 0.05  # M_F starts as N(0, std²) (MAMO code memories.py ``normal_(std=0.05)``)


def memory_attention(profile: Tensor, memory: Tensor) -> Tensor:
    """a_u = softmax over slots of cos(p_u, M_P^k): ``[U, D]``, ``[K, D]`` → ``[U, K]``."""
    dot = profile @ memory.T
    norms = profile.norm(dim=1, keepdim=True).clamp(min=COS_EPS) * memory.norm(dim=1).clamp(min=COS_EPS)
    return torch.softmax(dot / norms, dim=1)


@register_method
class MAMO(Method):
    name = "mamo"
    summary = "MAML from a memory-personalised start: profile/bias and preference memories (MAMO, KDD 2020)"
    Config = MAMOConfig
    search_space: ClassVar[dict[str, tuple]] = {
        "outer_lr": ("log", 1e-6, 1e-2),
        "local_lr": ("log", 1e-5, 1e-1),
        "n_slots": ("int", 2, 16),
        "profile_rate": ("float", 0.0, 1.0),
        "bias_rate": ("float", 0.0, 1.0),
        "preference_rate": ("float", 0.0, 1.0),
        "bias_scale": ("log", 1e-4, 1e-1),
    }

    def __init__(self, config: MAMOConfig, model: RecModel, train: TrainConfig) -> None:
        super().__init__(config, model, train)
        if config.n_slots < 1 or config.local_lr <= 0:
            raise ColdbenchError("--set n_slots must be ≥ 1 and local_lr > 0 for mamo")
        for key in ("profile_rate", "bias_rate", "preference_rate"):
            if not 0.0 <= getattr(config, key) <= 1.0:
                raise ColdbenchError(f"--set {key}={getattr(config, key)}: expected a rate in [0, 1]")
        params = model.decision_params()
        self.shapes = [tuple(p.shape) for p in params]
        n_values = sum(p.numel() for p in params)
        k = config.n_slots
        self.register_buffer("profile_memory", torch.randn(k, model.user_dim))
        self.register_buffer("bias_memory", torch.randn(k, n_values) * config.bias_init_std)
        self.register_buffer("preference_memory", torch.zeros(k, *self.shapes[0]))
        self._pending: tuple[Tensor, list[Tensor], list[Tensor], Tensor] | None = None

    def inner_lr(self, user_vectors: Tensor, users: Tensor | None = None) -> Tensor:
        return torch.tensor(self.config.local_lr, dtype=user_vectors.dtype, device=user_vectors.device)

    def initial_params(self, model: RecModel, user_vectors: Tensor, users: Tensor) -> list[Tensor]:
        """θ_u⁰ = θ − τ·a_u M_F, plus a_u M_UI on the fusion layer's weight: ``[U, ...]`` each."""
        attention = memory_attention(user_vectors, self.profile_memory)
        bias = attention @ self.bias_memory  # [U, P]
        preference = torch.einsum("uk,kio->uio", attention, self.preference_memory)
        out, offset = [], 0
        for index, (param, shape) in enumerate(zip(model.decision_params(), self.shapes)):
            size = math.prod(shape)
            start = param - self.config.bias_scale * bias[:, offset : offset + size].reshape(-1, *shape)
            out.append(start + preference if index == 0 else start)
            offset += size
        return out

    def inner_loop(self, model: RecModel, batch: Batch, *, training: bool) -> InnerLoopOutput:
        starts: list[list[Tensor]] = []

        def init(user_vectors: Tensor, users: Tensor) -> list[Tensor]:
            params = self.initial_params(model, user_vectors, users)
            starts.append(params)
            return params

        train = self.train_config
        output = run_inner_loop(
            model,
            batch,
            self.inner_lr,
            train.inner_steps,
            create_graph=training,
            first_order=train.first_order,
            buckets=train.buckets,
            implicit=False,
            adapt=train.adapt,
            init_fn=init,
            keep_fast=training,
        )
        if training:
            self._pending = (
                output.user_vectors.detach(),
                [p.detach() for p in starts[0]],
                [p.detach() for p in output.fast],
                model.decision_params()[0].detach().clone(),  # θ's fusion weight before the outer step
            )
        return output

    @torch.no_grad()
    def after_outer_step(self, output: InnerLoopOutput) -> None:
        """Write the batch into the memories (the batch mean of the paper's per-user rules).

        M_P ← α·mean_u(a_u⊗p_u) + (1−α)M_P; M_F ← β·mean_u(a_u⊗g_u) + (1−β)M_F with g_u the local
        gradient (θ_u⁰ − θ_u)/ρ summed over the inner steps; M_UI ← γ·mean_u(a_u⊗M_u) + (1−γ)M_UI
        with M_u the user's adapted fusion-layer weight minus the global one.
        """
        if self._pending is None:
            return
        vectors, starts, fast, fusion = self._pending
        self._pending = None
        config = self.config
        attention = memory_attention(vectors, self.profile_memory)  # read with the memory the batch used
        n_users = len(vectors)
        first = first_adapted(len(starts), self.train_config.adapt)
        adapted = starts[:first] + fast
        gradients = torch.cat(
            [((s - a) / config.local_lr).reshape(n_users, -1) for s, a in zip(starts, adapted)], dim=1
        )
        preference = adapted[0] - fusion  # [U, in, out]
        self.profile_memory.mul_(1 - config.profile_rate).add_(
            config.profile_rate * attention.T @ vectors / n_users
        )
        self.bias_memory.mul_(1 - config.bias_rate).add_(config.bias_rate * attention.T @ gradients / n_users)
        self.preference_memory.mul_(1 - config.preference_rate).add_(
            config.preference_rate * torch.einsum("uk,uio->kio", attention, preference) / n_users
        )

    def diagnostics(self) -> dict[str, float]:
        """Size of the memories: how far the personalised start can move from θ."""
        return {
            "memory_bias_norm": float(self.bias_memory.norm()),
            "memory_preference_norm": float(self.preference_memory.norm()),
        }
