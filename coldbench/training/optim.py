"""Adam, the outer optimizer: the same arithmetic as ``torch.optim.Adam`` with its default settings.

``torch.optim``'s first optimizer imports ``torch._dynamo`` and sympy (about 70 MB of resident memory
and half a second) although training never compiles anything; this class needs neither. It follows
``torch.optim.Adam``'s single-tensor update operation for operation, so its steps are the same to the
last bit on CPU (tested), and its ``state_dict`` has the same layout, so checkpoints written by either
load into the other.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import torch


class Adam:
    """Adam (Kingma & Ba, 2015), no weight decay or AMSGrad; ``step`` skips parameters with no gradient."""

    def __init__(
        self,
        params: Iterable[torch.nn.Parameter],
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
    ) -> None:
        self.params = list(params)
        if len({id(p) for p in self.params}) != len(self.params):
            raise ValueError("a parameter appears twice in the optimizer's list")
        self.lr, self.betas, self.eps = lr, betas, eps
        self.steps = [0] * len(self.params)
        self.exp_avg: list[torch.Tensor | None] = [None] * len(self.params)
        self.exp_avg_sq: list[torch.Tensor | None] = [None] * len(self.params)

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Drop (or zero) every parameter's gradient."""
        for param in self.params:
            if param.grad is None:
                continue
            if set_to_none:
                param.grad = None
            else:
                param.grad.zero_()

    @torch.no_grad()
    def step(self) -> None:
        """One Adam update of every parameter that has a gradient."""
        beta1, beta2 = self.betas
        for index, param in enumerate(self.params):
            grad = param.grad
            if grad is None:
                continue
            if self.exp_avg[index] is None:
                self.exp_avg[index] = torch.zeros_like(param, memory_format=torch.preserve_format)
                self.exp_avg_sq[index] = torch.zeros_like(param, memory_format=torch.preserve_format)
            exp_avg, exp_avg_sq = self.exp_avg[index], self.exp_avg_sq[index]
            self.steps[index] += 1
            step = self.steps[index]
            exp_avg.lerp_(grad, 1 - beta1)
            exp_avg_sq.mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
            step_size = self.lr / (1 - beta1**step)
            denom = (exp_avg_sq.sqrt() / (1 - beta2**step) ** 0.5).add_(self.eps)
            param.addcdiv_(exp_avg, denom, value=-step_size)

    def state_dict(self) -> dict[str, Any]:
        """The state in ``torch.optim.Adam``'s layout: per-parameter index, ``step``, both moments."""
        state = {
            index: {
                "step": torch.tensor(float(self.steps[index])),
                "exp_avg": self.exp_avg[index],
                "exp_avg_sq": self.exp_avg_sq[index],
            }
            for index in range(len(self.params))
            if self.exp_avg[index] is not None
        }
        group = {
            "lr": self.lr,
            "betas": self.betas,
            "eps": self.eps,
            "weight_decay": 0,
            "amsgrad": False,
            "maximize": False,
            "params": list(range(len(self.params))),
        }
        return {"state": state, "param_groups": [group]}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore a state written by this class or by ``torch.optim.Adam`` over the same parameters."""
        groups = state_dict["param_groups"]
        if len(groups) != 1 or len(groups[0]["params"]) != len(self.params):
            raise ValueError("the saved optimizer state is for a different set of parameters")
        group = groups[0]
        if group.get("weight_decay", 0) or group.get("amsgrad", False) or group.get("maximize", False):
            raise ValueError("the saved optimizer state uses Adam settings this optimizer does not support")
        self.lr, self.betas, self.eps = group["lr"], tuple(group["betas"]), group["eps"]
        self.steps = [0] * len(self.params)
        self.exp_avg = [None] * len(self.params)
        self.exp_avg_sq = [None] * len(self.params)
        for position, saved_index in enumerate(group["params"]):
            saved = state_dict["state"].get(saved_index)
            if saved is None:
                continue
            param = self.params[position]
            for key in ("exp_avg", "exp_avg_sq"):
                if saved[key].shape != param.shape:
                    raise ValueError(f"the saved optimizer state's {key} does not fit parameter {position}")
            self.steps[position] = int(saved["step"])
            self.exp_avg[position] = saved["exp_avg"].to(device=param.device, dtype=param.dtype).clone()
            self.exp_avg_sq[position] = saved["exp_avg_sq"].to(device=param.device, dtype=param.dtype).clone()
