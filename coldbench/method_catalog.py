"""What `coldbench methods` and the report need to know of each method, read without importing it.

A method's summary, ``meta_trained`` flag and default settings live on its class, in its one file
under ``coldbench/methods/`` (the method contract). Those classes are torch modules, so importing
them costs seconds. This module reads the same files with :mod:`ast` instead: the classes that
``@register_method`` registers, their class attributes (inherited ones too, across files), and the
fields of their ``Config`` dataclasses, down to ``MethodConfig``: ``setting(default, ...)``,
``field(default=...)`` or a plain literal.

It answers from the files only where they settle the answer; otherwise it imports
``coldbench.methods`` and asks the registry, so both always agree:

* ``coldbench.methods`` is already imported, or an installed package declares entry points of the
  ``coldbench.methods`` group (plug-ins, which only an import can read): every answer;
* a file registers methods other than by ``@register_method`` (or a plain ``register_method(Cls)``),
  or cannot be read: every answer;
* one value is not a literal (a computed default, a ``default_factory``, a ``__post_init__``, an
  unknown decorator, a class attribute set from outside the class): that one lookup.
"""

from __future__ import annotations

import ast
import builtins
import sys
from dataclasses import dataclass
from functools import cache
from importlib import metadata
from pathlib import Path
from typing import Any

from coldbench.choices import METHOD_ENTRY_POINT_GROUP, METHOD_MODULES
from coldbench.errors import ColdbenchError

PACKAGE = "coldbench.methods"
FOLDER = Path(__file__).resolve().parent / "methods"


class _Unknown:
    """A value the files do not settle (only the import does)."""

    def __repr__(self) -> str:
        return "UNKNOWN"


UNKNOWN: Any = _Unknown()

# A name resolves to a reference (kind, module, name); kind is one of class, def (a function),
# value (any other assignment), module (name ""), external (defined outside the files read here).
Ref = tuple[str, str, str]
_DATACLASS: Ref = ("external", "dataclasses", "dataclass")
_FIELD: Ref = ("external", "dataclasses", "field")
_SETTING: Ref = ("external", "coldbench.config", "setting")
# dataclass() options under which ``Config().__dict__`` is exactly the fields and their defaults
_PLAIN_OPTIONS = {"repr", "eq", "order", "unsafe_hash", "frozen", "match_args", "kw_only"}
_FIELD_OPTIONS = {"default", "repr", "hash", "compare", "metadata", "kw_only"}
# methods that could change what an instance holds
_INSTANCE_HOOKS = {"__init__", "__post_init__", "__new__", "__setattr__", "__getattr__", "__getattribute__"}
_DEPTH = 64  # deepest chain of imports or base classes followed


class Dynamic(Exception):
    """The files do not say statically which methods register: only the import can tell."""


@dataclass(frozen=True)
class CatalogEntry:
    """A registered method as its file declares it; ``UNKNOWN`` where the file does not settle it."""

    name: str
    summary: Any  # str
    meta_trained: Any  # bool
    defaults: Any  # dict: field → default, in field order, as ``Config().__dict__``


@dataclass
class _Module:
    name: str
    tree: ast.Module
    is_package: bool
    bindings: dict[str, Any]  # top-level name → Ref, ("import", module, name) or UNKNOWN


def _literal(expr: ast.expr | None) -> Any:
    if expr is None:
        return UNKNOWN
    try:
        return ast.literal_eval(expr)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return UNKNOWN


def _bound_names(node: ast.AST) -> set[str]:
    """Every name a statement may bind, wherever inside it (conservative)."""
    names = set()
    for inner in ast.walk(node):
        if isinstance(inner, ast.Name) and isinstance(inner.ctx, ast.Store | ast.Del):
            names.add(inner.id)
        elif isinstance(inner, ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            names.add(inner.name)
        elif isinstance(inner, ast.Import | ast.ImportFrom):
            names.update(alias.asname or alias.name.split(".")[0] for alias in inner.names)
    return names


def _class_bindings(node: ast.ClassDef) -> dict[str, Any]:
    """Names the class body binds → the expression of their (last) value, or UNKNOWN."""
    bound: dict[str, Any] = {}
    for stmt in node.body:
        if isinstance(stmt, ast.Assign) and all(isinstance(t, ast.Name) for t in stmt.targets):
            bound.update(dict.fromkeys((t.id for t in stmt.targets), stmt.value))
        elif isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name):
            if stmt.value is not None:  # a bare annotation declares, it binds nothing
                bound[stmt.target.id] = stmt.value
        elif isinstance(stmt, ast.Expr | ast.Pass) and not _bound_names(stmt):
            continue
        else:
            bound.update(dict.fromkeys(_bound_names(stmt), UNKNOWN))
    return bound


