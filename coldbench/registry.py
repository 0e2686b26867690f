"""A small name → object registry that refuses duplicates and explains unknown names.

A registry may also take objects from other installed packages: ``use_entry_points(group)``
makes it load every entry point of that group (``importlib.metadata``) the first time it is asked
for a name or the list. An entry point names a module that registers itself on import, or the
object itself (registered under its ``name``). One that fails is a one-line ColdbenchError.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from importlib import metadata
from types import ModuleType
from typing import Generic, TypeVar

from coldbench.errors import ColdbenchError
from coldbench.paths import NAME_PATTERN

T = TypeVar("T")


class Registry(Generic[T]):
    """Maps names (and aliases) to registered objects of one kind."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._entries: dict[str, T] = {}
        self._aliases: dict[str, str] = {}
        self._group: str | None = None
        self._check: Callable[[object], str | None] | None = None
        self._plugins_loaded = True

    def use_entry_points(self, group: str, check: Callable[[object], str | None] | None = None) -> None:
        """Load the entry points of ``group`` lazily, before the next lookup or listing.

        ``check(obj)`` returns why a loaded object is unfit (or None): the error names the plug-in.
        """
        self._group, self._check = group, check
        self._plugins_loaded = False

    def _load_plugins(self) -> None:
        if self._plugins_loaded or self._group is None:
            return
        self._plugins_loaded = True  # first, so that a plug-in may use the registry while importing
        for point in metadata.entry_points(group=self._group):
            package = point.dist.name if point.dist is not None else "an unknown package"
            where = f"{self.kind} plug-in {point.name!r} (entry point {point.value!r} of package {package!r})"
            try:
                loaded = point.load()
            except (Exception, SystemExit, KeyboardInterrupt) as error:  # foreign code: one clear line
                raise ColdbenchError(f"{where} failed to load: {type(error).__name__}: {error}") from None
            if isinstance(loaded, ModuleType):
                continue  # a module that registered itself on import
            if loaded in self._entries.values():
                continue
            problem = self._check(loaded) if self._check else None
            if problem:
                raise ColdbenchError(f"{where}: {loaded!r} {problem}")
            name = getattr(loaded, "name", None)
            if not isinstance(name, str) or not name:
                raise ColdbenchError(f"{where} gave {loaded!r}, which has no string attribute 'name'")
            try:
                self.register(name)(loaded)
            except ValueError as error:
                raise ColdbenchError(f"{where}: {error}") from None

    def register(self, name: str, *aliases: str) -> Callable[[T], T]:
        """Decorator: register an object under ``name`` and optional aliases."""

        def decorate(obj: T) -> T:
            for key in (name, *aliases):  # a name becomes a results folder, as a typed one does
                if not isinstance(key, str) or not NAME_PATTERN.fullmatch(key):
                    raise ValueError(
                        f"{self.kind} name {key!r} is not a plain name (letters, digits, '-', '_', '.')"
                    )
            for key in (name, *aliases):
                if key in self._entries or key in self._aliases:
                    raise ValueError(f"{self.kind} {key!r} is registered twice")
            self._entries[name] = obj
            for alias in aliases:
                self._aliases[alias] = name
            return obj

        return decorate

    def get(self, name: str) -> T:
        """The object registered as ``name``; an unknown name is a ColdbenchError."""
        self._load_plugins()
        key = self._aliases.get(name, name)
        if key not in self._entries:
            available = ", ".join(sorted(self._entries))
            raise ColdbenchError(f"Unknown {self.kind} {name!r}. Available: {available}")
        return self._entries[key]

    def names(self) -> list[str]:
        """Registered names, sorted."""
        self._load_plugins()
        return sorted(self._entries)

    def __iter__(self) -> Iterator[tuple[str, T]]:
        self._load_plugins()
        return iter(sorted(self._entries.items()))

    def __contains__(self, name: str) -> bool:
        self._load_plugins()
        return name in self._entries or name in self._aliases
