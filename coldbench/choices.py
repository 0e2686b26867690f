"""Names the command line shows in its help, kept free of heavy imports (no pandas, scipy, torch).

Also the built-in method modules: ``coldbench.methods`` imports them, ``coldbench.method_catalog``
reads them without importing (so `coldbench methods` and the report need no torch).

The modules that act on them re-export these (``coldbench.report.stats.TESTS``, ``coldbench.studies.reproduce.
DEFAULT_DATASET``); ``coldbench.report.tables.TABLES`` has exactly ``TABLE_NAMES`` as keys.
"""

from __future__ import annotations

DEFAULT_DATASET = "movielens"  # the default --dataset of both `train` and `reproduce`
TABLE_NAMES = ("main", "ablation", "minor-major", "ctr")  # report --table
TESTS = ("paired", "seeds", "wilcoxon")  # report --test
CORRECTIONS = ("holm", "none")  # report --correction
DEFAULT_PROTOCOL = "paml"  # prepare --protocol (coldbench.data.protocol re-exports it)
DEMO_EPOCHS = 3  # coldbench demo: epochs per method (a first look, not a ranking)
DEMO_SEEDS = 2  # coldbench demo: seeds per method
# The built-in methods: one file each under coldbench/methods/, imported in this order.
METHOD_MODULES = ("melu", "meta_sgd", "transfer", "paml", "reg_paml", "at_paml", "floors", "mamo", "tanp")
METHOD_ENTRY_POINT_GROUP = "coldbench.methods"  # other packages' methods (coldbench.methods loads them)