class Reader:
    """Reads the method files of one package folder with ``ast``; never imports them."""

    def __init__(self, folder: Path = FOLDER, package: str = PACKAGE) -> None:
        self.folder, self.package = Path(folder), package
        self._modules: dict[str, _Module | None] = {}
        self._resolved: dict[tuple[str, str], Any] = {}
        self._patched: set[tuple[Ref, str]] = set()  # (class, attribute) set from outside the class body
        self.register: Ref = ("def", f"{package}.base", "register_method")
        self.registry: Ref = ("value", f"{package}.base", "METHODS")

    # --- files and names -----------------------------------------------------------------------

    def path(self, module: str) -> Path | None:
        """The file of ``module`` when it is one of the package's (else it is external)."""
        if module == self.package:
            path = self.folder / "__init__.py"
        elif module.startswith(f"{self.package}.") and "." not in module[len(self.package) + 1 :]:
            path = self.folder / f"{module[len(self.package) + 1 :]}.py"
        else:
            return None
        return path if path.is_file() else None

    def module(self, name: str) -> _Module | None:
        if name not in self._modules:
            path = self.path(name)
            if path is None:
                self._modules[name] = None
            else:
                try:
                    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
                except (OSError, UnicodeDecodeError, SyntaxError, ValueError) as error:
                    raise Dynamic(f"{path}: cannot be read ({error})") from None
                is_package = path.name == "__init__.py"
                self._modules[name] = _Module(name, tree, is_package, self._bindings(name, tree, is_package))
        return self._modules[name]

    @staticmethod
    def _source(name: str, is_package: bool, stmt: ast.ImportFrom) -> str:
        """The absolute module of ``from … import`` (relative imports too)."""
        if not stmt.level:
            return stmt.module or ""
        parts = name.split(".") if is_package else name.split(".")[:-1]
        parts = parts[: len(parts) - (stmt.level - 1)]
        return ".".join([*parts, stmt.module] if stmt.module else parts)

    def _bindings(self, name: str, tree: ast.Module, is_package: bool) -> dict[str, Any]:
        bound: dict[str, Any] = {}

        def bind(key: str, value: Any) -> None:
            bound[key] = UNKNOWN if key in bound else value  # bound twice: which one holds depends on when

        for stmt in tree.body:
            if isinstance(stmt, ast.ImportFrom):
                source = self._source(name, is_package, stmt)
                for alias in stmt.names:
                    if alias.name == "*":
                        raise Dynamic(f"{name}: from {source} import *")
                    bind(alias.asname or alias.name, ("import", source, alias.name))
            elif isinstance(stmt, ast.Import):
                for alias in stmt.names:
                    if alias.asname:
                        bind(alias.asname, ("module", alias.name, ""))
                    else:
                        top = alias.name.split(".")[0]
                        bind(top, ("module", top, ""))
            elif isinstance(stmt, ast.ClassDef):
                bind(stmt.name, ("class", name, stmt.name))
            elif isinstance(stmt, ast.FunctionDef | ast.AsyncFunctionDef):
                bind(stmt.name, ("def", name, stmt.name))
            elif isinstance(stmt, ast.Assign) and all(isinstance(t, ast.Name) for t in stmt.targets):
                for target in stmt.targets:
                    bind(target.id, ("value", name, target.id))
            elif isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name):
                if stmt.value is not None:  # a bare annotation binds nothing
                    bind(stmt.target.id, ("value", name, stmt.target.id))
            else:
                for key in _bound_names(stmt):
                    bound[key] = UNKNOWN
        return bound

    def resolve(self, module: str, name: str, depth: int = 0) -> Any:
        """What ``name`` means at the top level of ``module``: a Ref, or UNKNOWN."""
        key = (module, name)
        if key not in self._resolved:
            self._resolved[key] = self._resolve(module, name, depth)
        return self._resolved[key]

    def _resolve(self, module: str, name: str, depth: int) -> Any:
        if depth > _DEPTH:
            return UNKNOWN
        parsed = self.module(module)
        if parsed is None:
            return ("external", module, name)
        if name not in parsed.bindings:
            if parsed.is_package and self.path(f"{module}.{name}") is not None:
                return ("module", f"{module}.{name}", "")  # `from package import submodule`
            return ("external", "builtins", name) if hasattr(builtins, name) else UNKNOWN
        bound = parsed.bindings[name]
        if bound is UNKNOWN:
            return UNKNOWN
        if bound[0] == "import":
            return self.resolve(bound[1], bound[2], depth + 1)
        return bound

    def resolve_expr(self, module: str, expr: ast.expr) -> Any:
        """What a name or dotted name (``dataclasses.field``) in ``module`` means."""
        if isinstance(expr, ast.Name):
            return self.resolve(module, expr.id)
        if isinstance(expr, ast.Attribute):
            owner = self.resolve_expr(module, expr.value)
            if owner is not UNKNOWN and owner[0] == "module":
                return self.resolve(owner[1], expr.attr)
        return UNKNOWN

    def class_node(self, ref: Ref) -> ast.ClassDef:
        parsed = self.module(ref[1])
        assert parsed is not None
        return next(s for s in parsed.tree.body if isinstance(s, ast.ClassDef) and s.name == ref[2])

    # --- classes -------------------------------------------------------------------------------

    def class_attr(self, ref: Any, attr: str, depth: int = 0) -> Any:
        """Where class ``ref`` gets ``attr``: (module, expression), or UNKNOWN."""
        if depth > _DEPTH or ref is UNKNOWN or ref[0] != "class":
            return UNKNOWN
        if (ref, attr) in self._patched or (ref, "*") in self._patched:
            return UNKNOWN
        node = self.class_node(ref)
        decorators = [self.resolve_expr(ref[1], d) for d in node.decorator_list]
        if node.keywords or any(d not in (self.register, _DATACLASS) for d in decorators):
            return UNKNOWN  # a metaclass or a decorator may change the class
        bound = _class_bindings(node)
        if attr in bound:
            return UNKNOWN if bound[attr] is UNKNOWN else (ref[1], bound[attr])
        if len(node.bases) != 1:
            return UNKNOWN
        return self.class_attr(self.resolve_expr(ref[1], node.bases[0]), attr, depth + 1)

    def attr_literal(self, ref: Ref, attr: str, kind: type) -> Any:
        where = self.class_attr(ref, attr)
        value = UNKNOWN if where is UNKNOWN else _literal(where[1])
        return value if type(value) is kind else UNKNOWN

    def field_default(self, module: str, value: ast.expr) -> Any:
        """A dataclass field's default from ``setting(d, …)``, ``field(default=d, …)`` or ``d``."""
        if not isinstance(value, ast.Call):
            return _literal(value)
        target = self.resolve_expr(module, value.func)
        keywords = {k.arg: k.value for k in value.keywords}
        if None in keywords or any(isinstance(a, ast.Starred) for a in value.args):
            return UNKNOWN
        if target == _SETTING:
            if len(value.args) == 1 and "default" not in keywords:
                return _literal(value.args[0])
            return _literal(keywords["default"]) if not value.args and "default" in keywords else UNKNOWN
        if target == _FIELD and not value.args and "default" in keywords and set(keywords) <= _FIELD_OPTIONS:
            return _literal(keywords["default"])
        return UNKNOWN

    def config_defaults(self, ref: Any, depth: int = 0) -> Any:
        """``Config().__dict__`` of dataclass ``ref``, inherited fields first; UNKNOWN if unsure."""
        if depth > _DEPTH or ref is UNKNOWN or ref[0] != "class":
            return UNKNOWN
        if any(patched == ref for patched, _ in self._patched):
            return UNKNOWN
        module, node = ref[1], self.class_node(ref)
        if node.keywords or len(node.decorator_list) != 1 or len(node.bases) > 1:
            return UNKNOWN
        decorator = node.decorator_list[0]
        options: list[ast.keyword] = []
        if isinstance(decorator, ast.Call):
            if decorator.args:
                return UNKNOWN
            decorator, options = decorator.func, decorator.keywords
        if self.resolve_expr(module, decorator) != _DATACLASS:
            return UNKNOWN
        if any(k.arg not in _PLAIN_OPTIONS for k in options):
            return UNKNOWN  # init=False, slots=True, **options: not plain fields
        if node.bases:
            inherited = self.config_defaults(self.resolve_expr(module, node.bases[0]), depth + 1)
            if inherited is UNKNOWN:
                return UNKNOWN
            defaults = dict(inherited)
        else:
            defaults = {}
        annotated = {
            s.target.id for s in node.body if isinstance(s, ast.AnnAssign) and isinstance(s.target, ast.Name)
        }
        for stmt in node.body:
            if isinstance(stmt, ast.Expr | ast.Pass) and not _bound_names(stmt):
                continue
            if isinstance(stmt, ast.FunctionDef | ast.AsyncFunctionDef):
                if stmt.name in _INSTANCE_HOOKS or stmt.name in defaults or stmt.name in annotated:
                    return UNKNOWN
                continue
            if isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name):
                name, annotation = stmt.target.id, ast.unparse(stmt.annotation)
                if "ClassVar" in annotation and name not in defaults:
                    continue  # a class attribute, not a field
                if stmt.value is None or any(w in annotation for w in ("ClassVar", "InitVar", "KW_ONLY")):
                    return UNKNOWN
                default = self.field_default(module, stmt.value)
                if default is UNKNOWN or isinstance(default, list | dict | set):
                    return UNKNOWN  # (a mutable default: the dataclass refuses it on import)
                defaults[name] = default  # an inherited field keeps its place
                continue
            if isinstance(stmt, ast.Assign) and all(isinstance(t, ast.Name) for t in stmt.targets):
                if any(t.id in defaults or t.id in annotated for t in stmt.targets):
                    return UNKNOWN  # a plain assignment over a field
                continue
            return UNKNOWN
        return defaults

    # --- the catalog ---------------------------------------------------------------------------

    def _imports(self, name: str) -> set[str]:
        """The package's modules that ``name`` imports (anywhere in it)."""
        parsed = self.module(name)
        assert parsed is not None
        found = set()
        for node in ast.walk(parsed.tree):
            if isinstance(node, ast.Import):
                found.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom):
                source = self._source(name, parsed.is_package, node)
                found.add(source)
                found.update(f"{source}.{alias.name}" for alias in node.names)
        return {module for module in found if self.path(module) is not None}

    def _note_patches(self, name: str) -> None:
        """Class attributes set from outside the class body (``Cls.summary = …``, ``setattr``)."""
        parsed = self.module(name)
        assert parsed is not None
        for node in ast.walk(parsed.tree):
            if isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store | ast.Del):
                owner = self.resolve_expr(name, node.value)
                if owner is not UNKNOWN and owner[0] == "class":
                    self._patched.add((owner, node.attr))
            elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.args:
                if node.func.id in ("setattr", "delattr"):
                    owner = self.resolve_expr(name, node.args[0])
                    attr = _literal(node.args[1]) if len(node.args) > 1 else UNKNOWN
                    if owner is not UNKNOWN and owner[0] == "class":
                        self._patched.add((owner, attr if isinstance(attr, str) else "*"))

    def _registered_classes(self, name: str) -> list[Ref]:
        """The classes module ``name`` registers; Dynamic if it does so any other way."""
        parsed = self.module(name)
        assert parsed is not None
        classes, uses = [], 0
        for stmt in parsed.tree.body:
            if isinstance(stmt, ast.ClassDef):
                decorators = [self.resolve_expr(name, d) for d in stmt.decorator_list]
                if self.register in decorators:
                    if len(decorators) != 1:
                        raise Dynamic(f"{name}: class {stmt.name} has a decorator beside register_method")
                    classes.append(("class", name, stmt.name))
            elif isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Call):
                call = stmt.value
                if self.resolve_expr(name, call.func) == self.register and len(call.args) == 1:
                    target = self.resolve_expr(name, call.args[0])
                    if not call.keywords and target is not UNKNOWN and target[0] == "class":
                        classes.append(target)
        for node in ast.walk(parsed.tree):
            if isinstance(node, ast.Name | ast.Attribute):
                if self.resolve_expr(name, node) in (self.register, self.registry):
                    uses += 1
        if uses != len(classes):
            raise Dynamic(f"{name}: registers methods other than with @register_method")
        return classes

    def catalog(self, modules: tuple[str, ...] = METHOD_MODULES) -> dict[str, CatalogEntry]:
        """Every method the modules register (on import) → what its files say of it."""
        roots = [f"{self.package}.{m}" for m in modules]
        for root in roots:
            if self.path(root) is None:
                raise Dynamic(f"{root}: no such file in {self.folder}")
        seen, todo = set(), list(roots)
        while todo:  # the modules importing them imports too (a helper may register a method)
            name = todo.pop()
            if name not in seen:
                seen.add(name)
                todo.extend(self._imports(name))
        for name in sorted(seen):
            self._note_patches(name)
        found: dict[str, CatalogEntry] = {}
        contract = {self.package, f"{self.package}.base"}
        for name in sorted(seen - contract):
            for ref in self._registered_classes(name):
                method = self.attr_literal(ref, "name", str)
                if method is UNKNOWN or method in found:
                    raise Dynamic(f"{ref[1]}.{ref[2]}: its name is not a literal, or is registered twice")
                config = self.class_attr(ref, "Config")
                config_ref = UNKNOWN if config is UNKNOWN else self.resolve_expr(*config)
                found[method] = CatalogEntry(
                    name=method,
                    summary=self.attr_literal(ref, "summary", str),
                    meta_trained=self.attr_literal(ref, "meta_trained", bool),
                    defaults=self.config_defaults(config_ref),
                )
        return found


