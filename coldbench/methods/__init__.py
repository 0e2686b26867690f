"""Registered methods: each module defines one (or a close pair) and registers it on import.

A plug-in needs only this package: ``Method``, ``MethodConfig``, ``register_method`` and
``setting`` to define a method, ``RecModel`` and ``TrainConfig`` for its constructor's types.
"""

import importlib

from coldbench.config import TrainConfig, setting
from coldbench.engine.model import RecModel
from coldbench.methods.base import METHODS, Method, MethodConfig, register_method

# The built-in methods: one file each under coldbench/methods/, imported in this order.
METHOD_MODULES = (
    "melu",
    "meta_sgd",
    "transfer",
    "paml",
    "reg_paml",
    "at_paml",
    "floors",
    "mamo",
    "tanp",
    "mf",
)
ENTRY_POINT_GROUP = "coldbench.methods"  # other packages' methods, loaded on first use

for _module in METHOD_MODULES:
    importlib.import_module(f"coldbench.methods.{_module}")


def _not_a_method(obj: object) -> str | None:
    if isinstance(obj, type) and issubclass(obj, Method):
        return None
    return "is not a subclass of coldbench.methods.Method"


METHODS.use_entry_points(ENTRY_POINT_GROUP, check=_not_a_method)

__all__ = [
    "ENTRY_POINT_GROUP",
    "METHODS",
    "METHOD_MODULES",
    "Method",
    "MethodConfig",
    "RecModel",
    "TrainConfig",
    "register_method",
    "setting",
]
