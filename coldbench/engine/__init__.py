"""The engine: the model and the batched inner loop that every method builds on.

``model`` is the paper's recommender (feature embeddings, then decision layers); ``batched`` adapts
every user of a meta-batch at once, with per-user fast weights, and ``reference`` is the plain
per-user loop it is tested against; ``memory`` is AT-PAML's nearest-neighbour memory. The
engine knows nothing of methods, runs or reports. The batched loop's names are re-exported here.
"""

from coldbench.engine.batched import (
    ADAPT_CHOICES,
    Batch,
    InitFn,
    InnerLoopOutput,
    LearningRate,
    first_adapted,
    make_batch,
    run_inner_loop,
)

__all__ = [
    "ADAPT_CHOICES",
    "Batch",
    "InitFn",
    "InnerLoopOutput",
    "LearningRate",
    "first_adapted",
    "make_batch",
    "run_inner_loop",
]
