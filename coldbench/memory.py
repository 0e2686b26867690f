"""AT-PAML's memory of (user embedding → learning rate) pairs (§4.2, Algorithm 2).

Fixed capacity, least-recently-used eviction, searched for the K nearest keys. Keys and values
are tensors that the outer loss differentiates through, so they can follow the moving embedding
layers by gradient descent (node_j ← node_j − β∇L). The neighbour search is a small interface
with two backends: ``exact`` (torch distances + top-k; deterministic, runs on GPU) and ``flann``
(FLANN randomised kd-trees, as the paper; optional ``pyflann-ibeis``).
"""

from __future__ import annotations

from typing import Protocol

import numpy as np
import torch
from torch import Tensor, nn

from coldbench.errors import ColdbenchError


class NeighbourIndex(Protocol):
    def search(self, keys: Tensor, queries: Tensor, k: int, version: int) -> Tensor:
        """Indices ``[Q, k]`` of the ``k`` nearest ``keys`` to each query (nearest first)."""
        ...


class ExactIndex:
    """Brute-force squared Euclidean distances and top-k: exact and deterministic."""

    def search(self, keys: Tensor, queries: Tensor, k: int, version: int) -> Tensor:
        distances = torch.cdist(queries.detach(), keys.detach()).pow(2)
        return torch.topk(distances, k, dim=1, largest=False, sorted=True).indices


class FlannIndex:
    """FLANN randomised kd-trees, rebuilt only when the memory's version changes (once per batch)."""

    def __init__(self, trees: int = 4, checks: int = 512, seed: int = 0) -> None:
        try:
            from pyflann_ibeis import FLANN
        except ImportError:
            raise ColdbenchError(
                "--set index=flann needs the optional FLANN binding: pip install 'coldbench[flann]' "
                "(pyflann-ibeis); or use the default --set index=exact"
            ) from None
        self._flann = FLANN()
        self.trees, self.checks, self.seed = trees, checks, seed
        self._built_version: int | None = None
        self._n_keys = 0

    def search(self, keys: Tensor, queries: Tensor, k: int, version: int) -> Tensor:
        if self._built_version != version or self._n_keys != len(keys):
            data = np.ascontiguousarray(keys.detach().cpu().numpy(), dtype=np.float32)
            self._flann.build_index(data, algorithm="kdtree", trees=self.trees, random_seed=self.seed)
            self._built_version, self._n_keys = version, len(keys)
        query = np.ascontiguousarray(queries.detach().cpu().numpy(), dtype=np.float32)
        indices, _ = self._flann.nn_index(query, num_neighbors=k, checks=self.checks)
        indices = np.asarray(indices, dtype=np.int64).reshape(len(query), k)
        return torch.from_numpy(indices).to(queries.device)


def make_index(name: str, checks: int = 512) -> NeighbourIndex:
    if name == "exact":
        return ExactIndex()
    if name == "flann":
        return FlannIndex(checks=checks)
    raise ColdbenchError(f"--set index={name!r}: expected 'exact' or 'flann'")


class LearningRateMemory(nn.Module):
    """Fixed-capacity key/value memory with LRU eviction and kernel-weighted reads."""

    def __init__(self, capacity: int, key_dim: int, index: NeighbourIndex) -> None:
        super().__init__()
        self.capacity = capacity
        self.index = index
        self.register_buffer("keys", torch.zeros(capacity, key_dim))
        self.register_buffer("values", torch.zeros(capacity))
        self.register_buffer("last_used", torch.full((capacity,), -1, dtype=torch.long))
        self.register_buffer("size", torch.zeros((), dtype=torch.long))
        self.register_buffer("clock", torch.zeros((), dtype=torch.long))
        self.version = 0

    def __len__(self) -> int:
        return int(self.size)

    def read(
        self, queries: Tensor, k: int, delta: float, sigma: float, touch: bool = False
    ) -> tuple[Tensor, Tensor]:
        """Kernel-weighted neighbour rates Σ_k s_k/(Σ_j s_j + σ)·α_k with s_k = exp(−δ‖h − h_k‖²).

        Returns ``(weighted_rates [Q], neighbour_indices [Q, k])``; differentiable in the queries
        and in the stored keys and values. An empty memory reads as zero. ``touch`` marks the
        neighbours as recently used (training reads only, so evaluation never changes the memory).
        """
        n = len(self)
        if n == 0 or k == 0:
            return queries.new_zeros(len(queries)), torch.empty(len(queries), 0, dtype=torch.long)
        k = min(k, n)
        keys, values = self.keys[:n], self.values[:n]
        neighbours = self.index.search(keys, queries, k, self.version)
        if touch:
            with torch.no_grad():
                self.clock += 1
                self.last_used[neighbours.flatten()] = self.clock
        distances = (queries.unsqueeze(1) - keys[neighbours]).pow(2).sum(-1)
        weights = torch.exp(-delta * distances)
        rates = (weights * values[neighbours]).sum(1) / (weights.sum(1) + sigma)
        return rates, neighbours

    @torch.no_grad()
    def write(self, keys: Tensor, values: Tensor) -> None:
        """Store new pairs, evicting the least recently used entries when full."""
        keys, values = keys.detach(), values.detach()
        if len(keys) > self.capacity:
            keys, values = keys[-self.capacity :], values[-self.capacity :]
        n, m = len(self), len(keys)
        free = min(self.capacity - n, m)
        slots = torch.arange(n, n + free, device=keys.device)
        if m > free:
            oldest = torch.argsort(self.last_used[:n], stable=True)
            slots = torch.cat([slots, oldest[: m - free]])
        self.clock += 1
        self.keys[slots] = keys.to(self.keys.dtype)
        self.values[slots] = values.to(self.values.dtype)
        self.last_used[slots] = self.clock
        self.size.fill_(n + free)
        self.version += 1

    def track_gradients(self) -> None:
        """Let the outer loss reach stored keys and values (call after moving to a device)."""
        for tensor in (self.keys, self.values):
            if tensor.is_leaf and not tensor.requires_grad:
                tensor.requires_grad_(True)

    @torch.no_grad()
    def descend(self, step: float) -> None:
        """node_j ← node_j − β·∇L for keys and values that received a gradient."""
        for tensor in (self.keys, self.values):
            if tensor.grad is not None:
                tensor -= step * tensor.grad
                tensor.grad = None
        self.version += 1
