"""Typed registries of tasks and methods that reject duplicate ids and freeze after plugins load."""

from __future__ import annotations

import difflib
from typing import Callable, Generic, Iterator, TypeVar

from mirl.errors import DuplicateIdError, MirlError, UnknownIdError

T = TypeVar("T")


class Registry(Generic[T]):
    """Maps ids to registered objects and remembers which plugin provided each one."""

    def __init__(self, kind: str, key: Callable[[T], str]):
        self.kind = kind
        self._key = key
        self._items: dict[str, T] = {}
        self._providers: dict[str, str] = {}
        self._frozen = False

    def add(self, item: T, provider: str) -> None:
        if self._frozen:
            raise MirlError(f"the {self.kind} registry is frozen; register {self.kind}s from a plugin hook")
        item_id = self._key(item)
        if item_id in self._items:
            raise DuplicateIdError(
                f"{self.kind} id {item_id!r} is registered twice: by plugin {self._providers[item_id]!r} "
                f"and by plugin {provider!r}; uninstall one or block it with MIRL_DISABLE_PLUGINS"
            )
        self._items[item_id] = item
        self._providers[item_id] = provider

    def freeze(self) -> None:
        self._frozen = True

    def get(self, item_id: str) -> T:
        try:
            return self._items[item_id]
        except KeyError:
            raise UnknownIdError(self.unknown_message(item_id)) from None

    def unknown_message(self, item_id: str) -> str:
        close = difflib.get_close_matches(item_id, list(self._items), n=3, cutoff=0.5)
        hint = f"; did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
        listing = f"`mirl {self.kind}s{' list' if self.kind == 'agent' else ''}` lists them"
        return f"unknown {self.kind} {item_id!r}{hint} ({listing})"

    def provider(self, item_id: str) -> str:
        return self._providers[item_id]

    def ids(self) -> list[str]:
        return sorted(self._items)

    def __contains__(self, item_id: object) -> bool:
        return item_id in self._items

    def __iter__(self) -> Iterator[T]:
        return (self._items[i] for i in self.ids())

    def __len__(self) -> int:
        return len(self._items)
