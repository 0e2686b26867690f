"""PAML, REG-PAML and AT-PAML against explicit computations."""

from __future__ import annotations

import math

import pytest
import torch

from coldbench.engine.memory import ExactIndex, FlannIndex, LearningRateMemory
from coldbench.engine.model import decide
from coldbench.errors import ColdbenchError
from coldbench.testing import build_method, ragged_batch, tiny_dataset

TOL = 1e-10


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return tiny_dataset(tmp_path_factory.mktemp("paml"))


def test_paml_with_constant_rate_reduces_to_melu(data):
    rate = 3e-2
    melu_model, melu = build_method("melu", data, seed=7, inner_lr=rate)
    paml_model, paml = build_method("paml", data, seed=7, max_lr=1.0)
    final = paml.lr_net.layers[-1]
    with torch.no_grad():
        final.weight.zero_()
        final.bias.fill_(math.log(rate / (1 - rate)))  # sigmoid(b) = rate
    batch = ragged_batch(data)
    melu_loss, _ = melu.training_loss(melu_model, batch)
    paml_loss, out = paml.training_loss(paml_model, batch)
    torch.testing.assert_close(out.lr, torch.full_like(out.lr, rate), rtol=0, atol=1e-15)
    torch.testing.assert_close(paml_loss, melu_loss, rtol=0, atol=TOL)
    got = torch.autograd.grad(paml_loss, list(paml_model.parameters()))
    want = torch.autograd.grad(melu_loss, list(melu_model.parameters()))
    for g, w in zip(got, want, strict=True):
        torch.testing.assert_close(g, w, rtol=0, atol=TOL)


def test_paml_rate_depends_on_user_and_stays_below_max(data):
    model, paml = build_method("paml", data, seed=2, max_lr=1e-3)
    out = paml.inner_loop(model, ragged_batch(data), training=True)
    assert torch.all((out.lr > 0) & (out.lr < 1e-3))
    assert out.lr.unique().numel() > 1


def _explicit_regulariser(model, method, batch):
    """Per user, from scratch: ‖∇θ L_support(θ)‖² · |α(h_i)|."""
    values = []
    for user in range(len(batch)):
        n = int(batch.support_mask[user].sum())
        h = model.user_embedding(batch.users[user : user + 1])
        x = model.fuse(h, model.item_embedding(batch.support_items[user : user + 1, :n]))[0]
        loss = ((decide(model.decision_params(), x) - batch.support_targets[user, :n]) ** 2).mean()
        grads = torch.autograd.grad(loss, model.decision_params(), create_graph=True)
        values.append(sum(g.pow(2).sum() for g in grads) * method.lr_net(h)[0].abs())
    return torch.stack(values)


def test_reg_paml_regulariser_value_and_gradients(data):
    model, method = build_method("reg-paml", data, seed=4, gamma=0.5)
    batch = ragged_batch(data)
    output = method.inner_loop(model, batch, training=True)
    got = method.regulariser(output)
    want = _explicit_regulariser(model, method, batch)
    torch.testing.assert_close(got, want, rtol=0, atol=TOL)
    assert torch.all(got > 0)
    params = [*model.decision_params(), *method.lr_net.parameters()]
    got_grads = torch.autograd.grad(got.sum(), params)
    want_grads = torch.autograd.grad(want.sum(), params)
    for g, w in zip(got_grads, want_grads, strict=True):
        torch.testing.assert_close(g, w, rtol=0, atol=TOL)
    total = method.outer_loss(output)
    torch.testing.assert_close(total, (output.query_loss + 0.5 * want).mean(), rtol=0, atol=TOL)


# ---------------------------------------------------------------- the memory


def _memory(capacity=3, dim=2):
    return LearningRateMemory(capacity, dim, ExactIndex()).double()


