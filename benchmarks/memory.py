"""Where a training run's resident memory goes: RSS after each stage of one run, in one process.

    python benchmarks/memory.py --dataset ml-100k --method reg-paml [--epochs 2]

Stages: the imports a run needs, ``torch.optim``'s first optimizer (it imports ``torch._dynamo``
and sympy lazily), loading and encoding the prepared data, building the model, each epoch, and a
validation pass. The last line is one JSON object: MB now after each stage, and the peak.
"""

from __future__ import annotations

import argparse
import json
import resource


def rss_mb() -> float:
    """Resident set size now, in MB (Linux ``/proc/self/statm``)."""
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * resource.getpagesize() / 2**20


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="movielens")
    parser.add_argument("--method", default="reg-paml")
    parser.add_argument("--epochs", type=int, default=2)
    args = parser.parse_args()
    stages = {"interpreter": rss_mb()}

    import pandas  # noqa: F401
    import torch

    stages["torch + pandas"] = rss_mb()
    from coldbench.evaluate import evaluate_split
    from coldbench.features import encode
    from coldbench.prepared import load_prepared
    from coldbench.trainer import build, make_spec, train_epoch

    stages["coldbench imports"] = rss_mb()
    torch.optim.Adam([torch.zeros(1, requires_grad=True)])
    stages["first optimizer (dynamo, sympy)"] = rss_mb()
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
    figures = {"dataset": args.dataset, "method": args.method, "peak_rss_mb": round(peak, 1)}
    print(json.dumps({**figures, "stages_mb": {k: round(v, 1) for k, v in stages.items()}}))


if __name__ == "__main__":
    main()
