"""A name -> object registry, one per pluggable family (datasets, models, attacks, defenses).

A registry also owns its family's run-config settings: the key that picks a member (`attack`,
`defense`, ...), the settings of the family as a whole, and each member's own settings, passed to
`register` or declared by the member as a class attribute `settings`. `fedrec.config.Schema`
composes the run config from them, so adding a member with two settings is one new file and one
`register` line (plus the two defaults in `pyproject.toml`, which Flower requires).
"""

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from fedrec.errors import ConfigError
from fedrec.settings import Setting

T = TypeVar("T")


@dataclass(frozen=True)
class OwnedSetting:
    """A setting and the members that use it (empty: the whole family)."""

    setting: Setting
    owners: tuple[str, ...]


class Registry(Generic[T]):
    """Maps user-facing names to implementations; unknown names fail with the list of valid ones.

    `check(config, member)` runs once the whole config is validated, for rules that span keys (e.g. an
    attack that needs some `attacker-knowledge`); `member` is the entry the config picked.
    """

    def __init__(
        self,
        family: str,
        key: str | None = None,
        help: str = "",
        settings: Sequence[Setting] = (),
        check: Callable[[Any, T], None] | None = None,
    ) -> None:
        self.family = family
        self.key = key
        self.help = help
        self.shared = tuple(settings)
        self.check = check
        self._entries: dict[str, T] = {}
        self._settings: dict[str, tuple[Setting, list[str]]] = {}

    def register(self, name: str, entry: T, settings: Sequence[Setting] = ()) -> T:
        if name in self._entries:
            raise ValueError(f"{self.family} {name!r} is registered twice")
        self._entries[name] = entry
        for setting in (*getattr(entry, "settings", ()), *settings):
            known, owners = self._settings.setdefault(setting.name, (setting, []))
            if known != setting:
                raise ValueError(f"{self.family} {name!r} redefines setting {setting.name!r}")
            owners.append(name)
        return entry

    def get(self, name: str) -> T:
        try:
            return self._entries[name]
        except KeyError:
            raise ConfigError(f"unknown {self.family} {name!r}; valid: {', '.join(self.names())}") from None

    def names(self) -> list[str]:
        return list(self._entries)

    def selected(self, config: Any) -> T:
        """The member the config's selector key names."""
        if self.key is None:
            raise ValueError(f"the {self.family} registry has no selector key")
        return self.get(getattr(config, self.key.replace("-", "_")))

    def settings(self) -> list[OwnedSetting]:
        """The family's selector key, its shared settings, then its members' own, in registration order."""
        selector = [Setting(self.key, str, self.help, self.names)] if self.key else []
        owned = [OwnedSetting(setting, ()) for setting in (*selector, *self.shared)]
        return owned + [OwnedSetting(setting, tuple(owners)) for setting, owners in self._settings.values()]

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)
