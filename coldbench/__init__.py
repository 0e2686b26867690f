"""coldbench: a benchmarking suite for cold-start meta-learning recommenders."""

__version__ = "0.1.0"
