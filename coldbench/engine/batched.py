"""The batched inner loop: every user of a meta-batch adapts at once.

Per-user fast weights carry a leading user dimension (``baddbmm``), support and query sets are
padded with float masks, and embeddings are computed once, outside the inner loop. The inner
learning rate is an input: a scalar, one value per user (PAML family) or one tensor per decision
parameter (Meta-SGD), so a method only decides *which* rate, never how the step is taken.
A plain per-user loop of the same maths lives in ``coldbench.engine.reference`` for tests/benchmarks.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import torch
from torch import Tensor
from torch.nn import functional as F

from coldbench.data.tasks import RATING
from coldbench.engine.model import RecModel, decide
from coldbench.errors import ColdbenchError

if TYPE_CHECKING:  # pandas: only the data layer needs it at run time
    from coldbench.data.features import SplitData, UserRows

LearningRate = Tensor | list[Tensor]
InitFn = Callable[[Tensor, Tensor], list[Tensor]]  # (user_vectors, users) → per-user θ_u⁰, leading dim U

ADAPT_CHOICES = ("decision", "last")  # which decision layers the inner loop adapts (``all``: not supported)


def first_adapted(n_params: int, adapt: str) -> int:
    """Index of the first decision parameter the inner loop adapts: 0 (``decision``) or the last layer's."""
    if adapt == "decision":
        return 0
    if adapt == "last":
        return n_params - 2
    if adapt == "all":
        raise ColdbenchError(
            "--set adapt=all: adapting the embeddings per user is not supported by the batched engine; "
            "use adapt=decision or adapt=last"
        )
    raise ColdbenchError(f"--set adapt={adapt!r}: expected one of {', '.join(ADAPT_CHOICES)}")


def frozen_features(params: list[Tensor], x: Tensor) -> Tensor:
    """The decision layers ``params`` that do not adapt, each with ReLU: the adapted layers' input."""
    hidden = x
    for weight, bias in zip(params[0::2], params[1::2]):
        if weight.dim() == 3:
            hidden = torch.baddbmm(bias.unsqueeze(1), hidden, weight)
        else:
            hidden = hidden @ weight + bias
        hidden = F.relu(hidden)
    return hidden


@dataclass
class Batch:
    """Padded support/query rows of a group of users of one split."""

    positions: np.ndarray  # positions of the users within their split
    users: Tensor  # [U] user rows in the feature tables
    support_items: Tensor  # [U, S]
    support_targets: Tensor  # [U, S]
    support_mask: Tensor  # [U, S] float, 1 for real rows
    query_items: Tensor  # [U, Q]
    query_targets: Tensor
    query_mask: Tensor

    def __len__(self) -> int:
        return len(self.positions)

    def trimmed(self) -> Batch:
        """The same users with support and query widths cut to their largest real size."""
        support = max(int(self.support_mask.sum(1).max()), 1)
        query = max(int(self.query_mask.sum(1).max()), 1)
        return Batch(
            self.positions,
            self.users,
            self.support_items[:, :support],
            self.support_targets[:, :support],
            self.support_mask[:, :support],
            self.query_items[:, :query],
            self.query_targets[:, :query],
            self.query_mask[:, :query],
        )

    def subset(self, index: Tensor) -> Batch:
        """The users at ``index`` (a LongTensor of positions within this batch)."""
        sel = index.cpu().numpy()
        return Batch(
            self.positions[sel],
            *(
                t[index]
                for t in (
                    self.users,
                    self.support_items,
                    self.support_targets,
                    self.support_mask,
                    self.query_items,
                    self.query_targets,
                    self.query_mask,
                )
            ),
        )


def _pad(rows: UserRows, positions: np.ndarray, dtype: torch.dtype, device) -> tuple[Tensor, Tensor, Tensor]:
    starts = rows.offsets[positions]
    sizes = rows.offsets[positions + 1] - starts
    width = max(int(sizes.max()), 1)
    column = np.arange(width)
    mask = column[None, :] < sizes[:, None]
    index = np.where(mask, starts[:, None] + column[None, :], 0)
    # no rows at all (a 0-shot support): every index is 0 (padding), so index a one-row stand-in
    source_items = rows.items if len(rows.items) else np.zeros(1, rows.items.dtype)
    source_targets = rows.targets if len(rows.targets) else np.zeros(1, rows.targets.dtype)
    items = torch.from_numpy(np.where(mask, source_items[index], 0))
    targets = torch.from_numpy(np.where(mask, source_targets[index], 0.0)).to(dtype)
    return items.to(device), targets.to(device), torch.from_numpy(mask).to(dtype).to(device)


