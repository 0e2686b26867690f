"""Data sources: each module reads its own files into a RawDataset and registers itself."""

import importlib

from coldbench.data.sources.source import SOURCES, Source, SourceRequest

for _module in ("movielens", "bookcrossing", "atomic", "synthetic", "taobao"):
    importlib.import_module(f"coldbench.data.sources.{_module}")  # registration

__all__ = ["SOURCES", "Source", "SourceRequest"]
