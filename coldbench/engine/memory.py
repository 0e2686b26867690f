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


KERNELS = ("gaussian", "inverse")


def kernel_weights(sq_distances: Tensor, kernel: str, delta: float, epsilon: float) -> Tensor:
    """Similarity of a query to its neighbours from their squared distances ``‖h − h_k‖²``.

    ``gaussian``: s_k = exp(−δ‖h − h_k‖²) (§4.2). ``inverse``: s_k = 1 / (‖h − h_k‖ + ε), the
    kernel of the NEC code that App. D.2 names as the source of the search. The square root has
    a zero gradient at a zero distance (clamped), so identical embeddings stay differentiable.
    """
    if kernel == "gaussian":
        return torch.exp(-delta * sq_distances)
    if kernel == "inverse":
        return 1.0 / (torch.sqrt(sq_distances.clamp_min(1e-24)) + epsilon)
    raise ColdbenchError(f"--set kernel={kernel!r}: expected one of {', '.join(KERNELS)}")


class LearningRateMemory(nn.Module):
    """Fixed-capacity key/value memory with LRU eviction and kernel-weighted reads.

    Every entry remembers its owner (a user's row id, −1 for none). With ``one_per_owner`` a
    user has at most one entry: writing it again replaces the old one and makes it the most
    recent. Otherwise every write appends (the literal reading of Algorithm 2).
    """

    def __init__(
        self, capacity: int, key_dim: int, index: NeighbourIndex, one_per_owner: bool = True
    ) -> None:
        super().__init__()
        self.capacity = capacity
        self.index = index
        self.one_per_owner = one_per_owner
        self.register_buffer("keys", torch.zeros(capacity, key_dim))
        self.register_buffer("values", torch.zeros(capacity))
        self.register_buffer("owners", torch.full((capacity,), -1, dtype=torch.long))
        self.register_buffer("last_used", torch.full((capacity,), -1, dtype=torch.long))
        self.register_buffer("size", torch.zeros((), dtype=torch.long))
        self.register_buffer("clock", torch.zeros((), dtype=torch.long))
        self.version = 0

    def __len__(self) -> int:
        return int(self.size)

    def read(
        self,
        queries: Tensor,
        k: int,
        delta: float,
        sigma: float,
        touch: bool = False,
        readers: Tensor | None = None,
        kernel: str = "gaussian",
        epsilon: float = 1e-3,
    ) -> tuple[Tensor, Tensor]:
        """Kernel-weighted neighbour rates Σ_k s_k/(Σ_j s_j + σ)·α_k over the K nearest keys.

        ``readers`` (the querying users' owner ids) leaves each reader's own entry out: the K
        nearest entries of *other* users are used. Returns ``(weighted_rates [Q], neighbours
        [Q, ≤k+1])``; differentiable in the queries and in the stored keys and values. An
        empty memory reads as zero. ``touch`` marks the neighbours used as recently used
        (training reads only, so evaluation never changes the memory).
        """
        n = len(self)
        if n == 0 or k == 0:
            return queries.new_zeros(len(queries)), torch.empty(len(queries), 0, dtype=torch.long)
        keys, values = self.keys[:n], self.values[:n]
        extra = 1 if readers is not None else 0
        width = min(k + extra, n)
        neighbours = self.index.search(keys, queries, width, self.version)
        use = torch.ones(neighbours.shape, dtype=torch.bool, device=neighbours.device)
        if readers is not None:
            own = self.owners[neighbours] == readers.to(neighbours.device).unsqueeze(1)
            use = ~own
            # Without an own entry among them, the last of the k+1 neighbours is one too many.
            if width == k + 1:
                use[:, -1] &= own.any(1)
        if touch:
            with torch.no_grad():
                self.clock += 1
                self.last_used[neighbours[use]] = self.clock
        sq_distances = (queries.unsqueeze(1) - keys[neighbours]).pow(2).sum(-1)
        weights = kernel_weights(sq_distances, kernel, delta, epsilon) * use.to(queries.dtype)
        rates = (weights * values[neighbours]).sum(1) / (weights.sum(1) + sigma)
        return rates, neighbours

    @torch.no_grad()
    def write(self, keys: Tensor, values: Tensor, owners: Tensor | None = None) -> None:
        """Store new pairs: an owner's old entry is replaced; else a free or the LRU slot is used."""
        keys, values = keys.detach(), values.detach()
        owners = torch.full((len(keys),), -1, dtype=torch.long) if owners is None else owners.detach()
        owners = owners.to(self.owners.device)
        if len(keys) > self.capacity:
            keys, values, owners = keys[-self.capacity :], values[-self.capacity :], owners[-self.capacity :]
        n = len(self)
        slots = torch.full((len(keys),), -1, dtype=torch.long, device=self.owners.device)
        if self.one_per_owner and n:
            match = (self.owners[:n].unsqueeze(0) == owners.unsqueeze(1)) & (owners.unsqueeze(1) >= 0)
            found = match.any(1)
            slots[found] = match.float().argmax(1)[found]
        new = torch.nonzero(slots < 0).flatten()
        free = min(self.capacity - n, len(new))
        fresh = torch.arange(n, n + free, device=slots.device)
        if len(new) > free:
            taken = torch.zeros(n, dtype=torch.bool, device=slots.device)
            taken[slots[slots >= 0]] = True
            candidates = torch.nonzero(~taken).flatten()
            oldest = candidates[torch.argsort(self.last_used[candidates], stable=True)]
            fresh = torch.cat([fresh, oldest[: len(new) - free]])
        slots[new] = fresh
        self.clock += 1
        self.keys[slots] = keys.to(self.keys.dtype)
        self.values[slots] = values.to(self.values.dtype)
        self.owners[slots] = owners
        self.last_used[slots] = self.clock
        self.size.fill_(n + free)
        self.version += 1

    def track_gradients(self) -> None:
        """Let the outer loss reach stored keys and values (call after moving to a device)."""
        for tensor in (self.keys, self.values):
            if tensor.is_leaf and not tensor.requires_grad:
                tensor.requires_grad_(True)

    @torch.no_grad()
    def descend(self, step: float, nonnegative: bool = True) -> None:
        """node_j ← node_j − β·∇L for keys and values that received a gradient.

        ``nonnegative`` projects stored rates back onto α ≥ 0 after the step.
        """
        for tensor in (self.keys, self.values):
            if tensor.grad is not None:
                tensor -= step * tensor.grad
                tensor.grad = None
        if nonnegative:
            self.values.clamp_(min=0.0)
        self.version += 1
