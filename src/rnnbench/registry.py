"""One registry type for every kind of variant (cells, tasks, figures, claims, measures).

A registry maps names to entries; `get` turns an unknown name into the one "unknown value"
message, naming the config key that chose it. An entry may be given lazily as an import path
"module:attr", loaded on first use; a registry that accepts plugins also loads any import path a
user gives. `load` turns what an import path names into an entry (e.g. a class into a checked
instance) and raises `SpecError` with the reason when it is not one.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterator, Mapping
from typing import Generic, TypeVar

from .errors import SpecError, unknown

T = TypeVar("T")


class Registry(Mapping[str, T], Generic[T]):
    """Named entries of one kind; `key` is the config key whose value names one."""

    def __init__(
        self,
        key: str,
        entries: Mapping[str, T | str] | None = None,
        load: Callable[[object, str], T] | None = None,
        plugins: bool = False,
    ):
        self.key, self.plugins = key, plugins
        self._load = load or (lambda obj, path: obj)
        self._entries: dict[str, T | str] = dict(entries or {})
        self._loaded: dict[str, T] = {}

    def add(self, name: str, entry: T | str) -> T | str:
        """Register entry (an object, or a lazy "module:attr") under name."""
        if name in self._entries:
            raise ValueError(f"{self.key}: {name!r} is registered twice")
        self._entries[name] = entry
        return entry

    def register(self, name: str) -> Callable[[T], T]:
        """Decorator form of `add`."""

        def add(entry: T) -> T:
            self.add(name, entry)
            return entry

        return add

    def get(self, name: str) -> T:
        """The entry `name` (a registered name, or with plugins an import path "module:attr");
        a one-line SpecError for anything else."""
        if name in self._loaded:
            return self._loaded[name]
        entry = self._entries.get(name)
        if entry is None:
            if not (self.plugins and ":" in str(name)):
                choices = [*self._entries, *(["or an import path module:Class"] * self.plugins)]
                raise unknown(self.key, name, choices)
            entry = name
        self._loaded[name] = self._resolve(entry) if isinstance(entry, str) else entry
        return self._loaded[name]

    def _resolve(self, path: str) -> T:
        module, _, attr = path.partition(":")
        try:
            obj = getattr(importlib.import_module(module), attr)
        except Exception as err:  # any error of a user's module: one line, not its traceback
            raise SpecError(self.key, f"cannot import {path!r} ({one_line(err)})") from None
        return self._load(obj, path)

    def __getitem__(self, name: str) -> T:
        return self.get(name)

    def __contains__(self, name) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)


def one_line(err: BaseException) -> str:
    """An exception as one line: its type and the first line of its message."""
    return f"{type(err).__name__}: {(str(err).splitlines() or [''])[0]}"
