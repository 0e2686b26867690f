"""Transfer learning and the no-adaptation floor.

``transfer`` trains one global model on all of the training users' interactions (support and
query alike, plain supervised regression), then fine-tunes it on each evaluated user's support set
with plain gradient steps before predicting the query set. ``global`` is the same model with no
fine-tuning at all: a sanity floor that every meta-learning method should beat.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from coldbench.engine.batched import Batch, InnerLoopOutput, run_inner_loop
from coldbench.engine.model import RecModel, decide
from coldbench.methods.base import Method, MethodConfig, register_method


@dataclass
class TransferConfig(MethodConfig):
    outer_lr: float = 5e-5
    finetune_lr: float = 1e-3  # SGD rate of the per-user fine-tuning (as PAML's largest rate)
    finetune_steps: int = 1  # SGD steps on the support set at evaluation


@register_method
class Transfer(Method):
    name = "transfer"
    summary = "Global model on all training interactions, fine-tuned on each test user's support set"
    Config = TransferConfig
    search_space = {  # for `coldbench tune`
        "outer_lr": ("log", 1e-6, 1e-2),
        "finetune_lr": ("log", 1e-5, 1e-1),
        "finetune_steps": ("int", 1, 5),
    }

    def inner_lr(self, user_vectors: Tensor, users: Tensor | None = None) -> Tensor:
        return torch.tensor(self.config.finetune_lr, dtype=user_vectors.dtype, device=user_vectors.device)

    def training_loss(self, model: RecModel, batch: Batch) -> tuple[Tensor, InnerLoopOutput]:
        user_vectors = model.user_embedding(batch.users)
        params = model.decision_params()
        errors, counts = [], []
        for items, targets, mask in (
            (batch.support_items, batch.support_targets, batch.support_mask),
            (batch.query_items, batch.query_targets, batch.query_mask),
        ):
            predictions = decide(params, model.fuse(user_vectors, model.item_embedding(items)))
            errors.append((model.task.elementwise_loss(predictions, targets) * mask).sum(1))
            counts.append(mask.sum(1))
        per_user = (errors[0] + errors[1]) / (counts[0] + counts[1])
        loss = (errors[0].sum() + errors[1].sum()) / (counts[0].sum() + counts[1].sum())
        output = InnerLoopOutput(per_user, predictions, user_vectors, self.inner_lr(user_vectors), None)
        return loss, output

    def evaluate_batch(self, model: RecModel, batch: Batch) -> InnerLoopOutput:
        with torch.no_grad():
            return run_inner_loop(
                model,
                batch,
                self.inner_lr,
                self.config.finetune_steps,
                create_graph=False,
                buckets=self.train_config.buckets,
                implicit=self.train_config.implicit_step,
            )


@dataclass
class GlobalConfig(TransferConfig):
    finetune_lr: float = 0.0  # no adaptation
    finetune_steps: int = 0


@register_method
class GlobalModel(Transfer):
    name = "global"
    summary = "Global model on all training interactions, no per-user adaptation (sanity floor)"
    Config = GlobalConfig
    search_space = {"outer_lr": ("log", 1e-6, 1e-2)}  # for `coldbench tune` (no fine-tuning to tune)
