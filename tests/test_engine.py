"""The batched engine against the plain per-user reference loop, in float64."""

from __future__ import annotations

import pytest
import torch

from coldbench.config import TrainConfig
from coldbench.engine import batched as engine
from coldbench.engine.batched import run_inner_loop
from coldbench.engine.reference import reference_inner_loop
from coldbench.testing import build_method, ragged_batch, tiny_dataset

TOL = 1e-10


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return tiny_dataset(tmp_path_factory.mktemp("engine"))


def _lr_forms(model, n_params):
    """A scalar, a per-user (depends on the user embedding) and a per-parameter rate."""
    per_parameter = [
        torch.full_like(p, 1e-2 * (i + 1)).requires_grad_() for i, p in enumerate(model.decision_params())
    ]
    scale = torch.tensor(0.05, dtype=torch.float64, requires_grad=True)
    return {
        "scalar": lambda h, users=None: torch.tensor(0.03, dtype=h.dtype),
        "per_user": lambda h, users=None: scale * torch.sigmoid(h.sum(-1)),
        "per_parameter": lambda h, users=None: per_parameter,
    }, [scale, *per_parameter]


def _meta_params(model, extra):
    return [*model.parameters(), *extra]


def _grads(loss, params):
    return torch.autograd.grad(loss, params, allow_unused=True)


@pytest.mark.parametrize("steps", [1, 2])
@pytest.mark.parametrize("first_order", [False, True])
@pytest.mark.parametrize("lr_form", ["scalar", "per_user", "per_parameter"])
@pytest.mark.parametrize("buckets,implicit", [(1, False), (3, False), (1, True), (3, True)])
def test_batched_equals_per_user_loop(data, steps, first_order, lr_form, buckets, implicit):
    _check_against_loop(data, steps, first_order, lr_form, buckets, implicit)


@pytest.mark.parametrize("first_order", [False, True])
@pytest.mark.parametrize("lr_form", ["scalar", "per_user"])
@pytest.mark.parametrize("form", ["gram", "outer product"])
def test_implicit_step_forms_equal_per_user_loop(data, first_order, lr_form, form, monkeypatch):
    """Each layer's one-step correction and gradient norm, through Gram products or through G_u = A_uᵀΔ_u."""
    monkeypatch.setattr(engine, "use_outer_product", lambda *shape: form == "outer product")
    _check_against_loop(data, 1, first_order, lr_form, buckets=2, implicit=True)


def test_the_cheaper_form_is_chosen_from_the_shapes():
    assert engine.use_outer_product(400, 100, 288, 320, with_grad_norm=True)  # ML-1M-sized support
    assert not engine.use_outer_product(20, 5, 288, 320, with_grad_norm=True)
    assert not engine.use_outer_product(400, 100, 288, 320, with_grad_norm=False)  # no S² term
    assert engine.use_outer_product(50, 12, 192, 1, with_grad_norm=False)  # the output layer


def _check_against_loop(data, steps, first_order, lr_form, buckets, implicit):
    model, _ = build_method("melu", data)
    forms, extra = _lr_forms(model, len(model.decision_params()))
    lr_fn = forms[lr_form]
    batch = ragged_batch(data)
    params = _meta_params(model, extra)

    out = run_inner_loop(
        model,
        batch,
        lr_fn,
        steps,
        create_graph=True,
        first_order=first_order,
        with_grad_norm=True,
        buckets=buckets,
        implicit=implicit,
    )
    ref_losses, ref_norms, _ = reference_inner_loop(model, batch, lr_fn, steps, first_order=first_order)

    torch.testing.assert_close(out.query_loss, ref_losses, rtol=0, atol=TOL)
    torch.testing.assert_close(out.support_grad_sq_norm, ref_norms, rtol=0, atol=TOL)
    batched = _grads(out.query_loss.mean() + 1e-3 * out.support_grad_sq_norm.sum(), params)
    reference = _grads(ref_losses.mean() + 1e-3 * ref_norms.sum(), params)
    compared = 0
    for got, want in zip(batched, reference, strict=True):
        if want is None:
            assert got is None or torch.count_nonzero(got) == 0
            continue
        torch.testing.assert_close(got, want, rtol=0, atol=TOL)
        compared += 1
    assert compared >= len(list(model.parameters()))  # every model parameter got a meta-gradient


