"""Run configuration: one flat dataclass for the engine, one per method; ``key=value`` overrides.

Every setting may declare its range with :func:`setting` (``min``, ``max``, ``above``,
``choices``). :func:`apply_overrides` converts each value to its field's type and checks every
field against its type and declared range, so a bad value stops before anything is written.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, get_type_hints

import tomllib

from coldbench.errors import ColdbenchError

RANGE_KEYS = ("min", "max", "above", "choices")


def setting(
    default: Any,
    *,
    min: float | None = None,
    max: float | None = None,
    above: float | None = None,
    choices: tuple[str, ...] | None = None,
) -> Any:
    """A dataclass field with a declared range: ``min``/``max`` inclusive, ``above`` exclusive.

    For a tuple field the bounds apply to each entry. ``choices`` lists a string's allowed values.
    """
    declared = {"min": min, "max": max, "above": above, "choices": choices}
    return field(default=default, metadata={k: v for k, v in declared.items() if v is not None})


@dataclass
class TrainConfig:
    """Settings shared by every method (paper Table 7 defaults)."""

    epochs: int = setting(100, min=1)  # most passes over the training users (early stopping ends sooner)
    batch_size: int = setting(32, min=1)  # users per meta-batch
    inner_steps: int = setting(1, min=0)  # local-update steps on the support set
    first_order: bool = False  # drop second-order terms of the meta-gradient
    embedding_dim: int = setting(32, min=1)  # per feature
    hidden: tuple[int, ...] = setting((320, 192), min=1)  # decision layers before the output
    implicit_step: bool = True  # one-step adaptation without per-user weights (same maths, faster)
    buckets: int = setting(4, min=1)  # sort a meta-batch by support size into groups to cut padding
    eval_batch_size: int = setting(128, min=1)  # users adapted at once during evaluation
    adapt: str = setting(
        "decision", choices=("decision", "last")
    )  # layers the inner loop adapts (ANIL: last)
    patience: int = setting(5, min=0)  # stop after this many epochs without improvement (0: never early)
    min_delta: float = setting(0.0, min=0)  # an improvement beats the best validation value by more
    item_id: bool = False  # add an item-ID embedding to the item features (items unseen in training: zero)


# Settings that change speed and memory, not the maths: left out of the config id.
PERFORMANCE_SETTINGS = ("implicit_step", "buckets", "eval_batch_size")
# Settings added later: left out of the config id at their default, so earlier runs keep their ids.
# (patience 0 and min_delta 0 are how runs trained before early stopping existed: no early stopping.)
LATER_DEFAULTS = {"adapt": "decision", "patience": 0, "min_delta": 0.0, "item_id": False}
# Method settings added later: left out of the config id at their default, for the same reason.
LATER_PARAM_DEFAULTS = {"new_item_bias": "zero", "feature_ridge": 10.0}

# Presets: a declared mapping of settings applied before --config/--set, so the config id and the
# report label (``reg-paml [paper]``) follow from the settings themselves. ``paper``: the paper's
# protocol (App. D.1, Table 7): 20 epochs, no early stopping; method settings keep their defaults,
# which are the paper's rates.
PRESETS: dict[str, dict[str, Any]] = {"paper": {"epochs": 20, "patience": 0, "min_delta": 0.0}}


def preset_settings(name: str | None) -> dict[str, Any]:
    """The settings of preset ``name`` (None: no preset); an unknown name is a one-line error."""
    if name is None:
        return {}
    if name not in PRESETS:
        raise ColdbenchError(f"option --preset {name!r}: expected one of {', '.join(PRESETS)}")
    return dict(PRESETS[name])


_TRUE, _FALSE = {"true", "1", "yes"}, {"false", "0", "no"}
_KIND_NAMES = {bool: "true or false", int: "an integer", float: "a number", str: "text"}


def _is_tuple(kind: Any) -> bool:
    return getattr(kind, "__origin__", None) is tuple


def _int(value: Any) -> int:
    """An int from text or an int (never a bool, never a float)."""
    if isinstance(value, str):
        return int(value.strip())
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError
    return value


def _coerce(value: Any, kind: Any) -> Any:
    """``value`` as ``kind``: text is parsed; anything else (TOML) must already have the type."""
    if kind is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
            return value.strip().lower() in _TRUE
        raise TypeError
    if kind is int:
        return _int(value)
    if kind is float:
        if isinstance(value, str):
            return float(value.strip())
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise TypeError
        return float(value)
    if kind is str:
        if not isinstance(value, str):
            raise TypeError
        return value
    if _is_tuple(kind):
        if isinstance(value, str):
            items: Any = [v for v in value.strip("()[] ").split(",") if v.strip() != ""]
        elif isinstance(value, list | tuple):
            items = value
        else:
            items = [value]
        return tuple(_int(v) for v in items)
    return value


MAX_SEEDS = 1000  # runs of one setting: more is a typo, and a list of billions exhausts memory
MAX_SEED = 2**32 - 1  # what every random generator here accepts


def check_seed_count(seeds: object) -> int:
    """``--seeds N``: an int from 1 to MAX_SEEDS, else a one-line ColdbenchError."""
    if isinstance(seeds, bool) or not isinstance(seeds, int) or not 1 <= seeds <= MAX_SEEDS:
        raise ColdbenchError(f"option --seeds {seeds}: must be 1 to {MAX_SEEDS:,}")
    return seeds


FLOAT32_MAX = 3.4e38  # a setting beyond it overflows in the model's float32 arithmetic


def _range_error(value: Any, kind: Any, meta: dict[str, Any]) -> str | None:
    """Why ``value`` breaks the field's type rules or declared range; None when it is fine."""
    if isinstance(value, float) and not math.isfinite(value):
        return "must be a finite number"
    if isinstance(value, (int, float)) and not isinstance(value, bool) and abs(value) > FLOAT32_MAX:
        return f"must lie within ±{FLOAT32_MAX:.1e} (the models compute in float32)"
    if _is_tuple(kind):
        if not value:
            return "needs at least one entry"
        problems = [_range_error(v, int, meta) for v in value]
        problem = next((p for p in problems if p), None)
        return f"entries {problem.replace('must be', 'must all be')}" if problem else None
    if "choices" in meta and value not in meta["choices"]:
        return f"must be one of {', '.join(map(str, meta['choices']))}"
    if "min" in meta and value < meta["min"]:
        return f"must be ≥ {meta['min']}"
    if "above" in meta and value <= meta["above"]:
        return f"must be > {meta['above']}"
    if "max" in meta and value > meta["max"]:
        return f"must be ≤ {meta['max']}"
    return None


