"""A name -> object registry, one per pluggable family (datasets, models, attacks, strategies)."""

from collections.abc import Iterator
from typing import Generic, TypeVar

from fedrec.errors import ConfigError

T = TypeVar("T")


class Registry(Generic[T]):
    """Maps user-facing names to implementations; unknown names fail with the list of valid ones."""

    def __init__(self, family: str) -> None:
        self.family = family
        self._entries: dict[str, T] = {}

    def register(self, name: str, entry: T) -> T:
        if name in self._entries:
            raise ValueError(f"{self.family} {name!r} is registered twice")
        self._entries[name] = entry
        return entry

    def get(self, name: str) -> T:
        try:
            return self._entries[name]
        except KeyError:
            raise ConfigError(
                f"unknown {self.family} {name!r}; valid: {', '.join(self.names())}"
            ) from None

    def names(self) -> list[str]:
        return list(self._entries)

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)
