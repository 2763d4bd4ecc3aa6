"""The one exception type users see for bad input."""


class ConfigError(ValueError):
    """A run-config value, a data file or a name is not usable; the message says why in one line."""
