"""The run-config schema: every key, its type, what it allows, and what it means.

Defaults live in `pyproject.toml` (`[tool.flwr.app.config]`, Flower requires every key there); this
module owns the types and the rules. `RunConfig.from_mapping` validates a whole run config once and
returns a typed, frozen object; every bad value raises a one-line `ConfigError` naming the key, the
value and what is allowed.
"""

import importlib
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from typing import Any

from fedrec.errors import ConfigError


def _registry_names(package: str, attribute: str) -> Callable[[], list[str]]:
    # Imported lazily: the registries (or name tuples) live in modules that import this core, or torch.
    def names() -> list[str]:
        family = importlib.import_module(package).__dict__[attribute]
        return list(family) if isinstance(family, tuple) else family.names()

    return names


@dataclass(frozen=True)
class Key:
    """One run-config key: its Python type, a rule, and a one-line description for the README."""

    name: str
    kind: type
    help: str
    choices: Callable[[], list[str]] | tuple[str, ...] | None = None
    minimum: float | None = None
    maximum: float | None = None

    def allowed(self) -> list[str] | None:
        if self.choices is None:
            return None
        return list(self.choices) if isinstance(self.choices, tuple) else self.choices()


SCHEMA: tuple[Key, ...] = (
    Key("dataset", str, "Data to train on.", _registry_names("datasets", "DATASETS")),
    Key("data-dir", str, "Folder with local copies of the data files; empty = the download cache `~/.cache/fedrec-arena/<dataset>`."),
    Key("split", str, "Train/test split: `published` uses a dataset's own split where its files have one (ml-1m's train.dat/test.dat, split-files); `random` pools every interaction and splits each user's items 80/20 at random with `seed` (what datasets without a published split always do).", ("published", "random")),
    Key("synthetic-users", int, "Users of the `synthetic` dataset.", minimum=2),
    Key("synthetic-items", int, "Items of the `synthetic` dataset.", minimum=10),
    Key("synthetic-interactions", int, "Mean interactions per user of the `synthetic` dataset.", minimum=5),
    Key("model", str, "Recommender model.", _registry_names("fedrec.models", "MODELS")),
    Key("embedding-dim", int, "Size of user and item embeddings.", minimum=1),
    Key("hidden-layers", str, "NCF MLP hidden sizes, a comma list (ignored by `mf`)."),
    Key("loss", str, "Training loss.", ("bce", "bpr")),
    Key("negatives", int, "Negatives sampled per positive (r).", minimum=1),
    Key("resample-negatives", bool, "Draw new negatives every epoch (false: fixed once, as the reference code does)."),
    Key("epochs", int, "Epochs; each user trains once per epoch.", minimum=1),
    Key("clients-per-round", int, "Users sampled per round.", minimum=1),
    Key("lr", float, "Server learning rate (with `sgd`: theta <- theta - lr * aggregate).", minimum=0.0),
    Key("server-optimizer", str, "How the server applies the aggregate to theta: `sgd` (the reference paper) or `adam` (torch's Adam; FedAttack's victim).", _registry_names("fedrec.server_step", "SERVER_OPTIMIZERS")),
    Key("user-lr", float, "Client learning rate for the private user embedding.", minimum=0.0),
    Key("fedavg-mode", str, "FedAvg combines user gradients by `sum` (the paper) or `mean`.", ("sum", "mean")),
    Key("eval-every", int, "Evaluate every this many epochs (the last epoch is always evaluated).", minimum=1),
    Key("top-k", str, "Cut-offs K for all @K metrics, a comma list."),
    Key("target-items", str, "Items whose exposure ER@K is tracked: `least-popular:N` or a comma list of item indices."),
    Key("attack", str, "Attack run by malicious clients.", _registry_names("attacks", "ATTACKS")),
    Key("malicious-fraction", float, "rho: malicious clients as a fraction of the benign users (m = int(rho * users)).", minimum=0.0, maximum=1.0),
    Key("malicious-mode", str, "`injected` fake users, `compromised` real users taken over, or `auto`: the attack's own setting.", ("auto", "injected", "compromised")),
    Key("attacker-knowledge", str, "What the attacker knows besides the Θ it receives (`full`: the round's benign updates).", ("none", "popularity", "public-interactions", "full")),
    Key("public-fraction", float, "xi: share of each user's interactions that is public (with `public-interactions`).", minimum=0.0, maximum=1.0),
    Key("attack-start-epoch", int, "First epoch (1-based) in which malicious clients poison.", minimum=1),
    Key("attack-samples", int, "n: approximated users per target item (A-ra, A-hum).", minimum=1),
    Key("attack-sigma", float, "sigma: std of the approximated user embeddings (A-ra, A-hum).", minimum=0.0),
    Key("hum-steps", int, "beta: gradient steps of hard user mining (A-hum).", minimum=0),
    Key("hum-lr", float, "Learning rate of hard user mining (A-hum).", minimum=0.0),
    Key("fake-profile-size", int, "Items in a fake user's profile, targets included (random, bandwagon).", minimum=1),
    Key("fedattack-norm", str, "FedAttack's upload: `free` as computed (the paper) or `honest`, scaled to the L2 norm of the client's honest update of the round (not in the paper).", ("free", "honest")),
    Key("gaussian-variance", float, "Variance of the `gaussian` attack's updates (Fang et al.: 200).", minimum=0.0),
    Key("fedrecattack-items", int, "kappa: items each FedRecAttack client uploads, targets included.", minimum=1),
    Key("fedrecattack-grad-limit", float, "Per-item L2 limit of a FedRecAttack client's rows.", minimum=0.0),
    Key("defense", str, "Aggregation strategy on the server (`flwr:<Name>` runs Flower's own).", _registry_names("strategies", "STRATEGIES")),
    Key("aggregation", str, "How robust rules treat sparse uploads: each item row over the users who sent it (`per-item`) or over all users with zeros (`dense`).", ("per-item", "dense")),
    Key("tolerated-attackers", int, "f: attackers per round the rule tolerates (Krum, Multi-Krum, Bulyan).", minimum=0),
    Key("trim-fraction", float, "beta: share cut at each end by the trimmed mean.", minimum=0.0, maximum=0.49),
    Key("norm-bound", float, "tau: L2 bound on each user's whole update (norm-bound).", minimum=0.0),
    Key("item-clip-limit", float, "L2 bound on each uploaded item row (item-clip).", minimum=0.0),
    Key("seed", int, "Seed for initialisation, split, sampling and schedule.", minimum=0),
    Key("results-dir", str, "Where run folders are written (created if missing)."),
    Key("run-name", str, "Name of this run's folder; empty = timestamp and main settings."),
    Key("round-timeout", float, "Seconds to wait for the replies of one round.", minimum=1.0),
)
KEYS: dict[str, Key] = {key.name: key for key in SCHEMA}


