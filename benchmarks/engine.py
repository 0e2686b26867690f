"""Time the batched engine against the per-user reference loop on a prepared dataset.

    python benchmarks/engine.py --dataset movielens --method melu [--batches 20] [--set key=value]

Same meta-batches, same process, alternating batched / loop so that drift hits both alike. Each
timed step is a full meta-gradient (forward, inner loop, outer loss, backward). Then one training
epoch is timed with the trainer's own code (after a warm-up epoch for methods that have one) plus
one validation pass. The last line is one JSON object with the figures.

CPU time (``time.process_time``, all threads of the process) is reported per training user beside
wall time: on a shared machine it is the steadier figure. ``flops`` counts the matrix-product
FLOPs of one meta-batch (forward, inner step, second-order backward); ``matmul_floor_ms`` is what
those products take alone here (same shapes, timed one by one) and ``flop_fraction`` the share of
a batched meta-batch's wall time they account for: 1.0 would mean nothing but matrix products.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from flops import record_matmuls, replay_seconds, square_gflops, total_flops  # noqa: E402

from coldbench.cli.options import parse_pairs
from coldbench.data.features import encode
from coldbench.data.prepared import load_prepared
from coldbench.engine.batched import InnerLoopOutput, make_batch
from coldbench.engine.reference import method_reference
from coldbench.methods.base import Method
from coldbench.training.evaluate import evaluate_split
from coldbench.training.trainer import build, make_spec, train_epoch


def reference_loss(method, model, batch) -> torch.Tensor:
    """The method's outer loss computed from the plain per-user loop."""
    losses, norms, _ = method_reference(method, model, batch)  # rate, steps, adapt, θ_u⁰ (MAMO)
    vectors = model.user_embedding(batch.users)
    return method.outer_loss(
        InnerLoopOutput(losses, None, vectors, method.inner_lr(vectors, batch.users), norms)
    )


def timed(fn) -> tuple[float, float]:
    """Wall and CPU milliseconds of ``fn()`` and its backward pass."""
    start, cpu = time.perf_counter(), time.process_time()
    loss = fn()
    loss.backward()
    return (time.perf_counter() - start) * 1000, (time.process_time() - cpu) * 1000


def timed_eval(fn) -> tuple[float, float]:
    """Wall and CPU milliseconds of ``fn()``, an evaluation (no meta-gradient; inner steps may need grad)."""
    start, cpu = time.perf_counter(), time.process_time()
    fn()
    return (time.perf_counter() - start) * 1000, (time.process_time() - cpu) * 1000