def make_batch(
    split: SplitData,
    positions: np.ndarray,
    dtype: torch.dtype = torch.float32,
    device: torch.device | str = "cpu",
) -> Batch:
    """Gather and pad the support and query rows of the users at ``positions``."""
    positions = np.asarray(positions, dtype=np.int64)
    users = torch.from_numpy(split.users[positions]).to(device)
    return Batch(
        positions,
        users,
        *_pad(split.support, positions, dtype, device),
        *_pad(split.query, positions, dtype, device),
    )


LossFn = Callable[[Tensor, Tensor, Tensor], Tensor]  # (outputs, targets, mask) → per-user loss [U]


def _squeeze(outputs: Tensor) -> Tensor:
    """Drop a scalar output's last dimension (ratings); keep a two-way output (ctr)."""
    return outputs.squeeze(-1) if outputs.shape[-1] == 1 else outputs


def _pad_rows(outputs: Tensor, width: int) -> Tensor:
    """Zero-pad dimension 1 (rows of a user) of ``[U, N]`` or ``[U, N, C]`` to ``width``."""
    extra = width - outputs.shape[1]
    return F.pad(outputs, (0, extra) if outputs.dim() == 2 else (0, 0, 0, extra))


def scale_gradient(lr: LearningRate, index: int, grad: Tensor) -> Tensor:
    """``lr * grad`` for the ``index``-th parameter, whatever the learning rate's form."""
    if isinstance(lr, list | tuple):
        return lr[index] * grad  # per parameter (Meta-SGD), broadcast over users
    if lr.dim() == 0:
        return lr * grad
    return lr.reshape(-1, *([1] * (grad.dim() - 1))) * grad  # per user


def per_user_rate(lr: LearningRate, n_users: int) -> Tensor:
    """One number per user to record: the rate itself, or the mean of per-parameter rates."""
    if isinstance(lr, list | tuple):
        total = sum(rate.sum() for rate in lr)
        count = sum(rate.numel() for rate in lr)
        return (total / count).detach().expand(n_users)
    return lr.detach().expand(n_users) if lr.dim() == 0 else lr.detach()


@dataclass
class Adapted:
    fast: list[Tensor]  # per-user fast weights, leading dimension U
    support_grad_sq_norm: Tensor | None  # ‖∇θ L_support(θ)‖² per user at the first step


def adapt(
    params: list[Tensor],
    inputs: Tensor,
    targets: Tensor,
    mask: Tensor,
    lr: LearningRate,
    steps: int,
    *,
    create_graph: bool,
    first_order: bool = False,
    with_grad_norm: bool = False,
    loss_fn: LossFn = RATING.masked_loss,
    per_user: bool = False,
) -> Adapted:
    """Take ``steps`` gradient steps per user on the support loss, all users at once.

    ``create_graph`` keeps the graph for the meta-gradient (training); ``first_order`` then drops
    the second-order terms (the step uses detached gradients; the rate stays differentiable).
    ``with_grad_norm`` also returns each user's squared support-gradient norm at θ (REG-PAML).
    ``per_user``: ``params`` already carry the user dimension (a personalised θ_u⁰, e.g. MAMO).
    """
    n_users = inputs.shape[0]
    fast = list(params) if per_user else [p.unsqueeze(0).expand(n_users, *p.shape) for p in params]
    if not create_graph and steps:
        fast = [w.detach().clone().requires_grad_() for w in fast]
    grad_sq_norm = None
    for step in range(steps):
        with torch.enable_grad():
            loss = loss_fn(decide(fast, inputs), targets, mask)
            keep_graph = create_graph and (not first_order or (with_grad_norm and step == 0))
            grads = torch.autograd.grad(loss.sum(), fast, create_graph=keep_graph)
        if with_grad_norm and step == 0:
            grad_sq_norm = sum(g.pow(2).flatten(1).sum(1) for g in grads)
        if first_order or not create_graph:
            grads = [g.detach() for g in grads]
        fast = [w - scale_gradient(lr, i, g) for i, (w, g) in enumerate(zip(fast, grads))]
        if not create_graph:
            fast = [w.detach().requires_grad_() for w in fast]
    return Adapted(fast, grad_sq_norm)


