"""coldbench.training.optim.Adam against torch.optim.Adam: the same steps to the bit, the same state."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import torch

from coldbench.training.optim import Adam

ROOT = Path(__file__).resolve().parents[1]


def make_params(dtype: torch.dtype) -> list[torch.nn.Parameter]:
    generator = torch.Generator().manual_seed(0)
    shapes = [(7, 5), (5,), (3, 4, 2)]
    return [torch.nn.Parameter(torch.randn(shape, generator=generator, dtype=dtype)) for shape in shapes]


def loss_of(params: list[torch.nn.Parameter], step: int) -> torch.Tensor:
    """A loss whose third parameter gets no gradient on every third step, as a memory slot might not."""
    total = (params[0] ** 2).sum() * 0.3 + torch.sin(params[1] * (step + 1)).sum()
    if step % 3 != 2:
        total = total + (params[2] ** 3).mean()
    return total


def run(optimizer, params: list[torch.nn.Parameter], steps: range) -> None:
    for step in steps:
        optimizer.zero_grad(set_to_none=True)
        loss_of(params, step).backward()
        optimizer.step()


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_same_steps_as_torch_adam_to_the_last_bit(dtype):
    ours, theirs = make_params(dtype), make_params(dtype)
    run(Adam(ours, lr=3e-2), ours, range(40))
    run(torch.optim.Adam(theirs, lr=3e-2), theirs, range(40))
    for mine, reference in zip(ours, theirs, strict=True):
        assert torch.equal(mine, reference)
    assert not torch.equal(ours[0], make_params(dtype)[0])  # the parameters did move


def test_a_parameter_without_gradient_is_left_alone():
    params = make_params(torch.float64)
    before = params[2].detach().clone()
    optimizer = Adam(params, lr=1e-1)
    optimizer.zero_grad()
    (params[0].sum() + params[1].sum()).backward()
    optimizer.step()
    assert torch.equal(params[2], before)
    assert optimizer.steps == [1, 1, 0]


@pytest.mark.parametrize("direction", ["torch to ours", "ours to torch"])
def test_state_dicts_load_into_each_other(direction):
    """A checkpoint written by either optimizer resumes in the other with identical steps."""
    reference = make_params(torch.float64)
    run(torch.optim.Adam(reference, lr=2e-2), reference, range(20))

    first = make_params(torch.float64)
    writer = torch.optim.Adam(first, lr=2e-2) if direction == "torch to ours" else Adam(first, lr=2e-2)
    run(writer, first, range(10))
    resumed = [torch.nn.Parameter(p.detach().clone()) for p in first]
    reader = Adam(resumed, lr=99.0) if direction == "torch to ours" else torch.optim.Adam(resumed, lr=99.0)
    reader.load_state_dict(writer.state_dict())
    run(reader, resumed, range(10, 20))
    for mine, expected in zip(resumed, reference, strict=True):
        assert torch.equal(mine, expected)


def test_a_state_for_other_parameters_is_refused():
    optimizer = Adam(make_params(torch.float64))
    other = [torch.nn.Parameter(torch.zeros(2, 2))]
    foreign = Adam(other)
    other[0].sum().backward()
    foreign.step()
    with pytest.raises(ValueError, match="different set of parameters"):
        optimizer.load_state_dict(foreign.state_dict())
    swapped = Adam(
        [
            torch.nn.Parameter(torch.zeros(5)),
            *make_params(torch.float64)[1:],
        ]
    )
    state = Adam(make_params(torch.float64))
    run(state, state.params, range(1))
    with pytest.raises(ValueError, match="does not fit parameter 0"):
        swapped.load_state_dict(state.state_dict())


def test_a_parameter_listed_twice_is_refused():
    param = torch.nn.Parameter(torch.zeros(3))
    with pytest.raises(ValueError, match="twice"):
        Adam([param, param])


def test_a_training_epoch_imports_neither_dynamo_nor_sympy(tmp_path):
    """The memory goal of issue 12: nothing in a run loads torch._dynamo or sympy (about 70 MB)."""
    code = (
        "import sys\n"
        "from pathlib import Path\n"
        "from coldbench.testing import tiny_dataset\n"
        "from coldbench.training.trainer import build, make_spec, train_epoch\n"
        f"data = tiny_dataset(Path({str(tmp_path)!r}))\n"
        "spec = make_spec('reg-paml', {}, 'cpu')\n"
        "model, method, optimizer = build(spec, data, 0)\n"
        "train_epoch(model, method, optimizer, data, spec, 0, 0, lambda kind, info: None)\n"
        "print(sorted(name for name in ('torch._dynamo', 'sympy') if name in sys.modules))\n"
    )
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT), "COLDBENCH_HOME": str(tmp_path / "home")}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.strip().splitlines()[-1] == "[]"
