"""The static method catalog: what it reads from the method files equals what the classes say.

`coldbench methods` and the report read a method's summary, ``meta_trained`` and default settings
from its file (``coldbench.method_catalog``) so that they need no torch. These tests hold it to the
imported classes, check the reader on small made-up method files, and check the fall-backs to the
import (a value that is not a literal, third-party plug-ins).
"""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from coldbench import method_catalog
from coldbench.choices import METHOD_ENTRY_POINT_GROUP, METHOD_MODULES
from coldbench.config import as_dict
from coldbench.errors import ColdbenchError
from coldbench.method_catalog import UNKNOWN, Dynamic, Reader, config_defaults, meta_trained, read_catalog
from coldbench.methods import METHODS

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE_PLUGIN = Path(__file__).parent / "plugin_example"


def builtin_classes() -> dict[str, type]:
    """The registered methods that coldbench itself ships (plug-ins left out)."""
    return {name: cls for name, cls in METHODS if cls.__module__.startswith("coldbench.methods.")}


def exact(values: dict) -> list[tuple]:
    """Items with their types, in order, so that 1 == 1.0 or (1,) == [1] never pass."""
    return [(key, type(value).__name__, repr(value)) for key, value in values.items()]


def test_builtin_modules_are_the_ones_imported():
    modules = {cls.__module__ for cls in builtin_classes().values()}
    assert modules <= {f"coldbench.methods.{name}" for name in METHOD_MODULES}
    assert METHOD_ENTRY_POINT_GROUP == "coldbench.methods"


def test_static_catalog_equals_the_imported_classes():
    catalog = read_catalog()
    assert catalog is not None, "the method files register methods in a way the catalog cannot read"
    classes = builtin_classes()
    assert sorted(catalog) == sorted(classes)
    for name, cls in classes.items():
        entry = catalog[name]
        hint = f"{name}: not a literal in its file? (then `coldbench methods`/report import torch)"
        assert entry.summary == cls.summary and type(entry.summary) is str, hint
        assert entry.meta_trained is cls.meta_trained, hint
        assert entry.defaults is not UNKNOWN, hint
        assert exact(entry.defaults) == exact(cls.Config().__dict__), name


def test_unsettled_values_are_read_from_the_import(monkeypatch):
    static = read_catalog()
    assert static is not None
    melu = dataclasses.replace(static["melu"], summary=UNKNOWN, meta_trained=UNKNOWN, defaults=UNKNOWN)
    monkeypatch.setattr(method_catalog, "_catalog", lambda: {**static, "melu": melu})
    cls = METHODS.get("melu")
    assert method_catalog.summary("melu") == cls.summary and meta_trained("melu") is True
    assert exact(config_defaults("melu")) == exact(cls.Config().__dict__)
    assert meta_trained("bias") is False and config_defaults("reg-paml")["gamma"] == 1e-3
    config_defaults("tanp").clear()  # callers get a copy
    assert "encoder_hidden" in config_defaults("tanp")
    with pytest.raises(ColdbenchError) as from_files:
        method_catalog.summary("nosuch")
    with pytest.raises(ColdbenchError) as from_registry:
        METHODS.get("nosuch")
    assert str(from_files.value) == str(from_registry.value)


def _fresh(code: str, *paths: Path) -> dict:
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": ":".join(str(p) for p in (ROOT, *paths))}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=False)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])


FRESH = """
import json, sys
from coldbench import method_catalog as catalog
from coldbench.report.runs import variant_label
from coldbench.report.tables import _gamma
cases = json.loads({cases!r})
methods = {{
    n: [catalog.summary(n), catalog.meta_trained(n), repr(catalog.config_defaults(n))]
    for n in catalog.method_names()
}}
labels = [variant_label(*case) for case in cases]
gammas = [_gamma(label, label.split(" ")[0]) for label in labels]
heavy = [m for m in ("torch", "coldbench.methods") if m in sys.modules]
print(json.dumps({{"methods": methods, "labels": labels, "gammas": gammas, "heavy": heavy}}))
"""


def _label_cases() -> list[list]:
    paper = {"epochs": 20, "patience": 0, "min_delta": 0.0}
    cases: list[list] = []
    for name, cls in builtin_classes().items():
        params = as_dict(cls.Config())  # as config.json records them (tuples as lists)
        first = next(k for k, v in params.items() if isinstance(v, float) and v)
        tuned = {"settings": {first: 1.0}, "study": "s", "trial": 3}
        cases += [
            [name, params],
            [name, params, {"epochs": 10}],
            [name, {**params, first: 2 * params[first]}],
        ]
        cases += [[name, {}, paper], [name, params, {}, tuned]]
    cases += [["tanp", {"encoder_hidden": [32]}], ["reg-paml", {"gamma": 0.01}, paper], ["nosuch", {"x": 1}]]
    return cases


