"""Training: one method on one prepared dataset, one seed at a time, into a run folder.

``trainer`` builds the model and method, runs the outer loop (``optim``'s Adam), validates every
epoch, stops early (``stopping``), resumes after a crash, scores the test users once
(``evaluate``, ``metrics``) and writes the run folder: ``config.json``, ``epochs.csv``,
``metrics.json``, per-user rows and checkpoints, each checksummed (``run_files``) and written
under an exclusive lock (``run_folder``). It is the only caller of a method's contract, and the
report reads what it writes. Kept light at import: ``stopping`` and ``run_files`` need no torch.
"""
