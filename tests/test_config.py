"""Run-config validation: one place, one clear line per bad value."""

import re
from pathlib import Path

import numpy as np
import pytest

from app_config import SCHEMA, load_config, make_config, pyproject_defaults, settings_markdown
from experiments.run import read_config
from fedrec.errors import ConfigError
from fedrec.targets import resolve_targets

PROJECT = Path(__file__).resolve().parents[1]
#: The documentation page that carries the generated settings tables.
SETTINGS_PAGE = PROJECT / "docs" / "configuration.md"


def test_schema_pyproject_and_settings_page_list_the_same_keys() -> None:
    """The three places a key appears stay in step: the composed schema, pyproject.toml, the settings page."""
    assert set(pyproject_defaults()) == set(SCHEMA.keys)
    text = SETTINGS_PAGE.read_text()
    assert settings_markdown() in text, "regenerate the tables in docs/configuration.md with `python -m app_config`"
    section = text[text.index("<!-- settings:") : text.index("<!-- end of settings -->")]
    rows = set(re.findall(r"^\| `([a-z0-9-]+)` \| `", section, re.M))
    assert rows == set(SCHEMA.keys)


@pytest.mark.parametrize(
    "shipped", sorted((PROJECT / "experiments" / "configs").glob("*.toml")), ids=lambda path: path.stem
)
def test_shipped_experiment_configs_are_valid_run_configs(shipped: Path) -> None:
    overrides, _ = read_config(shipped)
    make_config(overrides)


def test_defaults_validate_to_the_paper_setting() -> None:
    config = make_config()
    assert (config.model, config.embedding_dim, config.hidden_layers) == ("ncf", 8, (8, 8))
    assert (config.negatives, config.clients_per_round, config.lr, config.epochs) == (4, 256, 0.001, 30)
    assert config.top_k == (5, 10, 20, 30)


@pytest.mark.parametrize(
    ("override", "fragments"),
    [
        ({"attack": "nope"}, ["'attack'", "'nope'", "valid: none"]),
        ({"dataset": "ml-20m"}, ["'dataset'", "synthetic", "ml-100k", "ml-1m", "amazon-digital-music", "split-files"]),
        ({"model": "gru"}, ["'model'", "ncf, mf"]),
        ({"defense": "krum2"}, ["'defense'", "fedavg"]),
        ({"epochs": 0}, ["'epochs'", "0", ">= 1"]),
        ({"lr": "fast"}, ["'lr'", "expected float"]),
        ({"negatives": 2.5}, ["'negatives'", "expected int"]),
        ({"top_k": "5,x"}, ["'top-k'", "comma list"]),
        ({"hidden_layers": "8,0"}, ["'hidden-layers'"]),
        ({"hidden_layers": "8,,8"}, ["'hidden-layers'", "'8,,8'", "empty entry"]),
        ({"hidden_layers": ""}, ["'hidden-layers'", "comma list"]),
        ({"top_k": "5,"}, ["'top-k'", "empty entry"]),
        ({"target_items": "least-popular:0"}, ["'target-items'", "least-popular:N"]),
        ({"target_items": "popular"}, ["'target-items'"]),
        ({"loss": "mse"}, ["'loss'", "bce, bpr"]),
    ],
)
def test_bad_values_give_one_line_naming_key_value_and_allowed(override, fragments) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ConfigError) as caught:
        make_config(**override)
    message = str(caught.value)
    assert "\n" not in message
    for fragment in fragments:
        assert fragment in message


def test_unknown_key_lists_valid_keys() -> None:
    raw = {**pyproject_defaults(), "epoch": 3}
    with pytest.raises(ConfigError, match="unknown run-config key.*epoch.*valid: loss"):
        load_config(raw)


def test_target_items() -> None:
    popularity = [5, 1, 3, 1, 9]
    assert resolve_targets(make_config(target_items="least-popular:2").target_items, popularity, 0) == (1, 3)
    assert resolve_targets(make_config(target_items="4, 0").target_items, popularity, 0) == (4, 0)
    with pytest.raises(ConfigError, match="item indices run 0..4"):
        resolve_targets(make_config(target_items="7").target_items, popularity, 0)


def test_random_targets_are_drawn_from_the_seed_as_fedrecattacks_reference_draws_them() -> None:
    spec = make_config(target_items="random:1").target_items
    assert str(spec) == "random:1" and not spec.explicit
    # The reference: setup_seed(20211111), then np.random.choice(m_item, 1, replace=False) on ml-100k (1682 items).
    assert resolve_targets(spec, np.zeros(1682), 20211111) == (894,)
    drawn = resolve_targets(make_config(target_items="random:3").target_items, np.zeros(50), 7)
    assert len(set(drawn)) == 3 and max(drawn) < 50
    assert drawn == resolve_targets(make_config(target_items="random:3").target_items, np.zeros(50), 7)
    assert len({resolve_targets(spec, np.zeros(50), seed) for seed in range(10)}) > 1
    with pytest.raises(ConfigError, match="asks for 3 items; the data has 2"):
        resolve_targets(make_config(target_items="random:3").target_items, np.zeros(2), 7)
    with pytest.raises(ConfigError, match="random:N with N >= 1"):
        make_config(target_items="random:0")