def test_fresh_interpreter_answers_from_the_files_as_the_classes_do():
    """No torch, and every summary, default, report label and γ as with the imported classes."""
    from coldbench.report.runs import variant_label
    from coldbench.report.tables import _gamma

    assert "coldbench.methods" in sys.modules  # so the expectations below come from the classes
    cases = _label_cases()
    fresh = _fresh(FRESH.format(cases=json.dumps(cases)))
    assert fresh["heavy"] == []
    expected = {name: [cls.summary, cls.meta_trained, repr(cls.Config().__dict__)] for name, cls in METHODS}
    assert fresh["methods"] == expected
    labels = [variant_label(*case) for case in cases]
    assert fresh["labels"] == labels
    assert fresh["gammas"] == [_gamma(label, label.split(" ")[0]) for label in labels]
    assert "reg-paml [paper] (gamma=0.01)" in labels and "nosuch (x=1)" not in labels


def test_installed_plugins_are_listed_through_the_import(tmp_path):
    """An entry point of the group: the catalog defers to the registry, which loads the plug-in."""
    info = tmp_path / "coldbench_example_plugin-0.1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: coldbench-example-plugin\nVersion: 0.1.0\n")
    target = "coldbench_example_plugin:LearnedRate"
    (info / "entry_points.txt").write_text(f"[{METHOD_ENTRY_POINT_GROUP}]\nexample-learned-lr = {target}\n")
    code = (
        "import json, sys\nfrom coldbench import method_catalog as c\n"
        "print(json.dumps({'names': c.method_names(), 'summary': c.summary('example-learned-lr'),"
        " 'defaults': repr(c.config_defaults('example-learned-lr'))}))"
    )
    fresh = _fresh(code, EXAMPLE_PLUGIN, tmp_path)
    assert fresh["names"] == sorted([*builtin_classes(), "example-learned-lr"])
    assert fresh["summary"].startswith("Example plug-in")
    assert fresh["defaults"] == repr({"outer_lr": 5e-5, "init_lr": 1e-3})


# --- the reader on made-up method files (read with ast, never imported) ------------------------

BASE = """
from dataclasses import dataclass

from coldbench.config import setting
from coldbench.registry import Registry


@dataclass
class MethodConfig:
    outer_lr: float = setting(5e-5, above=0)


class Method:
    Config = MethodConfig
    meta_trained = True


METHODS = Registry("method")


def register_method(cls):
    return METHODS.register(cls.name)(cls)
"""

ALPHA = """
from dataclasses import dataclass, field
from typing import ClassVar

from coldbench.config import setting
from coldbench.methods.base import Method, MethodConfig, register_method


@dataclass
class AlphaConfig(MethodConfig):
    rate: float = setting(default=1e-3, min=0)
    hidden: tuple[int, ...] = field(default=(8, 4))
    kind: str = "x"
    LIMIT = 3  # a class constant, not a field
    ignored: ClassVar[int] = 1


@register_method
class Alpha(Method):
    name = "alpha"
    summary = "Alpha " "method"
    Config = AlphaConfig
"""

BETA = """
from dataclasses import dataclass as dc

from . import alpha
from .alpha import Alpha as A
from coldbench.methods import base


@dc(frozen=True)
class BetaConfig(alpha.AlphaConfig):
    outer_lr: float = 1e-4
    extra: int = -2


@base.register_method
class Beta(A):
    name = "beta"
    Config = BetaConfig
    meta_trained = False
"""


def _package(tmp_path: Path, **modules: str) -> Path:
    folder = tmp_path / "methods"
    folder.mkdir()
    (folder / "__init__.py").write_text("")
    (folder / "base.py").write_text(BASE)
    for name, source in modules.items():
        (folder / f"{name}.py").write_text(textwrap.dedent(source))
    return folder


