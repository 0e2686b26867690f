"""Registered methods: each module defines one (or a close pair) and registers it on import."""

import importlib

from coldbench.choices import METHOD_ENTRY_POINT_GROUP, METHOD_MODULES
from coldbench.methods.base import METHODS, Method, MethodConfig, register_method

for _module in METHOD_MODULES:  # coldbench.method_catalog reads the same files without importing them
    importlib.import_module(f"coldbench.methods.{_module}")

ENTRY_POINT_GROUP = METHOD_ENTRY_POINT_GROUP  # other packages' methods, loaded on first use


def _not_a_method(obj: object) -> str | None:
    if isinstance(obj, type) and issubclass(obj, Method):
        return None
    return "is not a subclass of coldbench.methods.Method"


METHODS.use_entry_points(ENTRY_POINT_GROUP, check=_not_a_method)

__all__ = ["ENTRY_POINT_GROUP", "METHODS", "Method", "MethodConfig", "register_method"]
