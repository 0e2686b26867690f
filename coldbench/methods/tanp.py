"""TaNP (Lin et al., WWW 2021): a neural process that conditions on the support set, no inner loop.

For each support row the fused vector x_j = [item, user] and its target y_j go through two
encoders, mean-pooled over the user's real rows: the latent path gives q(z | S) = N(μ, σ²) and the
task path a task embedding o_u. The customised module softly assigns o_u to K global pattern
vectors m_k (Student's t kernel, as DEC) and returns õ_u = o_u + Σ_k q_uk m_k. The decoder is the
model's decision MLP on the query rows, with z added to the first layer's input and every hidden
layer modulated by õ_u: FiLM h ← h ⊙ tanh(W_γ õ) + tanh(W_β õ), or its gated form.

Deterministic variant: z = μ(S) in training and evaluation (no sampling). Training loss per
meta-batch: mean query loss + kl_weight · KL(q(z|S∪Q) ‖ q(z|S)) + λ · KL(P ‖ Q) with P the sharpened
target distribution of the soft assignments Q (DEC), held fixed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from coldbench.config import TrainConfig
from coldbench.engine.batched import Batch, InnerLoopOutput
from coldbench.engine.model import RecModel
from coldbench.errors import ColdbenchError
from coldbench.methods.base import Method, MethodConfig, register_method

MODULATIONS = ("film", "gating")


@dataclass
class TaNPConfig(MethodConfig):
    outer_lr: float = 1e-4  # Adam's rate (TaNP code train_TaNP.py ``--lr``)
    encoder_hidden: tuple[int, ...] = (64, 64)  # latent encoder layers (code ``enc_h1_dim``, ``enc_h2_dim``)
    z1_dim: int = 32  # row representation r_j (code ``z1_dim``)
    z2_dim: int = 32  # hidden layer of the μ/σ heads (code ``z2_dim``)
    z_dim: int = 32  # latent z (code ``z_dim``)
    task_hidden: tuple[int, ...] = (
        128,
        64,
    )  # task encoder layers (code ``taskenc_h1_dim``, ``taskenc_h2_dim``)
    task_dim: int = 64  # task embedding o_u (code ``taskenc_final_dim``)
    clusters: int = 7  # K global pattern vectors (code ``clusters_k``)
    temperature: float = 1.0  # degrees of freedom of the Student's t kernel (code ``temperature``)
    cluster_weight: float = 0.1  # λ of the clustering loss (code ``lambda``)
    kl_weight: float = 1.0  # weight of KL(q(z|S∪Q) ‖ q(z|S)) (the ELBO's; code adds it with weight 1)
    modulation: str = "film"  # "film" (code's default ``Decoder``) or "gating" (``Gating_Decoder``)


def mlp(sizes: list[int]) -> nn.Sequential:
    """Linear layers with ReLU between them (none after the last)."""
    layers: list[nn.Module] = []
    for index, (fan_in, fan_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        if index:
            layers.append(nn.ReLU())
        layers.append(nn.Linear(fan_in, fan_out))
    return nn.Sequential(*layers)


def masked_mean(rows: Tensor, mask: Tensor) -> Tensor:
    """Mean over a user's real rows: ``[U, N, D]``, ``[U, N]`` → ``[U, D]`` (0 for no rows)."""
    return (rows * mask.unsqueeze(-1)).sum(1) / mask.sum(1, keepdim=True).clamp(min=1.0)


def soft_assignment(task: Tensor, centres: Tensor, temperature: float) -> Tensor:
    """q_uk ∝ (1 + ‖o_u − m_k‖² / t)^(−(t+1)/2), normalised over k: ``[U, D]``, ``[K, D]`` → ``[U, K]``."""
    distances = (task.unsqueeze(1) - centres.unsqueeze(0)).pow(2).sum(-1)
    kernel = (1.0 + distances / temperature).pow(-(temperature + 1.0) / 2.0)
    return kernel / kernel.sum(1, keepdim=True)


def target_distribution(q: Tensor) -> Tensor:
    """DEC's sharpened targets p_uk = (q_uk² / f_k) / Σ_k' (q_uk'² / f_k'), f_k = Σ_u q_uk."""
    weight = q.pow(2) / q.sum(0, keepdim=True)
    return weight / weight.sum(1, keepdim=True)


