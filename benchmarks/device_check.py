"""The same training epochs on two devices from one seed: time per epoch and how far the metrics drift.

    python benchmarks/device_check.py --dataset movielens --method reg-paml [--epochs 1]
        [--devices cuda,cpu] [--data-dir DIR]

Each device builds the model from the same seed, trains ``--epochs`` epochs over the same users in
the same order with the trainer's own code, then scores the validation users. Floating-point
sums run in another order on a GPU, so the numbers agree closely but not to the bit; the JSON
line gives each device's seconds per epoch, its validation metrics, and the largest absolute
difference of any metric between the first device and each other one.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from coldbench.data.features import encode
from coldbench.data.prepared import load_prepared
from coldbench.training.trainer import _validate, build, make_spec, train_epoch


def synchronise(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def run_on(device_name: str, data, method: str, epochs: int, seed: int) -> dict:
    """Train ``epochs`` epochs on ``device_name``; seconds per epoch and validation metrics."""
    spec = make_spec(method, {}, device_name)
    model, learner, optimizer = build(spec, data, seed)
    seconds = []
    for epoch in range(epochs):
        synchronise(spec.device)
        start = time.perf_counter()
        train_epoch(model, learner, optimizer, data, spec, seed, epoch, lambda kind, info: None)
        synchronise(spec.device)
        seconds.append(time.perf_counter() - start)
    start = time.perf_counter()
    valid = _validate(model, learner, data, spec, seed)
    synchronise(spec.device)
    return {
        "device": str(spec.device),
        "epoch_s": [round(s, 2) for s in seconds],
        "valid_s": round(time.perf_counter() - start, 2),
        "valid": {k: v for k, v in valid.items() if isinstance(v, float)},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="movielens")
    parser.add_argument("--method", default="reg-paml")
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--devices", default="cuda,cpu", help="comma-separated; the first is the reference")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--data-dir", default=None, help="where prepared datasets live ($COLDBENCH_HOME)")
    args = parser.parse_args()
    data = encode(load_prepared(args.dataset, Path(args.data_dir) if args.data_dir else None))
    results = [run_on(name, data, args.method, args.epochs, args.seed) for name in args.devices.split(",")]
    reference = results[0]["valid"]
    for result in results[1:]:
        shared = set(reference) & set(result["valid"])
        result["max_abs_diff"] = max(abs(reference[k] - result["valid"][k]) for k in shared)
    figures = {"dataset": args.dataset, "method": args.method, "epochs": args.epochs}
    print(json.dumps({**figures, "runs": results}))


if __name__ == "__main__":
    main()