def test_memory_kernel_weights_hand_worked():
    memory = _memory()
    memory.write(
        torch.tensor([[0.0, 0.0], [1.0, 0.0], [0.0, 2.0]]).double(), torch.tensor([1.0, 2.0, 3.0]).double()
    )
    rates, neighbours = memory.read(torch.tensor([[0.0, 0.0]]).double(), k=3, delta=2.0, sigma=1e-5)
    # squared distances 0, 1, 4 → s = 1, e^-2, e^-8
    s = [1.0, math.exp(-2), math.exp(-8)]
    expected = (1 * s[0] + 2 * s[1] + 3 * s[2]) / (sum(s) + 1e-5)
    assert neighbours.tolist() == [[0, 1, 2]]
    assert rates.item() == pytest.approx(expected, abs=1e-12)
    two, _ = memory.read(torch.tensor([[0.0, 0.0]]).double(), k=2, delta=2.0, sigma=1e-5)
    assert two.item() == pytest.approx((1 + 2 * s[1]) / (1 + s[1] + 1e-5), abs=1e-12)


def test_memory_lru_eviction_and_capacity():
    memory = _memory(capacity=3)
    memory.write(
        torch.tensor([[0.0, 0.0], [10.0, 0.0], [20.0, 0.0]]).double(), torch.tensor([1.0, 2.0, 3.0]).double()
    )
    memory.read(torch.tensor([[0.1, 0.0]]).double(), k=1, delta=2.0, sigma=1e-5, touch=True)  # uses slot 0
    memory.write(torch.tensor([[30.0, 0.0]]).double(), torch.tensor([4.0]).double())  # evicts slot 1 (10, 0)
    assert len(memory) == 3
    assert sorted(memory.values[:3].tolist()) == [1.0, 3.0, 4.0]
    memory.write(torch.tensor([[40.0, 0.0], [50.0, 0.0]]).double(), torch.tensor([5.0, 6.0]).double())
    assert len(memory) == 3  # never above capacity
    # last used: value 3 at write 1, value 1 at the read (clock 2), value 4 at write 2 (clock 3)
    assert sorted(memory.values[:3].tolist()) == [4.0, 5.0, 6.0]


def test_memory_read_without_touch_leaves_lru_state():
    memory = _memory(capacity=2)
    memory.write(torch.tensor([[0.0, 0.0], [5.0, 0.0]]).double(), torch.tensor([1.0, 2.0]).double())
    before = memory.last_used.clone()
    memory.read(torch.tensor([[0.0, 0.0]]).double(), k=2, delta=2.0, sigma=1e-5)
    assert torch.equal(memory.last_used, before)


def test_empty_memory_reads_zero():
    rates, _ = _memory().read(torch.zeros(4, 2).double(), k=5, delta=2.0, sigma=1e-5)
    assert torch.equal(rates, torch.zeros(4).double())


def test_at_paml_warm_up_then_memory(data):
    model, method = build_method(
        "at-paml", data, seed=5, warmup_lr=2e-4, warmup_epochs=1, delta=1e-3, outer_lr=0.5
    )
    batch = ragged_batch(data, n_users=8)
    method.start_epoch(0)
    loss, output = method.training_loss(model, batch)
    assert torch.equal(output.lr, torch.full((8,), 2e-4, dtype=torch.float64))
    loss.backward()
    method.after_outer_step(output)
    assert len(method.memory) == 8
    assert torch.equal(method.memory.values[:8], torch.full((8,), 2e-4, dtype=torch.float64))
    assert sorted(method.memory.owners[:8].tolist()) == sorted(batch.users.tolist())

    method.start_epoch(1)
    model.zero_grad()
    loss, output = method.training_loss(model, batch)
    base = method.lr_net(output.user_vectors)
    # each user reads the other seven users' entries, never its own
    borrowed, _ = method.memory.read(output.user_vectors, 8, 1e-3, 1e-5, readers=batch.users)
    torch.testing.assert_close(output.lr, base + borrowed, rtol=0, atol=1e-15)
    assert torch.all(borrowed > 0)
    loss.backward()
    keys_before = method.memory.keys[:8].detach().clone()
    values_before = method.memory.values[:8].detach().clone()
    key_grad, value_grad = method.memory.keys.grad[:8].clone(), method.memory.values.grad[:8].clone()
    assert torch.count_nonzero(key_grad) > 0 and torch.count_nonzero(value_grad) > 0
    stored_rates = output.lr.detach().clone()
    method.memory.write = lambda *args: None  # look at the descent step alone first
    method.after_outer_step(output)
    # node_j ← node_j − β∇L on stored keys and values (β = outer_lr), rates projected onto ≥ 0
    torch.testing.assert_close(
        method.memory.keys[:8].detach(), keys_before - 0.5 * key_grad, rtol=0, atol=1e-15
    )
    torch.testing.assert_close(
        method.memory.values[:8].detach(),
        (values_before - 0.5 * value_grad).clamp(min=0),
        rtol=0,
        atol=1e-15,
    )
    assert method.memory.keys.grad is None
    del method.memory.write
    method.memory.write(output.user_vectors, stored_rates, batch.users)
    # a revisit replaces each user's entry: still one entry a user
    assert len(method.memory) == 8
    slots = [method.memory.owners[:8].tolist().index(u) for u in batch.users.tolist()]
    torch.testing.assert_close(method.memory.values[slots], stored_rates, rtol=0, atol=0)


