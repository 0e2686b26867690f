"""Reports read finished runs from ``results/`` only: tables, statistics and figures."""