def test_second_order_differs_from_first_order(data):
    """Guards the equality test: the two orders must give different meta-gradients."""
    model, _ = build_method("melu", data)
    batch = ragged_batch(data)
    grads = []
    for first_order in (False, True):
        out = run_inner_loop(
            model,
            batch,
            lambda h, users=None: torch.tensor(0.1, dtype=h.dtype),
            1,
            create_graph=True,
            first_order=first_order,
        )
        grads.append(_grads(out.query_loss.mean(), model.decision_params())[0])
    assert (grads[0] - grads[1]).abs().max() > 1e-8


@pytest.mark.parametrize("steps,implicit", [(2, False), (1, False), (1, True)])
def test_evaluation_path_equals_reference_predictions(data, steps, implicit):
    model, _ = build_method("melu", data)
    batch = ragged_batch(data)
    lr_fn = lambda h, users=None: 0.05 * torch.sigmoid(h.sum(-1))  # noqa: E731
    with torch.no_grad():
        out = run_inner_loop(model, batch, lr_fn, steps, create_graph=False, buckets=2, implicit=implicit)
    _, _, reference = reference_inner_loop(model, batch, lr_fn, steps, create_graph=False)
    for user, want in enumerate(reference):
        got = out.query_predictions[user, : len(want)]
        torch.testing.assert_close(got, want.detach(), rtol=0, atol=TOL)
    assert not out.query_predictions.requires_grad


def test_one_inner_step_lowers_support_loss(data):
    model, _ = build_method("melu", data)
    batch = ragged_batch(data)
    from coldbench.data.tasks import RATING
    from coldbench.engine.batched import adapt
    from coldbench.engine.model import decide

    vectors = model.user_embedding(batch.users)
    support = model.fuse(vectors, model.item_embedding(batch.support_items))
    before = RATING.masked_loss(
        decide(model.decision_params(), support), batch.support_targets, batch.support_mask
    )
    adapted = adapt(
        model.decision_params(),
        support,
        batch.support_targets,
        batch.support_mask,
        torch.tensor(1e-2, dtype=torch.float64),
        1,
        create_graph=False,
    )
    after = RATING.masked_loss(decide(adapted.fast, support), batch.support_targets, batch.support_mask)
    assert torch.all(after < before)


def test_train_config_default_matches_paper():
    """Table 7's sizes by default; its 20 epochs without early stopping under --preset paper."""
    from dataclasses import replace

    from coldbench.config import preset_settings

    config = replace(TrainConfig(), **preset_settings("paper"))
    assert (config.epochs, config.batch_size, config.embedding_dim, config.hidden) == (20, 32, 32, (320, 192))
    assert config.patience == 0 and TrainConfig().patience > 0


def test_embedding_each_distinct_row_once_equals_row_by_row(data):
    """Values and gradients of the deduplicated embedding equal those of the entry-by-entry one."""
    model, _ = build_method("melu", data)
    embedding = model.item_embedding
    rows = torch.tensor([[3, 1, 3, 0, 0], [1, 2, 2, 0, 0]])  # repeats and padding, as in a meta-batch
    weights = torch.randn(*rows.shape, embedding.output_dim, dtype=torch.float64)
    values = []
    for forward in (embedding, embedding.embed):
        embedding.zero_grad(set_to_none=True)
        out = forward(rows)
        (out * weights).sum().backward()
        values.append((out.detach(), [t.weight.grad.clone() for t in embedding.tables]))
    torch.testing.assert_close(values[0][0], values[1][0], rtol=0, atol=TOL)
    for got, want in zip(values[0][1], values[1][1], strict=True):
        torch.testing.assert_close(got, want, rtol=0, atol=TOL)
    assert values[0][0].shape == (*rows.shape, embedding.output_dim)