def test_reader_follows_inheritance_across_files(tmp_path):
    folder = _package(tmp_path, alpha=ALPHA, beta=BETA)
    catalog = Reader(folder).catalog(("alpha", "beta"))
    assert sorted(catalog) == ["alpha", "beta"]
    alpha, beta = catalog["alpha"], catalog["beta"]
    assert (alpha.summary, alpha.meta_trained) == ("Alpha method", True)
    assert exact(alpha.defaults) == exact({"outer_lr": 5e-5, "rate": 1e-3, "hidden": (8, 4), "kind": "x"})
    assert (beta.summary, beta.meta_trained) == ("Alpha method", False)  # inherited, own
    expected = {"outer_lr": 1e-4, "rate": 1e-3, "hidden": (8, 4), "kind": "x", "extra": -2}
    assert exact(beta.defaults) == exact(expected)  # an overridden field keeps its place


@pytest.mark.parametrize(
    "config_body",
    [
        "rate: float = 1e-3 * 2",  # computed
        "rate: float = RATE",  # a name
        "rate: list = field(default_factory=list)",
        "rate: list = field(default=[1e-3])",  # mutable: the import fails
        "rate: float = setting(RATE, min=0)",
        "rate: float = 1e-3\n    def __post_init__(self):\n        self.rate *= 2",
        "rate: float = 1e-3\n    rate = 2e-3",  # a plain assignment over a field
        "outer_lr = 1e-3",  # restated without annotation: the inherited default still holds
        "rate: float",  # no default
    ],
)
def test_a_default_that_is_not_a_literal_is_left_to_the_import(tmp_path, config_body):
    source = f"""
from dataclasses import dataclass, field

from coldbench.config import setting
from coldbench.methods.base import Method, MethodConfig, register_method

RATE = 1e-3


@dataclass
class GammaConfig(MethodConfig):
    {config_body}


@register_method
class Gamma(Method):
    name = "gamma"
    summary = "Gamma"
    Config = GammaConfig
"""
    entry = Reader(_package(tmp_path, gamma=source)).catalog(("gamma",))["gamma"]
    assert entry.defaults is UNKNOWN
    assert (entry.summary, entry.meta_trained) == ("Gamma", True)  # the rest is still read


@pytest.mark.parametrize(
    "tail",
    [
        "Delta.summary = 'changed'",
        "setattr(Delta, 'summary', 'changed')",
        "def describe():\n    Delta.summary = 'changed'",
    ],
)
def test_a_class_attribute_set_from_outside_is_left_to_the_import(tmp_path, tail):
    source = f"""
from coldbench.methods.base import Method, register_method

SUMMARY = "Delta"


@register_method
class Delta(Method):
    name = "delta"
    summary = "Delta"


@register_method
class Other(Method):
    name = "other"
    summary = SUMMARY  # a name, not a literal


{tail}
"""
    catalog = Reader(_package(tmp_path, delta=source)).catalog(("delta",))
    assert catalog["delta"].summary is UNKNOWN and catalog["other"].summary is UNKNOWN
    assert catalog["delta"].defaults == {"outer_lr": 5e-5}


def test_registration_by_call_and_by_an_imported_helper(tmp_path):
    helper = """
from coldbench.methods.base import Method, register_method


class Helper(Method):
    name = "helper"
    summary = "Registered by a module that a method file imports"


register_method(Helper)
"""
    main = "from coldbench.methods import helper  # noqa: F401\n"
    catalog = Reader(_package(tmp_path, helper=helper, main=main)).catalog(("main",))
    assert list(catalog) == ["helper"] and catalog["helper"].summary.startswith("Registered by")


@pytest.mark.parametrize(
    "source",
    [
        "from coldbench.methods.base import METHODS, Method\n\n\nclass Z(Method):\n    name = 'z'\n\n\n"
        "METHODS.register('z')(Z)\n",
        "from coldbench.methods.base import Method, register_method\n\nNAME = 'z'\n\n\n@register_method\n"
        "class Z(Method):\n    name = NAME\n",
        "from coldbench.methods.base import Method, register_method\n\nif True:\n\n    @register_method\n"
        "    class Z(Method):\n        name = 'z'\n",
        "from coldbench.methods.base import Method, register_method\n\nfor name in ('y', 'z'):\n"
        "    register_method(type(name, (Method,), {'name': name}))\n",
        "from coldbench.methods.base import *\n",
        "def broken(:\n",  # a syntax error
    ],
)
def test_registration_the_files_cannot_show_defers_everything_to_the_import(tmp_path, source):
    folder = _package(tmp_path, zeta=source)
    with pytest.raises(Dynamic):
        Reader(folder).catalog(("zeta",))
    assert read_catalog(folder, ("zeta",)) is None


def test_a_missing_module_defers_to_the_import(tmp_path):
    assert read_catalog(_package(tmp_path), ("nosuch",)) is None