def _owned_memory(one_per_owner=True, capacity=4):
    memory = LearningRateMemory(capacity, 2, ExactIndex(), one_per_owner=one_per_owner).double()
    keys = torch.tensor([[0.0, 0.0], [1.0, 0.0], [0.0, 2.0]]).double()
    memory.write(keys, torch.tensor([1.0, 2.0, 3.0]).double(), torch.tensor([10, 11, 12]))
    return memory


def test_training_read_never_uses_the_readers_own_entry():
    memory = _owned_memory()
    query = torch.tensor([[0.0, 0.0]]).double()  # exactly user 10's key
    rates, neighbours = memory.read(query, k=2, delta=2.0, sigma=1e-5, readers=torch.tensor([10]))
    # the two nearest *other* entries: user 11 (d² = 1) and user 12 (d² = 4)
    s = [math.exp(-2), math.exp(-8)]
    assert rates.item() == pytest.approx((2 * s[0] + 3 * s[1]) / (sum(s) + 1e-5), abs=1e-12)
    # a reader without an entry uses its k nearest, the (k+1)-th is dropped
    other, _ = memory.read(query, k=2, delta=2.0, sigma=1e-5, readers=torch.tensor([99]))
    assert other.item() == pytest.approx((1 + 2 * s[0]) / (1 + s[0] + 1e-5), abs=1e-12)
    # the gradient of a reader's rate never reaches its own entry
    memory.track_gradients()
    rate, _ = memory.read(query, k=3, delta=2.0, sigma=1e-5, readers=torch.tensor([10]))
    rate.sum().backward()
    assert memory.values.grad[0] == 0 and torch.all(memory.values.grad[1:3] != 0)


def test_a_revisit_replaces_the_users_entry_and_append_mode_keeps_both():
    memory = _owned_memory(capacity=3)
    memory.write(torch.tensor([[5.0, 5.0]]).double(), torch.tensor([7.0]).double(), torch.tensor([11]))
    assert len(memory) == 3
    assert memory.values[:3].tolist() == [1.0, 7.0, 3.0]
    assert memory.keys[1].tolist() == [5.0, 5.0]
    assert int(memory.last_used[1]) == int(memory.clock)  # now the most recent
    # a new user evicts the least recently used entry, never the one just replaced
    memory.write(torch.tensor([[9.0, 9.0]]).double(), torch.tensor([8.0]).double(), torch.tensor([13]))
    assert sorted(memory.owners[:3].tolist()) == [11, 12, 13]
    literal = _owned_memory(one_per_owner=False)
    literal.write(torch.tensor([[5.0, 5.0]]).double(), torch.tensor([7.0]).double(), torch.tensor([11]))
    assert len(literal) == 4 and literal.owners[:4].tolist() == [10, 11, 12, 11]