_adapt_users = adapt  # ``run_inner_loop`` has a setting named ``adapt``


class Packing:
    """The real rows of a padded ``[U, N, ...]`` tensor as one ``[R, ...]`` block, and back.

    Shared-weight layers run on the packed rows only, so padding costs no matrix-product FLOPs;
    per-user products (the Gram terms) unpack to ``[U, N, ...]`` with zero rows where padded.
    """

    def __init__(self, mask: Tensor) -> None:
        self.shape = mask.shape
        self.index = mask.reshape(-1).nonzero().squeeze(1)
        self.dense = len(self.index) == mask.numel()  # no padding: packing is a reshape

    def pack(self, padded: Tensor) -> Tensor:
        flat = padded.reshape(-1, padded.shape[-1])
        return flat if self.dense else flat.index_select(0, self.index)

    def owners(self) -> Tensor:
        """The user (position in the batch) of every packed row."""
        return torch.div(self.index, self.shape[1], rounding_mode="floor")

    def first_layer(self, padded: Tensor, weight: Tensor, bias: Tensor, users: Tensor | None) -> Tensor:
        """``x W + b`` on the packed rows; ``users``: the last columns of ``x`` are each row's user
        vector, whose product is then taken once per user instead of once per row."""
        if users is None:
            return torch.addmm(bias, self.pack(padded), weight)
        split = padded.shape[-1] - users.shape[-1]
        per_user = torch.addmm(bias, users, weight[split:])  # [U, out]
        return torch.addmm(
            per_user.index_select(0, self.owners()), self.pack(padded[..., :split]), weight[:split]
        )

    def unpack(self, packed: Tensor) -> Tensor:
        if not self.dense:
            full = packed.new_zeros(self.shape.numel(), packed.shape[-1])
            packed = full.index_copy(0, self.index, packed)
        return packed.reshape(*self.shape, packed.shape[-1])


def use_outer_product(n_support: int, n_query: int, n_in: int, n_out: int, with_grad_norm: bool) -> bool:
    """Whether a layer's step is cheaper through each user's weight gradient ``G_u = A_uᵀΔ_u``.

    The Gram form costs ``Q·S·(n_in + n_out)`` multiply-adds per user for the query correction, and
    ``S²·(n_in + n_out)`` more for the gradient norm; the outer-product form ``S·n_in·n_out`` for
    ``G_u`` and ``Q·n_in·n_out`` to apply it (``‖G_u‖²`` then gives the norm). Both are exact.
    """
    gram = n_query * n_support * (n_in + n_out)
    if with_grad_norm:
        gram += n_support * n_support * (n_in + n_out)
    return (n_support + n_query) * n_in * n_out < gram