def _check_value(key: Key, value: Any) -> Any:
    def fail(allowed: str) -> ConfigError:
        return ConfigError(f"run-config '{key.name}' = {value!r} is invalid: {allowed}")

    if key.kind is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if key.kind is bool and isinstance(value, str) and value.lower() in ("true", "false"):
        value = value.lower() == "true"
    if not isinstance(value, key.kind) or (key.kind is int and isinstance(value, bool)):
        raise fail(f"expected {key.kind.__name__}")
    if key.minimum is not None and value < key.minimum:
        raise fail(f"must be >= {key.minimum}")
    if key.maximum is not None and value > key.maximum:
        raise fail(f"must be <= {key.maximum}")
    allowed = key.allowed()
    if allowed is not None and value not in allowed:
        raise fail(f"valid: {', '.join(allowed)}")
    return value


def _int_list(key: str, text: str) -> tuple[int, ...]:
    try:
        values = tuple(int(part) for part in text.split(",") if part.strip())
    except ValueError:
        raise ConfigError(f"run-config '{key}' = {text!r} is invalid: expected a comma list of integers") from None
    if not values or min(values) < 1:
        raise ConfigError(f"run-config '{key}' = {text!r} is invalid: expected positive integers, e.g. '5,10'")
    return values


@dataclass(frozen=True)
class TargetSpec:
    """Which items are attack targets: the `count` least popular ones, or explicit indices."""

    least_popular: int = 0
    explicit: tuple[int, ...] = ()

    @classmethod
    def parse(cls, text: str) -> "TargetSpec":
        text = text.strip()
        if text.startswith("least-popular:"):
            count = text.split(":", 1)[1]
            if not count.isdigit() or int(count) < 1:
                raise ConfigError(
                    f"run-config 'target-items' = {text!r} is invalid: use least-popular:N with N >= 1"
                )
            return cls(least_popular=int(count))
        try:
            items = tuple(int(part) for part in text.split(",") if part.strip())
        except ValueError:
            items = ()
        if not items or min(items) < 0:
            raise ConfigError(
                f"run-config 'target-items' = {text!r} is invalid: use least-popular:N or item indices like '12,40'"
            )
        return cls(explicit=items)


