"""Profile batched meta-batches (forward, inner step, outer backward, Adam step) with torch.profiler.

    python benchmarks/profile_engine.py --dataset movielens --method melu [--batches 10] [--threads 1]

Prints the operators that take the most CPU time, self time first.
"""

from __future__ import annotations

import argparse

import numpy as np
import torch
from torch.profiler import ProfilerActivity, profile

from coldbench.cli.options import parse_pairs
from coldbench.data.features import encode
from coldbench.data.prepared import load_prepared
from coldbench.engine.batched import make_batch
from coldbench.training.trainer import build, make_spec


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="movielens")
    parser.add_argument("--method", default="melu")
    parser.add_argument("--batches", type=int, default=10)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--set", action="append", default=[], help="setting key=value")
    parser.add_argument("--rows", type=int, default=25)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    data = encode(load_prepared(args.dataset))
    spec = make_spec(args.method, parse_pairs(args.set, "--set"), "cpu")
    model, method, optimizer = build(spec, data, seed=0)
    split = data.splits["train"]
    rng = np.random.default_rng(0)
    batches = [
        make_batch(split, rng.choice(len(split.users), spec.train.batch_size, replace=False))
        for _ in range(args.batches + 2)
    ]

    def step(batch) -> None:
        optimizer.zero_grad(set_to_none=True)
        loss, _ = method.training_loss(model, batch)
        loss.backward()
        optimizer.step()

    for batch in batches[:2]:
        step(batch)
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        for batch in batches[2:]:
            step(batch)
    print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=args.rows))


if __name__ == "__main__":
    main()
