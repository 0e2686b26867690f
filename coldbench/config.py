"""Run configuration: one flat dataclass for the engine, one per method; ``key=value`` overrides."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, get_type_hints

import tomllib

from coldbench.errors import ColdbenchError


@dataclass
class TrainConfig:
    """Settings shared by every method (paper Table 7 defaults)."""

    epochs: int = 20  # passes over the training users
    batch_size: int = 32  # users per meta-batch
    inner_steps: int = 1  # local-update steps on the support set
    first_order: bool = False  # drop second-order terms of the meta-gradient
    embedding_dim: int = 32  # per feature
    hidden: tuple[int, ...] = (320, 192)  # decision layers before the output
    implicit_step: bool = True  # one-step adaptation without per-user weights (same maths, faster)
    buckets: int = 4  # sort a meta-batch by support size into this many groups to cut padding
    eval_batch_size: int = 128  # users adapted at once during evaluation
    adapt: str = "decision"  # layers the inner loop adapts: "decision" (the MLP) or "last" (ANIL)


# Settings that change speed and memory, not the maths: left out of the config id.
PERFORMANCE_SETTINGS = ("implicit_step", "buckets", "eval_batch_size")
# Settings added later: left out of the config id at their default, so earlier runs keep their ids.
LATER_DEFAULTS = {"adapt": "decision"}


def _coerce(value: Any, kind: Any, key: str) -> Any:
    """Convert ``value`` (often a string) to the field's type; a failure names the key."""
    try:
        if kind is bool:
            if isinstance(value, bool):
                return value
            text = str(value).lower()
            if text not in {"true", "false", "1", "0", "yes", "no"}:
                raise ValueError
            return text in {"true", "1", "yes"}
        if kind in (int, float, str):
            if kind is int and isinstance(value, float) and not value.is_integer():
                raise ValueError
            return kind(value)
        if getattr(kind, "__origin__", None) is tuple:
            items = value if isinstance(value, list | tuple) else str(value).strip("()[] ").split(",")
            return tuple(int(v) for v in items if str(v).strip() != "")
    except (TypeError, ValueError):
        raise ColdbenchError(f"--set {key}={value!r}: expected {getattr(kind, '__name__', kind)}") from None
    return value


def apply_overrides(config: Any, overrides: dict[str, Any]) -> tuple[Any, dict[str, Any]]:
    """Apply the overrides naming fields of ``config``; return the new config and the rest."""
    hints = get_type_hints(type(config))
    names = {f.name for f in fields(config)}
    mine = {k: _coerce(v, hints[k], k) for k, v in overrides.items() if k in names}
    rest = {k: v for k, v in overrides.items() if k not in names}
    return dataclasses.replace(config, **mine), rest


def load_config_file(path: Path) -> dict[str, Any]:
    """Flat ``key = value`` pairs from a TOML file (tables ``[train]``/``[method]`` are merged)."""
    try:
        data = tomllib.loads(Path(path).read_text())
    except FileNotFoundError:
        raise ColdbenchError(f"--config {path}: no such file") from None
    except tomllib.TOMLDecodeError as error:
        raise ColdbenchError(f"--config {path}: {error}") from None
    flat: dict[str, Any] = {}
    for key, value in data.items():
        flat.update(value if isinstance(value, dict) else {key: value})
    return flat


def as_dict(config: Any) -> dict[str, Any]:
    values = dataclasses.asdict(config)
    return {k: list(v) if isinstance(v, tuple) else v for k, v in values.items()}


def config_id(method: str, train: TrainConfig, method_config: Any) -> str:
    """A short, stable id of everything that defines a run except its seed and device."""
    semantic = {
        k: v
        for k, v in as_dict(train).items()
        if k not in PERFORMANCE_SETTINGS and not (k in LATER_DEFAULTS and LATER_DEFAULTS[k] == v)
    }
    payload = json.dumps(
        {"method": method, "train": semantic, "params": as_dict(method_config)}, sort_keys=True
    )
    return hashlib.sha256(payload.encode()).hexdigest()[:10]
