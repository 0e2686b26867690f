"""AT-PAML (§4.2, Algorithms 1–2): PAML whose rate also borrows from similar users in a memory.

α(h_i) = α0(h_i) + Σ_k s_k / (Σ_j s_j + σ) · α(h_k) over the K nearest stored users, with
s_k = exp(−δ‖h_i − h_k‖²) and α0 the learning-rate network. A warm-up epoch uses a fixed rate and
fills the memory. After each outer step the batch's (h_i, α(h_i)) are stored (LRU), and stored
keys and values take a gradient step of size β so they follow the moving embedding layers.
The whole meta-batch searches and stores at once; evaluation reads with K_inference neighbours
and never writes, so test users cannot influence one another.
"""

from __future__ import annotations

from dataclasses import dataclass

from torch import Tensor

from coldbench.config import TrainConfig
from coldbench.engine import InnerLoopOutput
from coldbench.memory import LearningRateMemory, make_index
from coldbench.methods.base import register_method
from coldbench.methods.paml import PAML, PAMLConfig
from coldbench.model import RecModel


@dataclass
class ATPAMLConfig(PAMLConfig):
    outer_lr: float = 5e-5  # paper Table 7
    memory_size: int = 10_000  # tree memory capacity, LRU eviction
    warmup_epochs: int = 1
    warmup_lr: float = 5e-6  # Table 7 (the text of App. D.2 says 0.0005)
    neighbours: int = 20  # K during training
    neighbours_inference: int = 5  # K for validation and test users
    delta: float = 2.0  # δ of the Gaussian kernel
    sigma: float = 1e-5  # σ in the normaliser
    learn_memory: bool = True  # gradient steps on stored keys and values
    index: str = "exact"  # "exact" (torch top-k) or "flann" (randomised kd-trees)
    flann_checks: int = 512  # FLANN leaves checked per search (32, its default, gives poor recall)


@register_method
class ATPAML(PAML):
    name = "at-paml"
    summary = "PAML whose rate adds a kernel-weighted memory of similar users' rates (AT-PAML, §4.2)"
    Config = ATPAMLConfig

    def __init__(self, config: ATPAMLConfig, model: RecModel, train: TrainConfig) -> None:
        super().__init__(config, model, train)
        index = make_index(config.index, config.flann_checks)
        self.memory = LearningRateMemory(config.memory_size, model.user_dim, index)
        self._pending: tuple[Tensor, Tensor] | None = None

    @property
    def warming_up(self) -> bool:
        return self.epoch < self.config.warmup_epochs

    def inner_lr(self, user_vectors: Tensor) -> Tensor:
        training = self.training
        if self.warming_up and training:
            rates = user_vectors.new_full((len(user_vectors),), self.config.warmup_lr)
        else:
            if training and self.config.learn_memory:
                self.memory.track_gradients()
            k = self.config.neighbours if training else self.config.neighbours_inference
            borrowed, _ = self.memory.read(
                user_vectors, k, self.config.delta, self.config.sigma, touch=training
            )
            rates = self.lr_net(user_vectors) + borrowed
        if training:
            self._pending = (user_vectors.detach(), rates.detach())
        return rates

    def after_outer_step(self, output: InnerLoopOutput) -> None:
        if self.config.learn_memory:
            self.memory.descend(self.config.outer_lr)
        if self._pending is not None:
            self.memory.write(*self._pending)
            self._pending = None
