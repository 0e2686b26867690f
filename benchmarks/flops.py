"""Matrix-product FLOPs of a piece of work, and the time this machine's torch needs for them alone.

``record_matmuls(fn)`` runs ``fn`` under a dispatch mode that logs every mm/addmm/bmm/baddbmm
(forward, backward and double backward alike) with its shapes. ``replay_seconds`` times each
distinct shape on its own, best of a few repetitions, so the sum is what the products cost when
nothing else runs: the floor this work could reach on this machine with the same shapes.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable

import torch
from torch.utils._python_dispatch import TorchDispatchMode

aten = torch.ops.aten
Shape = tuple[str, tuple[int, ...], tuple[int, ...], torch.dtype]


def _flops(kind: str, a: tuple[int, ...], b: tuple[int, ...]) -> int:
    if kind == "mm":
        return 2 * a[0] * a[1] * b[1]
    return 2 * a[0] * a[1] * a[2] * b[2]  # bmm: [B, n, k] @ [B, k, m]


class _MatmulLog(TorchDispatchMode):
    def __init__(self) -> None:
        super().__init__()
        self.shapes: Counter[Shape] = Counter()

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        packet = getattr(func, "overloadpacket", None)
        if packet in (aten.mm, aten.bmm):
            a, b = args[0], args[1]
        elif packet in (aten.addmm, aten.baddbmm):
            a, b = args[1], args[2]
        else:
            return func(*args, **kwargs)
        kind = "mm" if a.dim() == 2 else "bmm"
        self.shapes[(kind, tuple(a.shape), tuple(b.shape), a.dtype)] += 1
        return func(*args, **kwargs)


def record_matmuls(fn: Callable[[], object]) -> Counter[Shape]:
    """Every matrix product ``fn`` runs, counted by (kind, shape of A, shape of B, dtype)."""
    log = _MatmulLog()
    with log:
        fn()
    return log.shapes


def total_flops(shapes: Counter[Shape]) -> int:
    return sum(count * _flops(kind, a, b) for (kind, a, b, _), count in shapes.items())


def _time_one(kind: str, a: torch.Tensor, b: torch.Tensor, repeat: int) -> float:
    op = torch.mm if kind == "mm" else torch.bmm
    op(a, b)
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        op(a, b)
        best = min(best, time.perf_counter() - start)
    return best


def replay_seconds(shapes: Counter[Shape], repeat: int = 5) -> float:
    """Seconds the same matrix products take alone on this machine (best of ``repeat`` each)."""
    total = 0.0
    for (kind, a_shape, b_shape, dtype), count in shapes.items():
        a, b = torch.randn(a_shape, dtype=dtype), torch.randn(b_shape, dtype=dtype)
        total += count * _time_one(kind, a, b, repeat)
    return total


def square_gflops(size: int = 1024, dtype: torch.dtype = torch.float32, repeat: int = 5) -> float:
    """What one large square product sustains, GFLOP/s: the machine's matmul ceiling for reference."""
    a, b = torch.randn(size, size, dtype=dtype), torch.randn(size, size, dtype=dtype)
    return 2 * size**3 / _time_one("mm", a, b, repeat) / 1e9
