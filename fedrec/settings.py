"""One run-config setting: its name, type, rule and one-line help, declared next to the code it tunes.

Every family (datasets, models, attacks, defenses) declares the settings its members own and hands
them to its registry; `fedrec.config.Schema` composes them with the core settings. A setting checks
one raw value (as Flower parsed it from `pyproject.toml` or `--run-config`) and returns it typed, or
raises a one-line `ConfigError` naming the key, the value and what is allowed.
"""

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from fedrec.errors import ConfigError


@dataclass(frozen=True)
class Setting:
    """A run-config key. `choices` may be a callable (a registry's names, known only once it is filled);
    `convert` turns the checked raw value into the typed one (e.g. "8,8" -> (8, 8))."""

    name: str
    kind: type
    help: str
    choices: tuple[str, ...] | Callable[[], list[str]] | None = field(default=None, compare=False)
    minimum: float | None = None
    maximum: float | None = None
    convert: Callable[[str, Any], Any] | None = field(default=None, compare=False)

    @property
    def attribute(self) -> str:
        """The name of this setting on `RunConfig` ('-' -> '_')."""
        return self.name.replace("-", "_")

    def allowed(self) -> list[str] | None:
        if self.choices is None:
            return None
        return list(self.choices) if isinstance(self.choices, tuple) else self.choices()

    def check(self, value: Any) -> Any:
        """The typed value, or a ConfigError saying what is wrong with it."""
        if self.kind is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if self.kind is bool and isinstance(value, str) and value.lower() in ("true", "false"):
            value = value.lower() == "true"
        if not isinstance(value, self.kind) or (self.kind is int and isinstance(value, bool)):
            raise self.invalid(value, f"expected {self.kind.__name__}")
        if self.minimum is not None and value < self.minimum:
            raise self.invalid(value, f"must be >= {self.minimum}")
        if self.maximum is not None and value > self.maximum:
            raise self.invalid(value, f"must be <= {self.maximum}")
        allowed = self.allowed()
        if allowed is not None and value not in allowed:
            raise self.invalid(value, f"valid: {', '.join(allowed)}")
        return self.convert(self.name, value) if self.convert else value

    def invalid(self, value: Any, allowed: str) -> ConfigError:
        return ConfigError(f"run-config '{self.name}' = {value!r} is invalid: {allowed}")


def positive_int_list(name: str, text: str) -> tuple[int, ...]:
    """A comma list of positive integers, e.g. '8,8'; every entry must be there ('8,,8' is an error)."""
    parts = [part.strip() for part in text.split(",")]
    example = "expected a comma list of positive integers, e.g. '8,8'"
    if not text.strip():
        raise ConfigError(f"run-config '{name}' = {text!r} is invalid: {example}")
    if "" in parts:
        raise ConfigError(f"run-config '{name}' = {text!r} is invalid: empty entry in the comma list; {example}")
    try:
        values = tuple(int(part) for part in parts)
    except ValueError:
        raise ConfigError(f"run-config '{name}' = {text!r} is invalid: {example}") from None
    if min(values) < 1:
        raise ConfigError(f"run-config '{name}' = {text!r} is invalid: {example}")
    return values


def user_path(name: str, text: str) -> str:
    """A path with `~` expanded (paths are read on the machine that runs the app)."""
    return os.path.expanduser(text)