def adapt_one_step_implicit(
    params: list[Tensor],
    support: Tensor,
    support_targets: Tensor,
    support_mask: Tensor,
    query: Tensor,
    lr: Tensor,
    *,
    create_graph: bool,
    first_order: bool = False,
    with_grad_norm: bool = False,
    loss_fn: LossFn = RATING.masked_loss,
    query_mask: Tensor | None = None,
    user_vectors: Tensor | None = None,
) -> tuple[Tensor, Tensor | None]:
    """One SGD step per user without materialising per-user weights; returns query predictions.

    For a layer with support inputs ``A_u`` and output gradients ``Δ_u``, the step gives
    ``W_u = W − α_u A_uᵀΔ_u`` and ``b_u = b − α_u ΣΔ_u``, so on query inputs ``a``:
    ``a W_u + b_u = a W + b − α_u [(a A_uᵀ) Δ_u + ΣΔ_u]``. The support pass runs with the shared
    weights (one matrix product per layer) and the per-user work shrinks to small query×support
    Gram products. ``‖∇θ L_u‖² = Σ_l Σ (A_u A_uᵀ) ⊙ (Δ_u Δ_uᵀ) + ‖ΣΔ_u‖²``. Padded rows have
    Δ = 0 (the loss is masked), so they drop out of every product. Exact for a scalar or per-user rate.
    The shared-weight products run on the real rows only (``Packing``); with ``query_mask`` the
    query rows are packed too, and padded query rows then score the per-user correction alone.
    ``user_vectors`` ``[U, Du]``: the inputs' last ``Du`` columns are the user's vector on every
    row (the fusing layer), so the first layer multiplies it once per user, not once per row.
    Where a layer's support set is long, the per-user weight gradient ``G_u = A_uᵀΔ_u`` is cheaper
    than the Gram products: then ``a W_u + b_u = a W + b − α_u (a G_u + ΣΔ_u)`` and ``‖G_u‖²`` is
    the norm (``use_outer_product`` decides per layer from the shapes).
    """
    weights, biases = params[0::2], params[1::2]
    last = len(weights) - 1
    rows = Packing(support_mask)
    with torch.enable_grad():
        inputs, outputs = [], []
        hidden = support
        for layer, (weight, bias) in enumerate(zip(weights, biases)):
            if layer == 0:
                outputs.append(rows.first_layer(support, weight, bias, user_vectors))
                inputs.append(support)
            else:
                inputs.append(hidden)
                outputs.append(torch.addmm(bias, hidden, weight))
            hidden = F.relu(outputs[-1]) if layer < last else outputs[-1]
        loss = loss_fn(_squeeze(rows.unpack(hidden)), support_targets, support_mask).sum()
        keep_graph = create_graph and (not first_order or with_grad_norm)
        deltas = list(torch.autograd.grad(loss, outputs, create_graph=keep_graph))
    inputs = [inputs[0], *(rows.unpack(a) for a in inputs[1:])]
    deltas = [rows.unpack(d) for d in deltas]

    n_support, n_query = support.shape[1], query.shape[1]
    outer = [use_outer_product(n_support, n_query, w.shape[0], w.shape[1], with_grad_norm) for w in weights]
    products = [a.transpose(1, 2) @ d if use else None for a, d, use in zip(inputs, deltas, outer)]
    grad_sq_norm = None
    if with_grad_norm:
        grad_sq_norm = sum(
            (
                g.pow(2).sum((1, 2))
                if g is not None
                else ((a @ a.transpose(1, 2)) * (d @ d.transpose(1, 2))).sum((1, 2))
            )
            + d.sum(1).pow(2).sum(1)
            for a, d, g in zip(inputs, deltas, products)
        )
    if first_order or not create_graph:
        inputs = [a.detach() for a in inputs]
        deltas = [d.detach() for d in deltas]
        products = [g.detach() if g is not None else None for g in products]

    rate = lr if lr.dim() == 0 else lr.reshape(-1, 1, 1)
    queries = Packing(query_mask) if query_mask is not None else Packing(query.new_ones(query.shape[:2]))
    hidden = query
    for layer, (weight, bias) in enumerate(zip(weights, biases)):
        a, d, g = inputs[layer], deltas[layer], products[layer]
        per_row = hidden @ g if g is not None else (hidden @ a.transpose(1, 2)) @ d
        correction = per_row + d.sum(1, keepdim=True)
        if layer == 0:
            shared = queries.unpack(queries.first_layer(hidden, weight, bias, user_vectors))
        else:
            shared = queries.unpack(torch.addmm(bias, queries.pack(hidden), weight))
        out = shared - rate * correction
        hidden = F.relu(out) if layer < last else out
    return _squeeze(hidden), grad_sq_norm


@dataclass
class InnerLoopOutput:
    """What a meta-batch produced; methods build their outer loss from it."""

    query_loss: Tensor  # [U] query MSE after adaptation
    query_predictions: Tensor  # raw outputs [U, Q] (rating) or [U, Q, 2] (ctr logits)
    user_vectors: Tensor  # [U, Du] user embeddings h_i
    lr: LearningRate
    support_grad_sq_norm: Tensor | None
    fast: list[Tensor] | None = None  # adapted per-user weights [U, ...] when asked for (``keep_fast``)


def _groups(batch: Batch, buckets: int) -> list[Tensor | None]:
    """Users sorted by support size and cut into ``buckets`` groups (``[None]``: the whole batch)."""
    if buckets <= 1 or len(batch) <= 1:
        return [None]
    order = torch.argsort(batch.support_mask.sum(1), stable=True)
    return [group for group in torch.tensor_split(order, min(buckets, len(batch))) if len(group)]