def evaluation_figures(method, model, data, spec, rounds: int = 5) -> dict:
    """Per-user CPU of adapting and scoring validation users, batched and (where one exists) looped.

    The loop is the method's own ``per_user_reference`` (TaNP) or the MAML reference loop.
    """
    split = data.splits["valid"]
    size = min(spec.train.batch_size, len(split.users))
    rng = np.random.default_rng(1)
    method.eval()
    batched, loop = [], []
    for index in range(rounds + 1):
        batch = make_batch(split, rng.choice(len(split.users), size, replace=False), device=spec.device)
        fast = timed_eval(lambda b=batch: method.evaluate_batch(model, b))
        own = method.per_user_reference(model, batch) is not None
        if own:
            slow = timed_eval(lambda b=batch: method.per_user_reference(model, b))
        elif method.meta_trained and type(method).evaluate_batch is Method.evaluate_batch:
            slow = timed_eval(lambda b=batch: method_reference(method, model, b, create_graph=False))
        else:
            slow = (np.nan, np.nan)
        if index:
            batched.append(fast[1])
            loop.append(slow[1])
    method.train()
    return {
        "eval_batched_cpu_ms_per_user": round(float(np.median(batched)) / size, 3),
        "eval_loop_cpu_ms_per_user": round(float(np.median(loop)) / size, 3),
        "eval_cpu_speedup": round(float(np.median(loop) / np.median(batched)), 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="movielens")
    parser.add_argument("--method", default="melu")
    parser.add_argument("--batches", type=int, default=20, help="meta-batches timed per path")
    parser.add_argument("--set", action="append", default=[], help="setting key=value")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--skip-epoch", action="store_true", help="only time meta-batches")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    dataset = load_prepared(args.dataset)
    data = encode(dataset)
    spec = make_spec(args.method, parse_pairs(args.set, "--set"), args.device)
    model, method, optimizer = build(spec, data, seed=0)
    method.start_epoch(getattr(spec.params, "warmup_epochs", 0))  # time the post-warm-up path
    meta = type(method).training_loss is Method.training_loss  # MAML-style: the reference loop applies
    train_split = data.splits["train"]
    rng = np.random.default_rng(0)
    batched_ms, loop_ms, batched_cpu, loop_cpu = [], [], [], []
    for index in range(args.batches + 1):  # the first round warms caches and is not counted
        positions = rng.choice(len(train_split.users), spec.train.batch_size, replace=False)
        batch = make_batch(train_split, positions, device=spec.device)
        fast = timed(lambda b=batch: method.training_loss(model, b)[0])
        slow = timed(lambda b=batch: reference_loss(method, model, b)) if meta else (np.nan, np.nan)
        model.zero_grad(set_to_none=True)
        method.zero_grad(set_to_none=True)
        if index:
            batched_ms.append(fast[0])
            batched_cpu.append(fast[1])
            loop_ms.append(slow[0])
            loop_cpu.append(slow[1])
    shapes = record_matmuls(lambda b=batch: method.training_loss(model, b)[0].backward())
    model.zero_grad(set_to_none=True)
    method.zero_grad(set_to_none=True)
    floor_ms = replay_seconds(shapes) * 1000
    users = spec.train.batch_size

    figures = {
        "dataset": args.dataset,
        "method": args.method,
        "device": args.device,
        "threads": torch.get_num_threads(),
        "batch_size": spec.train.batch_size,
        "batched_ms": round(float(np.median(batched_ms)), 2),
        "loop_ms": round(float(np.median(loop_ms)), 2) if meta else None,
        "speedup": round(float(np.median(loop_ms) / np.median(batched_ms)), 2) if meta else None,
        "batched_cpu_ms_per_user": round(float(np.median(batched_cpu)) / users, 3),
        "loop_cpu_ms_per_user": round(float(np.median(loop_cpu)) / users, 3) if meta else None,
        "cpu_speedup": round(float(np.median(loop_cpu) / np.median(batched_cpu)), 2) if meta else None,
        "flops": total_flops(shapes),
        "matmuls": sum(shapes.values()),
        "matmul_floor_ms": round(floor_ms, 2),
        "achieved_gflops": round(total_flops(shapes) / float(np.median(batched_ms)) / 1e6, 2),
        "square_gflops": round(square_gflops(), 1),
        "flop_fraction": round(floor_ms / float(np.median(batched_ms)), 3),
        "flop_fraction_cpu": round(floor_ms / float(np.median(batched_cpu)), 3),
    }
    figures.update(evaluation_figures(method, model, data, spec))
    if not args.skip_epoch:
        model, method, optimizer = build(spec, data, seed=0)
        warmup = getattr(spec.params, "warmup_epochs", 0)
        seconds = []
        for epoch in range(warmup + 1):
            start = time.perf_counter()
            train_epoch(model, method, optimizer, data, spec, 0, epoch, lambda kind, info: None)
            seconds.append(time.perf_counter() - start)
        start = time.perf_counter()
        evaluate_split(model, method, data, "valid", spec.train.eval_batch_size, spec.device)
        figures["warmup_epoch_s"] = round(seconds[0], 2) if warmup else None
        figures["epoch_s"] = round(seconds[-1], 2)
        figures["valid_s"] = round(time.perf_counter() - start, 2)
    figures["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
