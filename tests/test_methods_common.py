"""Checks every registered method must pass; a new method is enrolled with no new test code."""

from __future__ import annotations

import copy
from dataclasses import fields

import pytest
import torch

from coldbench.config import TrainConfig
from coldbench.engine.reference import method_reference, reference_inner_loop
from coldbench.methods import METHODS
from coldbench.testing import build_method, ragged_batch, tiny_dataset
from coldbench.training.optim import Adam

TOL = 1e-10


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return tiny_dataset(tmp_path_factory.mktemp("common"))


TRAIN_KEYS = {f.name for f in fields(TrainConfig)}


def _warmed(name, data, **params):
    """A method past any warm-up, after one outer step (so memories hold entries).

    Keys of ``params`` that name ``TrainConfig`` fields (e.g. ``adapt``) set the engine's config.
    """
    train = {k: v for k, v in params.items() if k in TRAIN_KEYS}
    params = {k: v for k, v in params.items() if k not in TRAIN_KEYS}
    config = TrainConfig(hidden=(16, 8), embedding_dim=4, **train)
    model, method = build_method(name, data, train=config, **params)
    method.start_epoch(5)
    batch = ragged_batch(data, n_users=8)
    loss, output = method.training_loss(model, batch)
    loss.backward()
    method.after_outer_step(output)
    model.zero_grad()
    method.zero_grad()
    return model, method


def _is_meta(method) -> bool:
    return type(method).training_loss is METHODS.get("melu").training_loss


# Settings that change the maths: each must keep batched == per-user loop too.
VARIANTS = [(name, {}) for name in METHODS.names()] + [
    ("at-paml", {"kernel": "inverse"}),
    ("at-paml", {"memory_entries": "append"}),
    ("at-paml", {"nonnegative": False}),
    ("meta-sgd", {"bounded": True}),
    # Which layers adapt (TrainConfig.adapt): ANIL-style last layer, on both engine paths.
    ("melu", {"adapt": "last"}),
    ("melu", {"adapt": "last", "implicit_step": False}),
    ("melu", {"adapt": "last", "inner_steps": 2}),
    ("meta-sgd", {"adapt": "last"}),
    ("paml", {"adapt": "last"}),
    ("paml", {"adapt": "last", "first_order": True}),
    ("reg-paml", {"adapt": "last"}),
    ("at-paml", {"adapt": "last"}),
    ("mamo", {"adapt": "last"}),
    ("mamo", {"inner_steps": 2}),
    ("tanp", {"modulation": "gating"}),
    # An item-ID embedding beside the item features (TrainConfig.item_id), for every method.
    *[(name, {"item_id": True}) for name in METHODS.names()],
]
VARIANT_IDS = [name + "".join(f"-{k}={v}" for k, v in params.items()) for name, params in VARIANTS]


def _skip_floors(name: str) -> None:
    if not METHODS.get(name).meta_trained:
        pytest.skip(f"{name} is fitted in closed form (tests/test_floors.py)")


@pytest.mark.parametrize(("name", "params"), VARIANTS, ids=VARIANT_IDS)
def test_batched_training_equals_per_user_loop(data, name, params):
    _skip_floors(name)
    model, method = _warmed(name, data, **params)
    if not _is_meta(method):
        pytest.skip(f"{name} does not meta-train")
    batch = ragged_batch(data)
    output = method.inner_loop(model, batch, training=True)
    losses, norms, _ = method_reference(method, model, batch)
    torch.testing.assert_close(output.query_loss, losses, rtol=0, atol=TOL)
    params = [p for p in [*model.parameters(), *method.parameters()] if p.requires_grad]
    got = torch.autograd.grad(output.query_loss.mean(), params, allow_unused=True)
    want = torch.autograd.grad(losses.mean(), params, allow_unused=True)
    for g, w in zip(got, want, strict=True):
        if w is None:
            assert g is None or torch.count_nonzero(g) == 0
        else:
            torch.testing.assert_close(g, w, rtol=0, atol=TOL)


@pytest.mark.parametrize(("name", "params"), VARIANTS, ids=VARIANT_IDS)
def test_evaluation_equals_per_user_loop(data, name, params):
    _skip_floors(name)
    model, method = _warmed(name, data, **params)
    method.eval()
    batch = ragged_batch(data)
    output = method.evaluate_batch(model, batch)
    predictions = method.per_user_reference(model, batch)
    if predictions is None and hasattr(method.config, "finetune_steps"):  # transfer, global
        steps = method.config.finetune_steps
        _, _, predictions = reference_inner_loop(model, batch, method.inner_lr, steps, create_graph=False)
    elif predictions is None:
        _, _, predictions = method_reference(method, model, batch, create_graph=False)
    for user, want in enumerate(predictions):
        torch.testing.assert_close(
            output.query_predictions[user, : len(want)], want.detach(), rtol=0, atol=TOL
        )


@pytest.mark.parametrize("name", METHODS.names())
def test_meta_gradient_reaches_every_parameter(data, name):
    _skip_floors(name)
    model, method = _warmed(name, data)
    loss, _ = method.training_loss(model, ragged_batch(data, n_users=10))
    loss.backward()
    for label, module in (("model", model), ("method", method)):
        for param_name, param in module.named_parameters():
            assert param.grad is not None, f"{name}: {label}.{param_name} got no gradient"
            assert torch.count_nonzero(param.grad) > 0, f"{name}: {label}.{param_name} gradient is zero"


@pytest.mark.parametrize("name", METHODS.names())
def test_same_seed_same_numbers_and_config_untouched(data, name):
    _skip_floors(name)
    results = []
    for _ in range(2):
        model, method = build_method(name, data, seed=3)
        config = copy.deepcopy(method.config)
        optimizer = Adam([*model.parameters(), *method.parameters()], lr=1e-2)
        for positions in ([0, 1, 2, 3], [4, 5, 6, 7]):
            loss, output = method.training_loss(model, ragged_batch(data, n_users=len(positions)))
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            method.after_outer_step(output)
        assert method.config == config
        results.append(method.evaluate_batch(model, ragged_batch(data)).query_predictions)
    torch.testing.assert_close(results[0], results[1], rtol=0, atol=0)


@pytest.mark.parametrize("name", METHODS.names())
def test_training_improves_on_training_users(data, name):
    """A few outer steps with a large rate lower the training objective."""
    _skip_floors(name)
    model, method = build_method(name, data, seed=1)
    optimizer = Adam([*model.parameters(), *method.parameters()], lr=1e-2)
    batch = ragged_batch(data, n_users=12)
    first = None
    for _ in range(15):
        loss, output = method.training_loss(model, batch)
        first = loss.item() if first is None else first
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        method.after_outer_step(output)
    assert loss.item() < 0.5 * first


def test_registry_lists_every_method_with_a_summary():
    assert {"melu", "meta-sgd", "transfer", "global", "paml", "reg-paml", "at-paml"} <= set(METHODS.names())
    for _, cls in METHODS:
        assert cls.summary and cls.name