def test_kernels_hand_worked():
    memory = _owned_memory()
    query = torch.tensor([[0.0, 0.0]]).double()
    gaussian, _ = memory.read(query, k=3, delta=0.5, sigma=0.0)
    s = [1.0, math.exp(-0.5), math.exp(-2.0)]  # exp(−δ d²), d² = 0, 1, 4
    assert gaussian.item() == pytest.approx((1 * s[0] + 2 * s[1] + 3 * s[2]) / sum(s), abs=1e-12)
    inverse, _ = memory.read(query, k=3, delta=0.5, sigma=0.0, kernel="inverse", epsilon=0.5)
    w = [1 / 0.5, 1 / 1.5, 1 / 2.5]  # 1 / (d + ε), d = 0, 1, 2
    assert inverse.item() == pytest.approx((1 * w[0] + 2 * w[1] + 3 * w[2]) / sum(w), abs=1e-12)
    with pytest.raises(ColdbenchError, match="kernel"):
        memory.read(query, k=3, delta=0.5, sigma=0.0, kernel="cosine")


@pytest.mark.parametrize("nonnegative", [True, False])
def test_stored_rates_and_rates_stay_non_negative_by_default(data, nonnegative):
    model, method = build_method(
        "at-paml", data, seed=1, warmup_epochs=0, delta=1e-3, outer_lr=1e3, nonnegative=nonnegative
    )
    optimizer = torch.optim.SGD(model.parameters(), lr=0.0)
    lowest_value, lowest_rate = math.inf, math.inf
    for step in range(6):
        method.start_epoch(1 + step)
        loss, output = method.training_loss(model, ragged_batch(data, n_users=8))
        optimizer.zero_grad()
        (-loss).backward()  # push the rates the wrong way hard
        method.after_outer_step(output)
        method.memory.write = lambda *args: None  # keep the first entries: only gradient steps now
        lowest_rate = min(lowest_rate, float(output.lr.detach().min()))
        lowest_value = min(lowest_value, float(method.memory.values[: len(method.memory)].detach().min()))
    if nonnegative:
        assert lowest_value >= 0 and lowest_rate >= 0
    else:
        assert lowest_value < 0  # the literal reading lets stored rates drift below zero


def test_at_paml_records_how_much_the_memory_contributed(data):
    model, method = build_method("at-paml", data, seed=5, warmup_epochs=0, delta=1e-3, outer_lr=0.1)
    method.start_epoch(0)
    for n_users in (6, 8):
        loss, output = method.training_loss(model, ragged_batch(data, n_users=n_users))
        loss.backward()
        method.after_outer_step(output)
    method.eval()
    method.start_evaluation("test")
    batch = ragged_batch(data, n_users=5)
    output = method.evaluate_batch(model, batch)
    base = method.lr_net(output.user_vectors).detach()
    ratio = (output.lr - base) / base
    stats = method.diagnostics()
    assert stats["memory_test_share"] == pytest.approx(float((ratio > 0.01).double().mean()))
    assert stats["memory_test_ratio"] == pytest.approx(float(ratio.mean()))
    assert 0 <= stats["memory_train_share"] <= 1 and stats["memory_train_ratio"] > 0


def test_at_paml_evaluation_never_writes(data):
    model, method = build_method("at-paml", data, seed=5)
    method.start_epoch(3)
    batch = ragged_batch(data, n_users=4)
    loss, output = method.training_loss(model, batch)
    loss.backward()
    method.after_outer_step(output)
    state = {k: v.clone() for k, v in method.memory.state_dict().items()}
    method.eval()
    method.evaluate_batch(model, batch)
    method.train()
    for key, value in method.memory.state_dict().items():
        assert torch.equal(value, state[key]), key


def test_flann_and_exact_agree_at_high_checks():
    pytest.importorskip("pyflann_ibeis")
    generator = torch.Generator().manual_seed(0)
    keys = torch.randn(400, 16, generator=generator)
    queries = torch.randn(25, 16, generator=generator)
    exact = ExactIndex().search(keys, queries, 10, version=0)
    approx = FlannIndex(checks=4096).search(keys, queries, 10, version=0)
    for row_exact, row_approx in zip(exact.tolist(), approx.tolist(), strict=True):
        assert set(row_exact) == set(row_approx)
