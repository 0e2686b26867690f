"""A plain per-user loop of the engine's maths: the reference the batched engine is tested against.

Slow on purpose and written for reading: one user at a time, no padding, no user dimension.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

from coldbench.engine.batched import Batch, InitFn, LearningRate, first_adapted
from coldbench.engine.model import RecModel, decide


def _rate(lr: LearningRate, index: int) -> Tensor:
    if isinstance(lr, list | tuple):
        return lr[index]
    return lr if lr.dim() == 0 else lr[0]


def reference_inner_loop(
    model: RecModel,
    batch: Batch,
    lr_fn: Callable[[Tensor, Tensor], LearningRate],
    steps: int,
    *,
    first_order: bool = False,
    create_graph: bool = True,
    adapt: str = "decision",
    init_fn: InitFn | None = None,
) -> tuple[Tensor, Tensor, list[Tensor]]:
    """Per user: adapt on its own support rows, score its own query rows.

    Only the decision parameters from ``first_adapted(adapt)`` on take steps; the others stay as
    they are. ``init_fn`` gives the user's own starting weights (its first row is this user's).
    Returns ``(query_losses [U], support_grad_sq_norms [U], query_predictions per user)``.
    """
    losses, norms, predictions = [], [], []
    for user in range(len(batch)):
        n_support = int(batch.support_mask[user].sum())
        n_query = int(batch.query_mask[user].sum())
        vector = model.user_embedding(batch.users[user : user + 1])  # [1, Du]
        lr = lr_fn(vector, batch.users[user : user + 1])
        support = model.fuse(vector, model.item_embedding(batch.support_items[user : user + 1, :n_support]))[
            0
        ]
        query = model.fuse(vector, model.item_embedding(batch.query_items[user : user + 1, :n_query]))[0]
        support_targets = batch.support_targets[user, :n_support]
        if init_fn is None:
            fast = model.decision_params()
        else:
            fast = [p[0] for p in init_fn(vector, batch.users[user : user + 1])]
        start = first_adapted(len(fast), adapt)
        for step in range(steps):
            loss = model.task.elementwise_loss(decide(fast, support), support_targets).mean()
            grads = torch.autograd.grad(loss, fast[start:], create_graph=create_graph)
            if step == 0:
                norms.append(sum(g.pow(2).sum() for g in grads))
            if first_order or not create_graph:
                grads = [g.detach() for g in grads]
            fast = fast[:start] + [
                w - _rate(lr, start + i) * g for i, (w, g) in enumerate(zip(fast[start:], grads))
            ]
        prediction = decide(fast, query)
        predictions.append(prediction)
        losses.append(model.task.elementwise_loss(prediction, batch.query_targets[user, :n_query]).mean())
    norms_tensor = torch.stack(norms) if norms else torch.zeros(len(batch))
    return torch.stack(losses), norms_tensor, predictions


def method_reference(method, model: RecModel, batch: Batch, *, create_graph: bool = True):
    """``reference_inner_loop`` with everything a MAML-style method sets: its rate, steps, first
    order, which layers adapt and its per-user starting weights (``Method.initial_params``)."""
    train = method.train_config
    return reference_inner_loop(
        model,
        batch,
        method.inner_lr,
        train.inner_steps,
        first_order=train.first_order,
        create_graph=create_graph,
        adapt=train.adapt,
        init_fn=method.init_fn(model),
    )