def run_inner_loop(
    model: RecModel,
    batch: Batch,
    lr_fn,
    steps: int,
    *,
    create_graph: bool,
    first_order: bool = False,
    with_grad_norm: bool = False,
    buckets: int = 1,
    implicit: bool = True,
    adapt: str = "decision",
    init_fn: InitFn | None = None,
    keep_fast: bool = False,
) -> InnerLoopOutput:
    """Embed once, get the inner rate from ``lr_fn(user_vectors, users)``, adapt, score the query set.

    One step with a scalar or per-user rate takes the implicit path (``adapt_one_step_implicit``)
    unless ``implicit`` is False; otherwise fast weights are materialised per user (``adapt``).
    ``buckets`` > 1 sorts users by support size and adapts each group separately with its own
    padded widths. The rate is computed for the whole batch first, so methods see it at once.
    ``adapt`` says which decision layers adapt (``decision``: all; ``last``: the output layer, the
    layers before it run once as a fixed feature map). ``init_fn`` gives each user its own starting
    weights θ_u⁰ (materialised path); ``keep_fast`` returns the adapted weights (materialised path).
    """
    loss_fn = model.task.masked_loss
    user_vectors = model.user_embedding(batch.users)
    support_items = model.item_embedding(batch.support_items)
    query_items = model.item_embedding(batch.query_items)
    lr = lr_fn(user_vectors, batch.users)
    per_parameter = isinstance(lr, list | tuple)
    params = model.decision_params() if init_fn is None else init_fn(user_vectors, batch.users)
    start = first_adapted(len(params), adapt)
    rate_all = lr[start:] if per_parameter else lr
    use_implicit = implicit and steps == 1 and not per_parameter and init_fn is None and not keep_fast
    groups = _groups(batch, buckets)
    fused_last = type(model).fuse is RecModel.fuse  # the user's vector is the inputs' last columns

    def rows(tensor: Tensor | None, group: Tensor | None) -> Tensor | None:
        return tensor if group is None or tensor is None else tensor[group]

    losses, predictions, norms, fasts = [], [], [], []
    for group in groups:
        part = batch if group is None else batch.subset(group).trimmed()
        vectors = rows(user_vectors, group)
        rate = rate_all if group is None or per_parameter or lr.dim() == 0 else lr[group]
        own = params if init_fn is None else [rows(p, group) for p in params]
        n_support, n_query = part.support_mask.shape[1], part.query_mask.shape[1]
        support_part = support_items if group is None else support_items[group, :n_support]
        query_part = query_items if group is None else query_items[group, :n_query]
        support = frozen_features(own[:start], model.fuse(vectors, support_part))
        query = frozen_features(own[:start], model.fuse(vectors, query_part))
        if use_implicit:
            predicted, norm = adapt_one_step_implicit(
                own[start:],
                support,
                part.support_targets,
                part.support_mask,
                query,
                rate,
                create_graph=create_graph,
                first_order=first_order,
                with_grad_norm=with_grad_norm,
                loss_fn=loss_fn,
                query_mask=part.query_mask,
                user_vectors=vectors if start == 0 and fused_last else None,
            )
        else:
            adapted = _adapt_users(
                own[start:],
                support,
                part.support_targets,
                part.support_mask,
                rate,
                steps,
                create_graph=create_graph,
                first_order=first_order,
                with_grad_norm=with_grad_norm,
                loss_fn=loss_fn,
                per_user=init_fn is not None,
            )
            predicted, norm = decide(adapted.fast, query), adapted.support_grad_sq_norm
            fasts.append(adapted.fast)
        losses.append(loss_fn(predicted, part.query_targets, part.query_mask))
        predictions.append(_pad_rows(predicted, batch.query_mask.shape[1]))
        norms.append(norm)

    if group is None:
        fast = fasts[0] if keep_fast else None
        return InnerLoopOutput(losses[0], predictions[0], user_vectors, lr, norms[0], fast)
    inverse = torch.argsort(torch.cat(groups))
    fast = None
    if keep_fast:
        fast = [torch.cat([f[i] for f in fasts])[inverse] for i in range(len(fasts[0]))]
    return InnerLoopOutput(
        query_loss=torch.cat(losses)[inverse],
        query_predictions=torch.cat(predictions)[inverse],
        user_vectors=user_vectors,
        lr=lr,
        support_grad_sq_norm=torch.cat(norms)[inverse] if with_grad_norm else None,
        fast=fast,
    )
