"""MAMO against explicit computations: memory attention, personalised start, memory writes."""

from __future__ import annotations

import pytest
import torch

from coldbench.engine.batched import make_batch
from coldbench.methods.mamo import memory_attention
from coldbench.testing import build_method, ragged_batch, tiny_dataset


@pytest.fixture(scope="module", params=["rating", "ctr"])
def data(request, tmp_path_factory):
    return tiny_dataset(tmp_path_factory.mktemp(f"mamo-{request.param}"), task=request.param)


def test_attention_is_softmax_of_cosine_similarities():
    torch.manual_seed(0)
    profile, memory = torch.randn(4, 6, dtype=torch.float64), torch.randn(3, 6, dtype=torch.float64)
    got = memory_attention(profile, memory)
    for u in range(4):
        cos = [float(profile[u] @ memory[k] / (profile[u].norm() * memory[k].norm())) for k in range(3)]
        exp = torch.exp(torch.tensor(cos, dtype=torch.float64))
        torch.testing.assert_close(got[u], exp / exp.sum(), rtol=0, atol=1e-12)


def test_personalised_start_is_theta_minus_tau_bias_plus_preference(data):
    model, method = build_method("mamo", data)
    method.preference_memory.normal_()  # non-zero fast weights, to see them added
    batch = ragged_batch(data)
    vectors = model.user_embedding(batch.users)
    starts = method.initial_params(model, vectors, batch.users)
    params, tau = model.decision_params(), method.config.bias_scale
    for u in range(len(batch)):
        a = memory_attention(vectors[u : u + 1], method.profile_memory)[0]
        bias = sum(a[k] * method.bias_memory[k] for k in range(method.config.n_slots))
        offset = 0
        for index, param in enumerate(params):
            want = param - tau * bias[offset : offset + param.numel()].reshape(param.shape)
            if index == 0:
                want = want + sum(a[k] * method.preference_memory[k] for k in range(method.config.n_slots))
            torch.testing.assert_close(starts[index][u], want, rtol=0, atol=1e-12)
            offset += param.numel()


def test_memory_writes_follow_the_rules(data):
    model, method = build_method("mamo", data)
    batch = ragged_batch(data, n_users=5)
    before = {k: getattr(method, k).clone() for k in ("profile_memory", "bias_memory", "preference_memory")}
    _, output = method.training_loss(model, batch)
    vectors = output.user_vectors.detach()
    a = memory_attention(vectors, before["profile_memory"])
    starts = [p.detach() for p in method.initial_params(model, vectors, batch.users)]
    fast = [f.detach() for f in output.fast]
    rho, cfg, n = method.config.local_lr, method.config, len(batch)
    method.after_outer_step(output)
    want_p = (1 - cfg.profile_rate) * before["profile_memory"] + cfg.profile_rate * sum(
        torch.outer(a[u], vectors[u]) for u in range(n)
    ) / n
    grads = torch.cat([((s - f) / rho).reshape(n, -1) for s, f in zip(starts, fast)], 1)
    want_f = (1 - cfg.bias_rate) * before["bias_memory"] + cfg.bias_rate * sum(
        torch.outer(a[u], grads[u]) for u in range(n)
    ) / n
    deviation = fast[0] - model.decision_params()[0].detach()
    want_ui = (1 - cfg.preference_rate) * before["preference_memory"] + cfg.preference_rate * sum(
        a[u][:, None, None] * deviation[u] for u in range(n)
    ) / n
    torch.testing.assert_close(method.profile_memory, want_p, rtol=0, atol=1e-12)
    torch.testing.assert_close(method.bias_memory, want_f, rtol=0, atol=1e-12)
    torch.testing.assert_close(method.preference_memory, want_ui, rtol=0, atol=1e-12)


def test_evaluation_never_writes_and_users_are_independent(data):
    model, method = build_method("mamo", data)
    method.eval()
    split = data.splits["test"]
    state = {k: v.clone() for k, v in method.state_dict().items()}
    together = method.evaluate_batch(model, make_batch(split, [0, 1, 2], dtype=torch.float64))
    alone = method.evaluate_batch(model, make_batch(split, [1], dtype=torch.float64))
    n_query = int(alone.query_predictions.shape[1])
    torch.testing.assert_close(together.query_predictions[1, :n_query], alone.query_predictions[0])
    for key, value in method.state_dict().items():
        assert torch.equal(value, state[key]), key