def read_catalog(folder: Path = FOLDER, modules: tuple[str, ...] = METHOD_MODULES) -> dict | None:
    """The built-in methods as their files declare them; None when only the import can tell."""
    try:
        return Reader(folder).catalog(modules)
    except (Dynamic, RecursionError):
        return None


@cache
def _static_catalog() -> dict[str, CatalogEntry] | None:
    return read_catalog()


@cache
def _plugins_declared() -> bool:
    return any(True for _ in metadata.entry_points(group=METHOD_ENTRY_POINT_GROUP))


def _catalog() -> dict[str, CatalogEntry] | None:
    """The static catalog, or None where the registry must answer (see the module's docstring)."""
    if PACKAGE in sys.modules or _plugins_declared():
        return None
    return _static_catalog()


def _imported(method: str) -> Any:
    from coldbench.methods import METHODS  # torch: only where the files cannot answer

    return METHODS.get(method)


def _entry(method: str) -> CatalogEntry | None:
    catalog = _catalog()
    if catalog is None:
        return None
    if method not in catalog:  # as the registry words it
        raise ColdbenchError(f"Unknown method {method!r}. Available: {', '.join(sorted(catalog))}")
    return catalog[method]


def method_names() -> list[str]:
    """Every registered method, sorted (as ``METHODS.names()``)."""
    catalog = _catalog()
    if catalog is None:
        from coldbench.methods import METHODS

        return METHODS.names()
    return sorted(catalog)


def summary(method: str) -> str:
    """The method's one-line ``summary``; an unknown method is a ColdbenchError."""
    entry = _entry(method)
    return _imported(method).summary if entry is None or entry.summary is UNKNOWN else entry.summary


def meta_trained(method: str) -> bool:
    """False for methods fitted in closed form (the floors), True for the rest."""
    entry = _entry(method)
    if entry is None or entry.meta_trained is UNKNOWN:
        return _imported(method).meta_trained
    return entry.meta_trained


def config_defaults(method: str) -> dict[str, Any]:
    """``Config().__dict__`` of the method: each setting's default."""
    entry = _entry(method)
    if entry is None or entry.defaults is UNKNOWN:
        return dict(_imported(method).Config().__dict__)
    return dict(entry.defaults)
