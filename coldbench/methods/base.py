"""The contract every method follows, and the registry it joins.

A method is an ``nn.Module`` holding its own meta-parameters (e.g. a learning-rate network) and
a ``Config`` dataclass of hyper-parameters. The default is MAML-style meta-learning on the shared
engine; a method mostly says which inner learning rate each user gets (``inner_lr``) and may add
terms to the outer loss or override training altogether (transfer learning). The trainer only
ever calls the methods below, so adding a method never touches it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

import torch
from torch import Tensor, nn

from coldbench.config import TrainConfig, as_dict, setting
from coldbench.engine.batched import (
    Batch,
    InitFn,
    InnerLoopOutput,
    LearningRate,
    first_adapted,
    run_inner_loop,
)
from coldbench.engine.model import RecModel
from coldbench.registry import Registry

if TYPE_CHECKING:  # pandas: only the data layer needs it at run time
    from coldbench.data.features import SplitData


@dataclass
class MethodConfig:
    """Hyper-parameters every method has."""

    outer_lr: float = setting(5e-5, above=0)  # Adam's learning rate β for the outer (meta) update


class Method(nn.Module):
    """Base class: MAML on the batched engine with a rate given by ``inner_lr``."""

    name: ClassVar[str]
    summary: ClassVar[str]
    Config: ClassVar[type] = MethodConfig
    with_grad_norm: ClassVar[bool] = False  # ask the engine for ‖∇θ L_support‖² per user
    meta_trained: ClassVar[bool] = True  # False: fitted in closed form by ``fit`` (the floors)
    # Ranges for a tuner: name → ("log", lo, hi) | ("float", lo, hi) | ("int", lo, hi) | ("cat", [choices])
    search_space: ClassVar[dict[str, tuple]] = {}

    @classmethod
    def describe(cls) -> dict:
        """What a run records of its method in ``config.json`` (``method_info``), so that reports
        read it from the run and never import the method: summary, flag and default settings."""
        return {"summary": cls.summary, "meta_trained": cls.meta_trained, "defaults": as_dict(cls.Config())}

    def __init__(self, config: MethodConfig, model: RecModel, train: TrainConfig) -> None:
        super().__init__()
        self.config = config
        self.train_config = train
        self.epoch = 0
        first_adapted(len(model.decision_params()), train.adapt)  # an unknown ``adapt`` fails here

    def inner_lr(self, user_vectors: Tensor, users: Tensor | None = None) -> LearningRate:
        """The inner learning rate for these users (scalar, per user ``[U]`` or per parameter).

        ``users`` are the users' row ids (``Batch.users``), for methods whose rate depends on
        who the user is, not only on the embedding (AT-PAML leaves a user's own memory out).
        """
        raise NotImplementedError

    def initial_params(self, model: RecModel, user_vectors: Tensor, users: Tensor) -> list[Tensor] | None:
        """Each user's starting decision weights θ_u⁰ ``[U, ...]``; None: the shared θ (MAML)."""
        return None

    def init_fn(self, model: RecModel) -> InitFn | None:
        """``initial_params`` bound to ``model`` for the engine, or None when θ is shared."""
        if type(self).initial_params is Method.initial_params:
            return None
        return lambda user_vectors, users: self.initial_params(model, user_vectors, users)

    def per_user_reference(self, model: RecModel, batch: Batch) -> list[Tensor] | None:
        """Query outputs computed one user at a time, unpadded, for the batched == loop check.

        None: the engine's MAML reference (``coldbench.engine.reference``) applies. Methods that replace
        the inner loop (TaNP) return their own per-user computation here.
        """
        return None

    def inner_loop(self, model: RecModel, batch: Batch, *, training: bool) -> InnerLoopOutput:
        """Adapt every user of ``batch`` on its support set and score its query set."""
        return run_inner_loop(
            model,
            batch,
            self.inner_lr,
            self.train_config.inner_steps,
            create_graph=training,
            first_order=self.train_config.first_order,
            with_grad_norm=self.with_grad_norm and training,
            buckets=self.train_config.buckets,
            implicit=self.train_config.implicit_step,
            adapt=self.train_config.adapt,
            init_fn=self.init_fn(model),
        )

    def outer_loss(self, output: InnerLoopOutput) -> Tensor:
        """The meta-objective of one meta-batch: mean query loss over its users."""
        return output.query_loss.mean()

    def training_loss(self, model: RecModel, batch: Batch) -> tuple[Tensor, InnerLoopOutput]:
        """Loss to minimise on one meta-batch of training users."""
        output = self.inner_loop(model, batch, training=True)
        return self.outer_loss(output), output

    def evaluate_batch(self, model: RecModel, batch: Batch) -> InnerLoopOutput:
        """Adapt on support, predict query (validation and test users); no meta-gradient."""
        with torch.no_grad():
            return self.inner_loop(model, batch, training=False)

    def start_epoch(self, epoch: int) -> None:
        """Called before each training epoch (e.g. warm-up phases)."""
        self.epoch = epoch

    def after_outer_step(self, output: InnerLoopOutput) -> None:
        """Called after each optimizer step (e.g. to refresh a memory)."""

    def fit(self, train: SplitData) -> None:
        """Fit in closed form on the training users (methods with ``meta_trained = False``)."""
        raise NotImplementedError(f"{self.name} is meta-trained; it has no closed-form fit")

    def start_evaluation(self, split: str) -> None:
        """Called before the users of ``split`` are evaluated (e.g. to reset diagnostics)."""

    def diagnostics(self) -> dict[str, float]:
        """Numbers worth recording in ``metrics.json`` beside the metrics (e.g. memory use)."""
        return {}


METHODS: Registry[type[Method]] = Registry("method")


def register_method(cls: type[Method]) -> type[Method]:
    """Class decorator: register a method under its ``name``."""
    return METHODS.register(cls.name)(cls)
