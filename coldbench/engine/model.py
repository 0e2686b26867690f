"""The recommender shared by every method (paper Fig. 2, App. D.2, Table 7).

One embedding per feature (multi-valued features are the mean of their values' embeddings),
user and item embeddings concatenated (the fusing layer), then a decision MLP with ReLU. The
decision layers are held as plain tensors so that the inner loop can run them *functionally*
with per-user fast weights carrying a leading user dimension.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from coldbench.data.tasks import RATING, Task

if TYPE_CHECKING:  # pandas: only the data layer needs it at run time
    from coldbench.data.features import FeatureTable


def decide(params: list[Tensor], x: Tensor) -> Tensor:
    """Run the decision MLP. ``params`` alternate weight ``[in, out]`` and bias ``[out]``.

    With per-user fast weights (weight ``[U, in, out]``, bias ``[U, out]``) and ``x`` of shape
    ``[U, N, in]``, every user's rows go through that user's own weights in one batched matmul.
    Returns ``[..., N]`` for a scalar output, else ``[..., N, out]``.
    """
    hidden = x
    n_layers = len(params) // 2
    for layer in range(n_layers):
        weight, bias = params[2 * layer], params[2 * layer + 1]
        if weight.dim() == 3:
            hidden = torch.baddbmm(bias.unsqueeze(1), hidden, weight)
        else:
            hidden = hidden @ weight + bias
        if layer < n_layers - 1:
            hidden = F.relu(hidden)
    return hidden.squeeze(-1) if hidden.shape[-1] == 1 else hidden


class FeatureEmbedding(nn.Module):
    """Embeds rows of a set of categorical features and concatenates them."""

    def __init__(self, tables: list[FeatureTable], dim: int) -> None:
        super().__init__()
        self.names = [t.name for t in tables]
        self.tables = nn.ModuleList(nn.Embedding(t.vocab_size + 1, dim, padding_idx=0) for t in tables)
        for index, table in enumerate(tables):
            self.register_buffer(f"codes_{index}", table.codes.clone(), persistent=False)
        self.output_dim = dim * len(tables)
        self.n_rows = int(tables[0].codes.shape[0]) if tables else 0  # users or items in the tables

    def forward(self, rows: Tensor) -> Tensor:
        """``rows`` (any shape) of row indices → ``[*rows.shape, n_features * dim]``.

        Each distinct row is embedded once and then gathered: a padded meta-batch repeats the
        padding row and popular items many times over, and a multi-valued feature costs its width.
        """
        distinct, inverse = torch.unique(rows, return_inverse=True)
        if distinct.numel() < rows.numel():
            return self.embed(distinct)[inverse]
        return self.embed(rows)

    def embed(self, rows: Tensor) -> Tensor:
        """The embedding of every entry of ``rows``, computed entry by entry."""
        parts = []
        for index, table in enumerate(self.tables):
            codes = getattr(self, f"codes_{index}")[rows]  # [..., width]
            vectors = table(codes)  # [..., width, dim]; padding rows are zero
            count = (codes > 0).sum(-1, keepdim=True).clamp(min=1).to(vectors.dtype)
            parts.append(vectors.sum(-2) / count)
        return torch.cat(parts, dim=-1)


class RecModel(nn.Module):
    """Feature embeddings + fusing + decision MLP."""

    def __init__(
        self,
        user_tables: list[FeatureTable],
        item_tables: list[FeatureTable],
        embedding_dim: int = 32,
        hidden: tuple[int, ...] = (320, 192),
        task: Task = RATING,
    ) -> None:
        super().__init__()
        self.task = task
        output_dim = task.output_dim
        self.user_embedding = FeatureEmbedding(user_tables, embedding_dim)
        self.item_embedding = FeatureEmbedding(item_tables, embedding_dim)
        sizes = [self.item_embedding.output_dim + self.user_embedding.output_dim, *hidden, output_dim]
        self.decision = nn.ParameterList()
        for fan_in, fan_out in zip(sizes[:-1], sizes[1:]):
            bound = 1.0 / math.sqrt(fan_in)  # the same range as torch.nn.Linear's default init
            self.decision.append(nn.Parameter(torch.empty(fan_in, fan_out).uniform_(-bound, bound)))
            self.decision.append(nn.Parameter(torch.empty(fan_out).uniform_(-bound, bound)))

    @property
    def user_dim(self) -> int:
        return self.user_embedding.output_dim

    def decision_params(self) -> list[Tensor]:
        return list(self.decision)

    def fuse(self, user_vectors: Tensor, item_vectors: Tensor) -> Tensor:
        """The fusing layer: item embeddings next to their user's: [U, Du], [U, N, Di] → [U, N, D]."""
        expanded = user_vectors.unsqueeze(-2).expand(*item_vectors.shape[:-1], user_vectors.shape[-1])
        return torch.cat([item_vectors, expanded], dim=-1)
