"""What re-scoring a finished run costs: the catalogue ranking and the k-shot evaluation.

    python benchmarks/catalogue.py RUN_FOLDER [--data-dir DIR] [--threads 1] [--repeat 2]

Times ``evaluate_catalogue`` (every test user against every item) and ``evaluate_shots`` (the
default k) on one run's selected checkpoint, wall and CPU seconds of each, best of ``--repeat``;
nothing is written to the run. The last line is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from coldbench.training.catalogue import evaluate_catalogue
from coldbench.training.loaded import load_run
from coldbench.training.shots import SHOTS, evaluate_shots, headline_split


def timed(action) -> tuple[float, float]:
    wall, cpu = time.perf_counter(), time.process_time()
    action()
    return time.perf_counter() - wall, time.process_time() - cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", type=Path)
    parser.add_argument("--data-dir", type=Path)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    run = load_run(args.run, args.data_dir)
    split = run.data.splits[headline_split(run)]
    result = {
        "method": run.config["method"],
        "dataset": run.config["dataset"],
        "users": int(len(split.users)),
        "items": int(len(run.data.item_ids)),
        "threads": args.threads,
    }
    for name, action in (
        ("catalogue", lambda: evaluate_catalogue(run)),
        ("shots", lambda: evaluate_shots(run, (*SHOTS, None), split=headline_split(run))),
    ):
        best = min((timed(action) for _ in range(args.repeat)), key=lambda pair: pair[0])
        result[f"{name}_wall_s"], result[f"{name}_cpu_s"] = round(best[0], 2), round(best[1], 2)
        print(f"{name}: {best[0]:.2f} s wall, {best[1]:.2f} s CPU")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
