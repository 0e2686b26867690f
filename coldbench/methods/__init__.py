"""Registered methods: each module defines one (or a close pair) and registers it on import."""

import importlib

from coldbench.methods.base import METHODS, Method, MethodConfig, register_method

for _module in ("melu", "meta_sgd", "transfer", "paml", "reg_paml", "at_paml", "floors", "mamo", "tanp"):
    importlib.import_module(f"coldbench.methods.{_module}")

__all__ = ["METHODS", "Method", "MethodConfig", "register_method"]
