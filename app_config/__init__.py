"""The app's run config, composed once: the core settings plus every family's (datasets, models,
attacks, defenses, privacy attacks, privacy defenses).

This is the one module that knows every family; `fedrec/` knows none of them. The ServerApp, the
ClientApp, the experiment scripts and the tests all validate through `load_config`, so a run config
is checked by the same rules everywhere. `python -m app_config` prints the README's settings tables.
"""

from collections.abc import Mapping
from typing import Any

from attacks import ATTACKS
from datasets import DATASETS
from fedrec.config import COMMON, RunConfig, Schema, pyproject_defaults
from fedrec.models import MODELS
from privacy import PRIVACY_ATTACKS, PRIVACY_DEFENSES
from strategies import STRATEGIES

SCHEMA = Schema(COMMON, (DATASETS, MODELS, ATTACKS, STRATEGIES, PRIVACY_ATTACKS, PRIVACY_DEFENSES))


def load_config(raw: Mapping[str, Any]) -> RunConfig:
    """Validate a whole run config (Flower's `context.run_config`) into a `RunConfig`."""
    return SCHEMA.validate(raw)


def make_config(**overrides: Any) -> RunConfig:
    """The default run config with keyword overrides ('_' stands for '-'), validated."""
    raw = pyproject_defaults()
    raw.update({key.replace("_", "-"): value for key, value in overrides.items()})
    return SCHEMA.validate(raw)


def settings_markdown() -> str:
    """The README's settings tables, grouped by family."""
    return SCHEMA.markdown(pyproject_defaults())


__all__ = ["SCHEMA", "RunConfig", "load_config", "make_config", "pyproject_defaults", "settings_markdown"]
