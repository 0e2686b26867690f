"""Names the command line shows in its help, kept free of heavy imports (no pandas, scipy, torch).

The modules that act on them re-export these (``coldbench.report.stats.TESTS``,
``coldbench.studies.reproduce.DEFAULT_DATASET``); ``coldbench.report.tables.TABLES`` has exactly
``TABLE_NAMES`` as keys.
"""

from __future__ import annotations

DEFAULT_DATASET = "movielens"  # the default --dataset of both `train` and `reproduce`
TABLE_NAMES = ("main", "ablation", "minor-major", "ctr", "states", "shots", "splits")  # report --table
TESTS = ("paired", "seeds", "wilcoxon")  # report --test
CORRECTIONS = ("holm", "none")  # report --correction
DEFAULT_PROTOCOL = "paml"  # prepare --protocol (coldbench.data.protocol re-exports it)
DEMO_EPOCHS = 3  # coldbench demo: epochs per method (a first look, not a ranking)
DEMO_SEEDS = 2  # coldbench demo: seeds per method
