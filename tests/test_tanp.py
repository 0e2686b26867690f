"""TaNP against explicit per-user computations: encoders, soft clusters, FiLM, losses."""

from __future__ import annotations

import math

import pytest
import torch
from torch.nn import functional as F

from coldbench.config import TrainConfig
from coldbench.methods.tanp import gaussian_kl, soft_assignment, target_distribution
from coldbench.testing import build_method, ragged_batch, tiny_dataset


@pytest.fixture(scope="module", params=["rating", "ctr"])
def data(request, tmp_path_factory):
    return tiny_dataset(tmp_path_factory.mktemp(f"tanp-{request.param}"), task=request.param)


def _explicit_user(model, method, batch, u):
    """One user's query outputs, written out row by row with no masks."""
    n_s, n_q = int(batch.support_mask[u].sum()), int(batch.query_mask[u].sum())
    h = model.user_embedding(batch.users[u : u + 1])[0]
    support = [torch.cat([model.item_embedding(batch.support_items[u, j : j + 1])[0], h]) for j in range(n_s)]
    pairs = [torch.cat([x, batch.support_targets[u, j : j + 1]]) for j, x in enumerate(support)]
    r = sum(method.encoder(p) for p in pairs) / n_s
    mu = method.to_mu(torch.relu(method.to_hidden(r)))
    o = sum(method.task_encoder(p) for p in pairs) / n_s
    t = method.config.temperature
    kernel = torch.stack([(1 + (o - m).pow(2).sum() / t) ** (-(t + 1) / 2) for m in method.centres])
    o = o + (kernel / kernel.sum()) @ method.centres
    params = model.decision_params()
    outputs = []
    for j in range(n_q):
        x = torch.cat([model.item_embedding(batch.query_items[u, j : j + 1])[0], h])
        hidden = x @ params[0] + params[1] + mu @ method.z_to_first.weight.T
        for layer in range(len(params) // 2 - 1):
            gamma = torch.tanh(method.film["gamma"][layer].weight @ o)
            beta = torch.tanh(method.film["beta"][layer].weight @ o)
            if method.config.modulation == "gating":
                eta = torch.tanh(method.film["eta"][layer].weight @ o)
                delta = torch.sigmoid(method.film["delta"][layer].weight @ o)
                gamma, beta = gamma * delta + eta * (1 - delta), beta * delta + eta * (1 - delta)
            hidden = F.relu(hidden * gamma + beta) @ params[2 * layer + 2] + params[2 * layer + 3]
        outputs.append(hidden)
    out = torch.stack(outputs)
    return out.squeeze(-1) if out.shape[-1] == 1 else out


@pytest.mark.parametrize("modulation", ["film", "gating"])
def test_modulated_decoder_equals_explicit_per_user_computation(data, modulation):
    model, method = build_method("tanp", data, modulation=modulation)
    batch = ragged_batch(data)
    output = method.evaluate_batch(model, batch)
    with torch.no_grad():
        for u in range(len(batch)):
            want = _explicit_user(model, method, batch, u)
            torch.testing.assert_close(output.query_predictions[u, : len(want)], want, rtol=0, atol=1e-10)


def test_soft_assignment_target_and_kl_match_hand_formulas():
    task = torch.tensor([[0.0, 0.0], [1.0, 1.0], [2.0, 0.0]], dtype=torch.float64)
    centres = torch.tensor([[0.0, 1.0], [2.0, 0.0]], dtype=torch.float64)
    q = soft_assignment(task, centres, temperature=1.0)
    # t = 1: q ∝ 1 / (1 + d²); user 0: d² = 1 and 4 → (1/2, 1/5)
    torch.testing.assert_close(q[0], torch.tensor([0.5, 0.2], dtype=torch.float64) / 0.7)
    p = target_distribution(q)
    f = q.sum(0)
    want = (q[1] ** 2 / f) / (q[1] ** 2 / f).sum()
    torch.testing.assert_close(p[1], want)
    mu_p, lv_p = (
        torch.tensor([[0.5]], dtype=torch.float64),
        torch.tensor([[math.log(2.0)]], dtype=torch.float64),
    )
    mu_q, lv_q = torch.zeros(1, 1, dtype=torch.float64), torch.zeros(1, 1, dtype=torch.float64)
    # KL(N(0.5, 2) ‖ N(0, 1)) = ½ (2 + 0.25 − 1 − ln 2)
    assert gaussian_kl(mu_p, lv_p, mu_q, lv_q).item() == pytest.approx(
        0.5 * (1.25 - math.log(2.0)), rel=1e-12
    )


def test_training_loss_is_query_loss_plus_kl_and_clustering(data):
    model, method = build_method("tanp", data)
    batch = ragged_batch(data)
    loss, output = method.training_loss(model, batch)
    cond = method.condition(model, batch, training=True)
    q = cond.assignment
    p = target_distribution(q)
    clustering = (p * (p / q).log()).sum(1).mean()
    want = output.query_loss.mean() + method.config.kl_weight * cond.kl.mean() + 0.1 * clustering
    torch.testing.assert_close(loss, want, rtol=0, atol=1e-12)
    for u, prediction in enumerate(method.per_user_reference(model, batch)):
        n_q = len(prediction)
        single = model.task.elementwise_loss(prediction, batch.query_targets[u, :n_q]).mean()
        torch.testing.assert_close(output.query_loss[u].detach(), single, rtol=0, atol=1e-10)


def test_no_inner_loop_settings_apply(data):
    """TaNP conditions on the support set: inner steps and adapt do not change its numbers."""
    batch = ragged_batch(data)
    outputs = []
    for train in (
        TrainConfig(hidden=(16, 8), embedding_dim=4),
        TrainConfig(hidden=(16, 8), embedding_dim=4, inner_steps=3, adapt="last"),
    ):
        model, method = build_method("tanp", data, train=train)
        outputs.append(method.evaluate_batch(model, batch).query_predictions)
    torch.testing.assert_close(outputs[0], outputs[1], rtol=0, atol=0)
