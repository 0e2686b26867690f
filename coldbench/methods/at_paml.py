"""AT-PAML (§4.2, Algorithms 1–2): PAML whose rate also borrows from similar users in a memory.

α(h_i) = α0(h_i) + Σ_k s_k / (Σ_j s_j + σ) · α(h_k) over the K nearest stored users, with the
kernel s_k = exp(−δ‖h_i − h_k‖²) (§4.2) or 1/(‖h_i − h_k‖ + ε) (the NEC code of App. D.2) and
α0 the learning-rate network. A warm-up epoch uses a fixed rate and fills the memory. After each
outer step the batch's (h_i, α(h_i)) are stored (LRU), and stored keys and values take a gradient
step of size β so they follow the moving embedding layers. The whole meta-batch searches and
stores at once; evaluation reads with K_inference neighbours and never writes, so test users
cannot influence one another.

By default a user owns at most one entry (a revisit replaces it) and a training read leaves the
reader's own entry out, so training users borrow from *other* users, as test users must; stored
rates are kept ≥ 0. ``memory_entries=append`` and ``nonnegative=false`` give the literal readings.
"""

from __future__ import annotations

from dataclasses import dataclass

from torch import Tensor

from coldbench.config import TrainConfig
from coldbench.engine.batched import InnerLoopOutput
from coldbench.engine.memory import KERNELS, LearningRateMemory, make_index
from coldbench.engine.model import RecModel
from coldbench.errors import ColdbenchError
from coldbench.methods.base import register_method
from coldbench.methods.paml import PAML, PAMLConfig

MEMORY_ENTRIES = ("per-user", "append")
CONTRIBUTION_SHARE = 0.01  # a borrowed rate above this share of α0 counts as a contribution


@dataclass
class ATPAMLConfig(PAMLConfig):
    outer_lr: float = 5e-5  # paper Table 7
    memory_size: int = 10_000  # tree memory capacity, LRU eviction
    warmup_epochs: int = 1
    warmup_lr: float = 5e-6  # Table 7 (the text of App. D.2 says 0.0005)
    neighbours: int = 20  # K during training
    neighbours_inference: int = 5  # K for validation and test users
    kernel: str = "gaussian"  # "gaussian" exp(−δ d²) (§4.2) or "inverse" 1/(d + ε) (NEC, App. D.2)
    delta: float = 2.0  # δ of the Gaussian kernel
    epsilon: float = 1e-3  # ε of the inverse kernel
    sigma: float = 1e-5  # σ in the normaliser
    memory_entries: str = "per-user"  # "per-user": one entry a user, own entry unread; "append"
    nonnegative: bool = True  # stored rates and the total rate α0 + α̃ are kept ≥ 0
    learn_memory: bool = True  # gradient steps on stored keys and values
    index: str = "exact"  # "exact" (torch top-k) or "flann" (randomised kd-trees)
    flann_checks: int = 512  # FLANN leaves checked per search (32, its default, gives poor recall)


class _Contribution:
    """Running share of users whose borrowed rate exceeds 1% of α0, and the mean ratio."""

    def __init__(self) -> None:
        self.users = 0
        self.contributed = 0
        self.ratio_sum = 0.0

    def add(self, base: Tensor, borrowed: Tensor) -> None:
        ratio = (borrowed / base).detach()
        self.users += len(ratio)
        self.contributed += int((ratio > CONTRIBUTION_SHARE).sum())
        self.ratio_sum += float(ratio.sum())

    def summary(self, prefix: str) -> dict[str, float]:
        if not self.users:
            return {}
        return {
            f"memory_{prefix}_share": self.contributed / self.users,
            f"memory_{prefix}_ratio": self.ratio_sum / self.users,
        }


@register_method
class ATPAML(PAML):
    name = "at-paml"
    summary = "PAML whose rate adds a kernel-weighted memory of similar users' rates (AT-PAML, §4.2)"
    Config = ATPAMLConfig
    search_space = {  # for `coldbench tune`
        "outer_lr": ("log", 1e-6, 1e-2),
        "max_lr": ("log", 1e-5, 1e-1),
        "delta": ("log", 1e-2, 1e2),
        "neighbours": ("int", 1, 50),
        "kernel": ("cat", ["gaussian", "inverse"]),
        "memory_size": ("int", 500, 20_000),
    }

    def __init__(self, config: ATPAMLConfig, model: RecModel, train: TrainConfig) -> None:
        super().__init__(config, model, train)
        if config.kernel not in KERNELS:
            raise ColdbenchError(f"--set kernel={config.kernel!r}: expected one of {', '.join(KERNELS)}")
        if config.memory_entries not in MEMORY_ENTRIES:
            raise ColdbenchError(
                f"--set memory_entries={config.memory_entries!r}: expected one of {', '.join(MEMORY_ENTRIES)}"
            )
        index = make_index(config.index, config.flann_checks)
        per_user = config.memory_entries == "per-user"
        self.memory = LearningRateMemory(config.memory_size, model.user_dim, index, one_per_owner=per_user)
        self._pending: tuple[Tensor, Tensor, Tensor | None] | None = None
        self._stats: dict[str, _Contribution] = {}
        self._split = "eval"

    @property
    def warming_up(self) -> bool:
        return self.epoch < self.config.warmup_epochs

    def inner_lr(self, user_vectors: Tensor, users: Tensor | None = None) -> Tensor:
        training = self.training
        if self.warming_up and training:
            rates = user_vectors.new_full((len(user_vectors),), self.config.warmup_lr)
        else:
            if training and self.config.learn_memory:
                self.memory.track_gradients()
            config = self.config
            k = config.neighbours if training else config.neighbours_inference
            exclude_own = users is not None and config.memory_entries == "per-user"
            borrowed, _ = self.memory.read(
                user_vectors,
                k,
                config.delta,
                config.sigma,
                touch=training,
                readers=users if exclude_own else None,
                kernel=config.kernel,
                epsilon=config.epsilon,
            )
            base = self.lr_net(user_vectors)
            rates = base + borrowed
            if config.nonnegative:
                rates = rates.clamp(min=0.0)
            self._stats.setdefault("train" if training else self._split, _Contribution()).add(base, borrowed)
        if training:
            self._pending = (user_vectors.detach(), rates.detach(), None if users is None else users.detach())
        return rates

    def start_epoch(self, epoch: int) -> None:
        super().start_epoch(epoch)
        self._stats.pop("train", None)

    def start_evaluation(self, split: str) -> None:
        self._split = split
        self._stats.pop(split, None)

    def after_outer_step(self, output: InnerLoopOutput) -> None:
        if self.config.learn_memory:
            self.memory.descend(self.config.outer_lr, nonnegative=self.config.nonnegative)
        if self._pending is not None:
            self.memory.write(*self._pending)
            self._pending = None

    def diagnostics(self) -> dict[str, float]:
        """How much the memory contributed: last training epoch, and each evaluated split."""
        out: dict[str, float] = {}
        for split, stats in self._stats.items():
            out.update(stats.summary(split))
        return out
