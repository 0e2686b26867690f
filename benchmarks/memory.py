"""Where a training run's resident memory goes: RSS after each stage of one run, in one process.

    python benchmarks/memory.py --dataset ml-100k --method reg-paml [--epochs 2]
    python benchmarks/memory.py --dataset ml-100k --method reg-paml --whole-run

Stages: the imports a run needs, loading and encoding the prepared data, building the model, each epoch, and a
validation pass. The last line is one JSON object: MB now after each stage, and the peak.

``--whole-run`` measures the command a user types instead: ``coldbench train METHOD --preset paper``
(20 epochs, test evaluation, result files) in a child process, into a temporary results folder, and
reports the child's peak RSS. MB here are 2**20 bytes throughout (``ru_maxrss / 1024``).
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time


def rss_mb() -> float:
    """Resident set size now, in MB (Linux ``/proc/self/statm``)."""
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * resource.getpagesize() / 2**20


def whole_run(dataset: str, method: str) -> None:
    """Peak RSS of ``coldbench train METHOD --preset paper`` on ``dataset``, in a child process."""
    with tempfile.TemporaryDirectory() as results:
        entry = "import sys; from coldbench.cli import main; sys.argv[0] = 'coldbench'; main()"
        command = [sys.executable, "-c", entry, "train", method, "--dataset", dataset]
        command += ["--preset", "paper", "--device", "cpu", "--results-dir", results]
        started = time.perf_counter()
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
        wall = time.perf_counter() - started
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    figures = {"dataset": dataset, "method": method, "whole_run": True, "wall_s": round(wall, 1)}
    figures |= {
        "cpu_s": round(usage.ru_utime + usage.ru_stime, 1),
        "peak_rss_mb": round(usage.ru_maxrss / 1024, 1),
    }
    print(json.dumps(figures))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="movielens")
    parser.add_argument("--method", default="reg-paml")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--whole-run", action="store_true", help="measure a paper-preset `coldbench train`")
    args = parser.parse_args()
    if args.whole_run:
        whole_run(args.dataset, args.method)
        return
    stages = {"interpreter": rss_mb()}

    import pandas  # noqa: F401
    import torch  # noqa: F401

    stages["torch + pandas"] = rss_mb()
    from coldbench.data.features import encode
    from coldbench.data.prepared import load_prepared
    from coldbench.training.evaluate import evaluate_split
    from coldbench.training.trainer import build, make_spec, train_epoch

    stages["coldbench imports"] = rss_mb()
    prepared = load_prepared(args.dataset)
    stages["load prepared"] = rss_mb()
    data = encode(prepared)
    stages["encode"] = rss_mb()
    spec = make_spec(args.method, {}, "cpu")
    model, method, optimizer = build(spec, data, seed=0)
    stages["build"] = rss_mb()
    for epoch in range(args.epochs):
        train_epoch(model, method, optimizer, data, spec, 0, epoch, lambda kind, info: None)
        stages[f"epoch {epoch + 1}"] = rss_mb()
    evaluate_split(model, method, data, "valid", spec.train.eval_batch_size, spec.device)
    stages["validation"] = rss_mb()
    for name, value in stages.items():
        print(f"{name:>32}: {value:7.1f} MB")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    figures = {
        "dataset": args.dataset,
        "method": args.method,
        "peak_rss_mb": round(peak, 1),
        "lazy_imports": sorted(name for name in ("torch._dynamo", "sympy") if name in sys.modules),
    }
    print(json.dumps({**figures, "stages_mb": {k: round(v, 1) for k, v in stages.items()}}))


if __name__ == "__main__":
    main()
