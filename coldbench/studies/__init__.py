"""Studies: many runs at once, built on ``training`` and ending in the ``report``.

``sweep`` runs every (method, dataset, settings, seed) job; ``tune`` runs an Optuna study of a
method's settings on validation users; both run their processes through ``executors`` (local
processes or Ray). ``reproduce`` prepares a dataset, tunes or sweeps every method and writes every
table and figure; ``demo`` does the same small and fast on the built-in synthetic data.
``recommended`` ships the committed tuned studies' best settings (``train --preset recommended``).
"""
