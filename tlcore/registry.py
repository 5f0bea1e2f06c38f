"""A small name -> entry registry that refuses duplicates.

Backbones, datasets, shifts, strategies and transferability scores each live in one of
these. An entry carries its own ``name`` and is registered under it (``REG.add(entry)``), so
a name is written once. Entries are registered explicitly by the module that defines them
(never discovered by scanning), so a test can sweep ``names()`` and a typo in a name fails
loudly with the list of known names.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Generic, Protocol, TypeVar


class Named(Protocol):
    name: str


T = TypeVar("T", bound=Named)


class Registry(Generic[T]):
    """Ordered mapping of unique names to entries of one kind."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._entries: dict[str, T] = {}

    def add(self, entry: T) -> T:
        """Register ``entry`` under its own ``name``; a second entry of that name is refused."""
        name = entry.name
        if name in self._entries:
            raise ValueError(f"{self.kind} {name!r} is already registered")
        self._entries[name] = entry
        return entry

    def sort(self, key) -> None:
        """Reorder the entries by ``key(entry)`` (a package that imports its modules
        alphabetically puts them in their listing order once, after the imports)."""
        self._entries = dict(sorted(self._entries.items(), key=lambda kv: key(kv[1])))

    def remove(self, name: str) -> None:
        """Drop an entry (tests that register a toy entry take it out again)."""
        del self._entries[name]

    def get(self, name: str) -> T:
        try:
            return self._entries[name]
        except KeyError:
            known = ", ".join(self._entries) or "(none)"
            raise KeyError(f"unknown {self.kind} {name!r}; known: {known}") from None

    def names(self) -> list[str]:
        return list(self._entries)

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[T]:
        return iter(self._entries.values())

    def __len__(self) -> int:
        return len(self._entries)