@dataclass(frozen=True)
class RunConfig:
    """A validated run config. Field names are the keys with '-' replaced by '_'."""

    dataset: str
    data_dir: str
    split: str
    synthetic_users: int
    synthetic_items: int
    synthetic_interactions: int
    model: str
    embedding_dim: int
    hidden_layers: tuple[int, ...]
    loss: str
    negatives: int
    resample_negatives: bool
    epochs: int
    clients_per_round: int
    lr: float
    server_optimizer: str
    user_lr: float
    fedavg_mode: str
    eval_every: int
    top_k: tuple[int, ...]
    target_items: TargetSpec
    attack: str
    malicious_fraction: float
    malicious_mode: str
    attacker_knowledge: str
    public_fraction: float
    attack_start_epoch: int
    attack_samples: int
    attack_sigma: float
    hum_steps: int
    hum_lr: float
    fake_profile_size: int
    fedattack_norm: str
    gaussian_variance: float
    fedrecattack_items: int
    fedrecattack_grad_limit: float
    defense: str
    aggregation: str
    tolerated_attackers: int
    trim_fraction: float
    norm_bound: float
    item_clip_limit: float
    seed: int
    results_dir: str
    run_name: str
    round_timeout: float

    @classmethod
    def from_mapping(cls, raw: Mapping[str, Any]) -> "RunConfig":
        """Validate a Flower run config (or any mapping with every key) into a `RunConfig`."""
        unknown = sorted(set(raw) - set(KEYS))
        if unknown:
            raise ConfigError(f"unknown run-config key(s) {', '.join(unknown)}; valid: {', '.join(KEYS)}")
        missing = [name for name in KEYS if name not in raw]
        if missing:
            raise ConfigError(f"run-config key(s) missing: {', '.join(missing)}")
        values = {name.replace("-", "_"): _check_value(KEYS[name], raw[name]) for name in KEYS}
        values["hidden_layers"] = _int_list("hidden-layers", values["hidden_layers"])
        values["top_k"] = tuple(sorted(set(_int_list("top-k", values["top_k"]))))
        values["target_items"] = TargetSpec.parse(values["target_items"])
        values["results_dir"] = os.path.expanduser(values["results_dir"])
        values["data_dir"] = os.path.expanduser(values["data_dir"])
        config = cls(**values)
        # Attack, malicious-mode and attacker-knowledge must fit together; the attack says how.
        importlib.import_module("attacks.threat").attack_mode(config)
        return config

    def as_dict(self) -> dict[str, Any]:
        """The resolved config with the original key names, for the results folder."""
        out: dict[str, Any] = {}
        for field in fields(self):
            value = getattr(self, field.name)
            if isinstance(value, tuple):
                value = ",".join(map(str, value))
            elif isinstance(value, TargetSpec):
                value = (
                    f"least-popular:{value.least_popular}" if value.least_popular else ",".join(map(str, value.explicit))
                )
            out[field.name.replace("_", "-")] = value
        return out


PYPROJECT = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "pyproject.toml")


def pyproject_defaults() -> dict[str, Any]:
    """The app's run-config defaults as declared in pyproject.toml."""
    import tomllib

    with open(PYPROJECT, "rb") as stream:
        return dict(tomllib.load(stream)["tool"]["flwr"]["app"]["config"])


def make_config(**overrides: Any) -> RunConfig:
    """The default run config with keyword overrides ('_' stands for '-'), validated."""
    raw = pyproject_defaults()
    raw.update({key.replace("_", "-"): value for key, value in overrides.items()})
    return RunConfig.from_mapping(raw)


def markdown_table() -> str:
    """The README's table of run-config keys (`python -m fedrec.config` prints it)."""
    defaults = pyproject_defaults()
    lines = ["| key | default | meaning |", "|---|---|---|"]
    for key in SCHEMA:
        value = defaults[key.name]
        shown = f'`"{value}"`' if isinstance(value, str) else f"`{str(value).lower() if isinstance(value, bool) else value}`"
        allowed = key.allowed()
        choices = f" One of: {', '.join(f'`{name}`' for name in allowed)}." if allowed else ""
        lines.append(f"| `{key.name}` | {shown} | {key.help}{choices} |")
    return "\n".join(lines)


if __name__ == "__main__":
    print(markdown_table())