def gaussian_kl(mu_p: Tensor, logvar_p: Tensor, mu_q: Tensor, logvar_q: Tensor) -> Tensor:
    """KL(N(μ_p, σ_p²) ‖ N(μ_q, σ_q²)) summed over dimensions, per user."""
    ratio = (logvar_p.exp() + (mu_p - mu_q).pow(2)) / logvar_q.exp()
    return 0.5 * (ratio - 1.0 + logvar_q - logvar_p).sum(-1)


@dataclass
class Conditioning:
    """What TaNP reads from a batch's support (and, in training, query) sets."""

    user_vectors: Tensor  # [U, Du]
    query: Tensor  # fused query inputs [U, Q, D]
    z: Tensor  # [U, z_dim], μ of q(z | S)
    task: Tensor  # õ_u [U, task_dim]
    assignment: Tensor  # q [U, K]
    kl: Tensor | None  # KL(q(z|S∪Q) ‖ q(z|S)) per user (training)


@register_method
class TaNP(Method):
    name = "tanp"
    summary = "Neural process conditioned on the support set, task-adaptive FiLM decoder (TaNP, WWW 2021)"
    Config = TaNPConfig
    search_space: ClassVar[dict[str, tuple]] = {
        "outer_lr": ("log", 1e-6, 1e-2),
        "clusters": ("int", 2, 16),
        "temperature": ("log", 0.1, 10.0),
        "cluster_weight": ("log", 1e-3, 1.0),
        "kl_weight": ("log", 1e-3, 1.0),
        "modulation": ("cat", list(MODULATIONS)),
    }

    def __init__(self, config: TaNPConfig, model: RecModel, train: TrainConfig) -> None:
        super().__init__(config, model, train)
        if config.modulation not in MODULATIONS:
            raise ColdbenchError(
                f"--set modulation={config.modulation!r}: expected one of {', '.join(MODULATIONS)}"
            )
        if config.clusters < 1 or config.temperature <= 0:
            raise ColdbenchError("--set clusters must be ≥ 1 and temperature > 0 for tanp")
        params = model.decision_params()
        pair_dim = params[0].shape[0] + 1  # fused [item, user] vector and its target
        hidden = [p.shape[1] for p in params[0:-2:2]]  # widths of the decision MLP's hidden layers
        self.encoder = mlp([pair_dim, *config.encoder_hidden, config.z1_dim])
        self.to_hidden = nn.Linear(config.z1_dim, config.z2_dim)
        self.to_mu = nn.Linear(config.z2_dim, config.z_dim)
        self.to_logvar = nn.Linear(config.z2_dim, config.z_dim)
        self.task_encoder = mlp([pair_dim, *config.task_hidden, config.task_dim])
        self.centres = nn.Parameter(nn.init.xavier_uniform_(torch.empty(config.clusters, config.task_dim)))
        self.z_to_first = nn.Linear(config.z_dim, hidden[0], bias=False)  # z's share of the first layer
        kinds = ("gamma", "beta", "eta", "delta") if config.modulation == "gating" else ("gamma", "beta")
        self.film = nn.ModuleDict(
            {
                kind: nn.ModuleList(nn.Linear(config.task_dim, width, bias=False) for width in hidden)
                for kind in kinds
            }
        )

    def inner_lr(self, user_vectors: Tensor, users: Tensor | None = None) -> Tensor:
        return torch.zeros((), dtype=user_vectors.dtype, device=user_vectors.device)  # no inner step

    def _posterior(self, pairs: Tensor, mask: Tensor) -> tuple[Tensor, Tensor]:
        """μ and log σ² of q(z | rows) from the mean row representation."""
        hidden = torch.relu(self.to_hidden(masked_mean(self.encoder(pairs), mask)))
        return self.to_mu(hidden), self.to_logvar(hidden)

    def condition(self, model: RecModel, batch: Batch, *, training: bool) -> Conditioning:
        """Encode the support set (and in training, support ∪ query for the KL term)."""
        user_vectors = model.user_embedding(batch.users)
        support = model.fuse(user_vectors, model.item_embedding(batch.support_items))
        query = model.fuse(user_vectors, model.item_embedding(batch.query_items))
        support_pairs = torch.cat([support, batch.support_targets.unsqueeze(-1)], dim=-1)
        mu, logvar = self._posterior(support_pairs, batch.support_mask)
        task = masked_mean(self.task_encoder(support_pairs), batch.support_mask)
        assignment = soft_assignment(task, self.centres, self.config.temperature)
        task = task + assignment @ self.centres
        kl = None
        if training:
            query_pairs = torch.cat([query, batch.query_targets.unsqueeze(-1)], dim=-1)
            both = torch.cat([support_pairs, query_pairs], dim=1)
            mu_all, logvar_all = self._posterior(both, torch.cat([batch.support_mask, batch.query_mask], 1))
            kl = gaussian_kl(mu_all, logvar_all, mu, logvar)
        return Conditioning(user_vectors, query, mu, task, assignment, kl)

    def modulation(self, task: Tensor, layer: int) -> tuple[Tensor, Tensor]:
        """(γ, β) of hidden layer ``layer`` for each user: FiLM, or gated FiLM. Each ``[U, width]``."""
        gamma = torch.tanh(self.film["gamma"][layer](task))
        beta = torch.tanh(self.film["beta"][layer](task))
        if self.config.modulation == "gating":
            eta = torch.tanh(self.film["eta"][layer](task))
            delta = torch.sigmoid(self.film["delta"][layer](task))
            gamma = gamma * delta + eta * (1 - delta)
            beta = beta * delta + eta * (1 - delta)
        return gamma, beta

    def decode(self, model: RecModel, cond: Conditioning) -> Tensor:
        """The decision MLP on the query rows, z in the first layer, every hidden layer modulated."""
        params = model.decision_params()
        hidden = cond.query
        n_layers = len(params) // 2
        for layer in range(n_layers):
            hidden = hidden @ params[2 * layer] + params[2 * layer + 1]
            if layer == 0:
                hidden = hidden + self.z_to_first(cond.z).unsqueeze(1)
            if layer < n_layers - 1:
                gamma, beta = self.modulation(cond.task, layer)
                hidden = F.relu(hidden * gamma.unsqueeze(1) + beta.unsqueeze(1))
        return hidden.squeeze(-1) if hidden.shape[-1] == 1 else hidden

    def _output(self, model: RecModel, batch: Batch, cond: Conditioning) -> InnerLoopOutput:
        predicted = self.decode(model, cond)
        loss = model.task.masked_loss(predicted, batch.query_targets, batch.query_mask)
        return InnerLoopOutput(loss, predicted, cond.user_vectors, self.inner_lr(cond.user_vectors), None)

    def clustering_loss(self, assignment: Tensor) -> Tensor:
        """KL(P ‖ Q) averaged over the batch's users, P the (fixed) sharpened targets."""
        target = target_distribution(assignment).detach()
        return (target * (target.log() - assignment.log())).sum(1).mean()

    def training_loss(self, model: RecModel, batch: Batch) -> tuple[Tensor, InnerLoopOutput]:
        cond = self.condition(model, batch, training=True)
        output = self._output(model, batch, cond)
        config = self.config
        loss = output.query_loss.mean() + config.kl_weight * cond.kl.mean()
        loss = loss + config.cluster_weight * self.clustering_loss(cond.assignment)
        return loss, output

    def evaluate_batch(self, model: RecModel, batch: Batch) -> InnerLoopOutput:
        with torch.no_grad():
            return self._output(model, batch, self.condition(model, batch, training=False))

    def per_user_reference(self, model: RecModel, batch: Batch) -> list[Tensor]:
        """Each user alone, with no padded rows: the batched forward must give the same outputs."""
        out = []
        with torch.no_grad():
            for user in range(len(batch)):
                single = batch.subset(torch.tensor([user])).trimmed()
                n_query = int(single.query_mask.sum())
                out.append(
                    self._output(
                        model, single, self.condition(model, single, training=False)
                    ).query_predictions[0, :n_query]
                )
        return out