def declared_range(cls: type, name: str) -> dict[str, Any]:
    """The range declared for field ``name``: its own, else the nearest base class's.

    So ``outer_lr`` declared once on ``MethodConfig`` still holds where a subclass restates only
    its default.
    """
    for klass in cls.__mro__:
        declared = {f.name: f for f in fields(klass)} if dataclasses.is_dataclass(klass) else {}
        if name in declared and any(k in declared[name].metadata for k in RANGE_KEYS):
            return dict(declared[name].metadata)
    return {}


def _shown(value: Any) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(list(value) if isinstance(value, tuple) else value, default=str)


def describe_source(key: str, value: Any, origin: str | None) -> str:
    """Where a value came from, for an error: ``--set k=v``, ``--config F: k = v``, ``--epochs v``."""
    if origin is None:
        return f"setting {key}={_shown(value)} (its default)"
    if origin == "--set":
        return f"--set {key}={_shown(value)}"
    if origin.startswith("--config"):
        return f"{origin}: {key} = {_shown(value)}"
    return f"{origin} {_shown(value)}"


def apply_overrides(
    config: Any, overrides: dict[str, Any], origins: dict[str, str] | None = None
) -> tuple[Any, dict[str, Any]]:
    """Apply the overrides naming fields of ``config``; return the checked config and the rest.

    ``origins`` maps a key to where it came from (``--set``, ``--epochs``, ``--config FILE``) so
    an error can name it; ``--set`` is assumed. Every field is checked, overridden or not.
    """
    origins = origins or {}
    hints = get_type_hints(type(config))
    names = {f.name for f in fields(config)}
    mine: dict[str, Any] = {}
    for key, value in overrides.items():
        if key not in names:
            continue
        try:
            mine[key] = _coerce(value, hints[key])
        except (TypeError, ValueError):
            where = describe_source(key, value, origins.get(key, "--set"))
            expected = "a list of integers" if _is_tuple(hints[key]) else _KIND_NAMES.get(hints[key])
            raise ColdbenchError(f"{where}: expected {expected or hints[key]}") from None
    new = dataclasses.replace(config, **mine)
    for item in fields(new):
        meta = declared_range(type(new), item.name)
        problem = _range_error(getattr(new, item.name), hints[item.name], meta)
        if problem:
            origin = origins.get(item.name, "--set") if item.name in overrides else None
            shown = overrides.get(item.name, getattr(new, item.name))
            raise ColdbenchError(f"{describe_source(item.name, shown, origin)}: {item.name} {problem}")
    rest = {k: v for k, v in overrides.items() if k not in names}
    return new, rest


def load_config_file(path: Path) -> dict[str, Any]:
    """Flat ``key = value`` pairs from a TOML file (tables ``[train]``/``[method]`` are merged)."""
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ColdbenchError(f"--config {path}: no such file") from None
    except IsADirectoryError:
        raise ColdbenchError(f"--config {path}: is a folder, not a TOML file") from None
    except UnicodeDecodeError:
        raise ColdbenchError(f"--config {path}: not a text file (expected TOML key = value lines)") from None
    except OSError as error:
        raise ColdbenchError(f"--config {path}: cannot read it ({error.strerror})") from None
    except tomllib.TOMLDecodeError as error:
        raise ColdbenchError(f"--config {path}: {error}") from None
    flat: dict[str, Any] = {}
    for key, value in data.items():
        for inner, item in (value if isinstance(value, dict) else {key: value}).items():
            if inner in flat and flat[inner] != item:
                raise ColdbenchError(f"--config {path}: {inner} is set twice, to different values")
            flat[inner] = item
    return flat


def as_dict(config: Any) -> dict[str, Any]:
    values = dataclasses.asdict(config)
    return {k: list(v) if isinstance(v, tuple) else v for k, v in values.items()}


def config_id(method: str, train: TrainConfig, method_config: Any, tuned: dict | None = None) -> str:
    """A short, stable id of everything that defines a run except its seed and device.

    ``tuned`` (study and trial of ``train --tuned``) joins the id, so a tuned run never shares a
    folder, or a report label, with a run given the same settings by hand.
    """
    semantic = {
        k: v
        for k, v in as_dict(train).items()
        if k not in PERFORMANCE_SETTINGS and not (k in LATER_DEFAULTS and LATER_DEFAULTS[k] == v)
    }
    params = {k: v for k, v in as_dict(method_config).items() if LATER_PARAM_DEFAULTS.get(k, object()) != v}
    content: dict[str, Any] = {"method": method, "train": semantic, "params": params}
    if tuned:
        content["tuned"] = {"study": tuned["study"], "trial": tuned["trial"]}
    payload = json.dumps(content, sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()[:10]
