"""A small name → object registry that refuses duplicates and explains unknown names."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

from coldbench.errors import ColdbenchError

T = TypeVar("T")


class Registry(Generic[T]):
    """Maps names (and aliases) to registered objects of one kind."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._entries: dict[str, T] = {}
        self._aliases: dict[str, str] = {}

    def register(self, name: str, *aliases: str) -> Callable[[T], T]:
        """Decorator: register an object under ``name`` and optional aliases."""

        def decorate(obj: T) -> T:
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
        key = self._aliases.get(name, name)
        if key not in self._entries:
            available = ", ".join(sorted(self._entries))
            raise ColdbenchError(f"Unknown {self.kind} {name!r}. Available: {available}")
        return self._entries[key]

    def names(self) -> list[str]:
        """Registered names, sorted."""
        return sorted(self._entries)

    def __iter__(self) -> Iterator[tuple[str, T]]:
        return iter(sorted(self._entries.items()))

    def __contains__(self, name: str) -> bool:
        return name in self._entries or name in self._aliases
