"""Settings owned by plugins: a family's members declare their keys, the schema composes and validates them."""

import pickle
from dataclasses import FrozenInstanceError

import pytest

from app_config import SCHEMA, make_config
from fedrec.config import COMMON, Schema
from fedrec.errors import ConfigError
from fedrec.registry import Registry
from fedrec.settings import Setting


class _Quiet:
    settings = (
        Setting("quiet-steps", int, "Steps.", minimum=1),
        Setting("quiet-scale", float, "Scale.", minimum=0.0),
    )


class _Loud:
    settings = ()


def _family(check=None) -> Registry:  # type: ignore[no-untyped-def]
    family: Registry[type] = Registry("attack", key="attack", help="Attack.", check=check)
    family.register("loud", _Loud)
    family.register("quiet", _Quiet)  # one new class with two settings, one register line
    return family


def _raw(**values: object) -> dict[str, object]:
    common = {
        "loss": "bce",
        "loss-reduction": "mean",
        "l2-reg": 0.0,
        "l2-scope": "touched",
        "uniformity-reg": 0.0,
        "embedding-dropout": 0.0,
        "negatives": 4,
        "resample-negatives": True,
        "negatives-avoid-held-out": False,
        "repeated-items": "summed",
        "epochs": 1,
        "clients-per-round": 2,
        "client-sampling": "epoch",
        "lr": 0.1,
        "server-optimizer": "sgd",
        "user-lr": 0.1,
        "user-optimizer": "sgd",
        "eval-every": 1,
        "top-k": "10",
        "sampled-negatives": 0,
        "sampled-candidates": "fixed",
        "target-items": "least-popular:1",
        "exposure-mask": "train-and-test",
        "seed": 1,
        "results-dir": "/tmp",
        "run-name": "",
        "round-timeout": 5.0,
        "server-threads": 1,
    }
    return {**common, "attack": "quiet", "quiet-steps": 3, "quiet-scale": 2, **values}


def test_a_members_settings_join_the_schema_through_its_register_line() -> None:
    schema = Schema(COMMON, [_family()])
    assert list(schema.keys)[-3:] == ["attack", "quiet-steps", "quiet-scale"]
    config = schema.validate(_raw())
    assert (config.quiet_steps, config.quiet_scale) == (3, 2.0) and isinstance(config.quiet_scale, float)
    assert "| `quiet-steps` | `3` | Steps. | `quiet` |" in schema.markdown(_raw())
    with pytest.raises(ConfigError, match="run-config 'quiet-steps' = 0 is invalid: must be >= 1"):
        schema.validate(_raw(**{"quiet-steps": 0}))
    with pytest.raises(ConfigError, match="run-config key.*missing: quiet-scale"):
        schema.validate({k: v for k, v in _raw().items() if k != "quiet-scale"})


def test_a_family_check_sees_the_config_and_the_chosen_member() -> None:
    seen = []
    schema = Schema(COMMON, [_family(check=lambda config, member: seen.append((config.attack, member)))])
    schema.validate(_raw(attack="loud"))
    assert seen == [("loud", _Loud)]


def test_a_key_declared_twice_is_refused_at_composition() -> None:
    clash: Registry[type] = Registry("defense", settings=(Setting("epochs", int, "Again."),))
    with pytest.raises(ValueError, match="'epochs' is declared twice"):
        Schema(COMMON, [clash])
    family: Registry[type] = Registry("attack")
    family.register("a", type("A", (), {"settings": (Setting("shared", int, "One meaning."),)}))
    with pytest.raises(ValueError, match="redefines setting 'shared'"):
        family.register("b", type("B", (), {"settings": (Setting("shared", int, "Another meaning."),)}))


def test_the_run_config_is_typed_frozen_hashable_and_picklable() -> None:
    config = make_config(hidden_layers="16, 8", top_k="20,5,20")
    assert config.hidden_layers == (16, 8) and config.top_k == (5, 20)
    with pytest.raises(FrozenInstanceError):
        config.epochs = 3  # type: ignore[misc]
    with pytest.raises(AttributeError, match="no setting 'epoch'"):
        _ = config.epoch
    assert config == make_config(hidden_layers="16,8", top_k="5,20") and hash(config) == hash(
        make_config(hidden_layers="16,8", top_k="5,20")
    )
    assert pickle.loads(pickle.dumps(config)) == config
    assert config.as_dict()["hidden-layers"] == "16,8" and config.as_dict()["target-items"] == "least-popular:1"


def test_every_setting_belongs_to_exactly_one_group() -> None:
    titles = [group.title for group in SCHEMA.groups]
    assert titles == [
        "common",
        "dataset",
        "model",
        "attack",
        "defense",
        "client-defense",
        "privacy-attack",
        "privacy-defense",
        "fine-tune",
        "backdoor",
    ]
    owners = {owned.setting.name: group.title for group in SCHEMA.groups for owned in group.settings}
    assert (
        owners["hum-steps"] == "attack" and owners["hidden-layers"] == "model" and owners["trim-fraction"] == "defense"
    )
    assert owners["synthetic-users"] == "dataset" and owners["seed"] == "common"
