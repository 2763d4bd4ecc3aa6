"""The app's run config, composed once: the core settings plus every family's (datasets, models,
attacks, defenses, client-side training defenses, privacy attacks, privacy defenses,
fine-tuning scenarios, pre-training backdoors).

This is the one module that knows every family; `fedrec/` knows none of them. The ServerApp, the
ClientApp, the experiment scripts and the tests all validate through `load_config`, so a run config
is checked by the same rules everywhere. `python -m app_config` prints the README's settings tables.
"""

from collections.abc import Mapping
from typing import Any

from attacks import ATTACKS
from client_defenses import CLIENT_DEFENSES
from datasets import DATASETS
from fedrec.config import COMMON, RunConfig, Schema, pyproject_defaults
from fedrec.errors import ConfigError
from fedrec.models.registry import MODELS
from pretrained import BACKDOORS, FINE_TUNING
from privacy import PRIVACY_ATTACKS, PRIVACY_DEFENSES
from strategies import STRATEGIES

SCHEMA = Schema(
    COMMON,
    (DATASETS, MODELS, ATTACKS, STRATEGIES, CLIENT_DEFENSES, PRIVACY_ATTACKS, PRIVACY_DEFENSES, FINE_TUNING, BACKDOORS),
)


def load_config(raw: Mapping[str, Any]) -> RunConfig:
    """Validate a whole run config (Flower's `context.run_config`) into a `RunConfig`."""
    config = SCHEMA.validate(raw)
    _sequential_fits(config)
    _separate_rows_fit(config)
    _sampled_candidates_fit(config)
    _l2_on_all_fits(config)
    _embedding_dropout_fits(config)
    _user_adam_fits(config)
    return config


def make_config(settings: Mapping[str, Any] | None = None, /, **overrides: Any) -> RunConfig:
    """The default run config with `settings` (run-config keys, as in a settings file) and then keyword
    overrides ('_' stands for '-') applied, validated."""
    raw = pyproject_defaults()
    raw.update(settings or {})
    raw.update({key.replace("_", "-"): value for key, value in overrides.items()})
    return load_config(raw)


def _sequential_fits(config: RunConfig) -> None:
    """A sequential model learns from time-ordered sequences and has no private user embedding, so it
    needs the leave-last-out split, and the attack and privacy families (built on user embeddings and
    sampled (user, item) pairs) do not apply to it, except attacks built for it (`Attack.sequential`)."""
    if not MODELS.selected(config).sequential:
        return
    if config.split != "leave-last-out":
        raise ConfigError(
            f"model {config.model!r} is sequential: set split = 'leave-last-out' (chronological leave-one-out)"
        )
    for key, value in (
        ("attack", "none" if ATTACKS.selected(config).sequential else config.attack),
        ("client-defense", config.client_defense),
        ("privacy-attack", config.privacy_attack),
        ("privacy-defense", config.privacy_defense),
    ):
        if value != "none":
            built = [name for name in ATTACKS.names() if ATTACKS.get(name).sequential] if key == "attack" else []
            also = f" or one built for it ({', '.join(built)})" if built else ""
            raise ConfigError(
                f"{key} {value!r} is built for embedding models; with model {config.model!r} use {key} = 'none'{also}"
            )
    if config.secure_aggregation:
        raise ConfigError(f"secure-aggregation is not available with model {config.model!r}")
    if config.negatives_avoid_held_out:
        raise ConfigError(
            f"negatives-avoid-held-out is built for embedding models; with model {config.model!r} set it false"
        )
    if config.user_optimizer != "sgd":
        raise ConfigError(
            f"user-optimizer steps a private user embedding, which model {config.model!r} does not have: "
            "set user-optimizer = 'sgd'"
        )
    if config.l2_reg:
        # The sequential loss (fedrec/sequential/training.py) has no L2 term: l2-reg would be silently ignored.
        raise ConfigError(
            f"l2-reg regularises the user and item embeddings of embedding models; with model {config.model!r} "
            f"set l2-reg = 0 (it is {config.l2_reg})"
        )


def _embedding_dropout_fits(config: RunConfig) -> None:
    """`embedding-dropout` gives each sample its own dropped copy of p_u, which MF's dot product scores; the MLP
    models take one p_u per user in their local step."""
    if config.embedding_dropout > 0 and config.model != "mf":
        raise ConfigError(
            f"embedding-dropout is built for model 'mf', not {config.model!r}: set embedding-dropout = 0 "
            f"(it is {config.embedding_dropout})"
        )


def _user_adam_fits(config: RunConfig) -> None:
    """`user-optimizer = "adam"` counts Adam's steps by the server's rounds; the curious server's extra rounds
    (`round-difference`) are numbered past the run's, so a row they step would be replayed through rounds that never
    came."""
    if config.user_optimizer == "adam" and config.round_difference != "none":
        raise ConfigError(
            f"user-optimizer 'adam' counts its steps by the server's rounds, which round-difference "
            f"{config.round_difference!r} adds extra rounds past: use user-optimizer = 'sgd' with it"
        )


def _separate_rows_fit(config: RunConfig) -> None:
    """`repeated-items = "separate"` only changes what a rule sees where it aggregates each item over its uploaded
    rows (a per-item rule); every other rule sums or merges a user's rows of an item, where it cannot take effect.
    The paths built on one row per (user, item) refuse it: UNION's contrastive rows, secure aggregation's sums, the
    privacy attacks and defenses on the uploads."""
    if config.repeated_items != "separate":
        return
    where = "repeated-items = 'separate'"
    rule = STRATEGIES.selected(config)
    if not rule.aggregates_item_rows(config):
        has_aggregation = any(setting.name == "aggregation" for setting in rule.settings)
        setting = f" with aggregation = {config.aggregation!r}" if has_aggregation else ""
        raise ConfigError(
            f"{where} (a row per sample) takes effect only with a rule that aggregates each item over its rows "
            f"(aggregation = 'per-item' with median, trimmed-mean, krum, ...); defense {config.defense!r}{setting} "
            "merges a user's rows of an item: use repeated-items = 'summed'"
        )
    for key, value, off in (
        ("uniformity-reg", config.uniformity_reg, 0.0),
        ("secure-aggregation", config.secure_aggregation, False),
        ("privacy-attack", config.privacy_attack, "none"),
        ("privacy-defense", config.privacy_defense, "none"),
    ):
        if value != off:
            raise ConfigError(f"{where} is not available with {key} = {value!r}; use repeated-items = 'summed'")


def _sampled_candidates_fit(config: RunConfig) -> None:
    """`sampled-candidates` says when the sampled metrics' items are drawn; without sampled metrics it cannot
    take effect."""
    if config.sampled_candidates != "fixed" and not config.sampled_negatives:
        raise ConfigError(
            f"sampled-candidates = {config.sampled_candidates!r} takes effect only with sampled metrics: set "
            "sampled-negatives > 0 (e.g. 99) or leave sampled-candidates = 'fixed'"
        )


def settings_markdown() -> str:
    """The README's settings tables, grouped by family."""
    return SCHEMA.markdown(pyproject_defaults())


__all__ = ["SCHEMA", "RunConfig", "load_config", "make_config", "pyproject_defaults", "settings_markdown"]


#: The rules under which the server's l2-reg * Θ equals every client's own L2 term under the rule: a (weighted)
#: mean, UNION's filters, which choose by differences between users that the common term leaves unchanged, and
#: UNION's norm bounding, which counts the term in each user's norm and scales it with the update
#: (`ThetaGradient.l2_share`).
_L2_ON_ALL_RULES = ("union", "multi-krum-union", "norm-bound-union")


def _l2_on_all_fits(config: RunConfig) -> None:
    """`l2-scope = "all"` adds l2-reg * Θ to the aggregate on the server, which is every client's own L2 of every
    parameter only where the rule averages the clients' gradients, on a model trained in full from the clients'
    uploads as they are; elsewhere it would be another algorithm, so it is refused."""
    if config.l2_scope != "all":
        return
    if config.l2_reg == 0:
        raise ConfigError("l2-scope 'all' regularises with l2-reg, which is 0: set l2-reg > 0 or l2-scope = 'touched'")
    averaged = config.defense in _L2_ON_ALL_RULES or (
        config.defense == "fedavg" and config.fedavg_mode in ("weighted", "mean")
    )
    if not averaged:
        raise ConfigError(
            f"l2-scope 'all' equals each client's L2 only under a mean: use defense 'fedavg' with fedavg-mode "
            f"'weighted' or 'mean', or {', '.join(repr(rule) for rule in _L2_ON_ALL_RULES)} (defense "
            f"{config.defense!r}, fedavg-mode {config.fedavg_mode!r})"
        )
    for key, value, allowed in (
        ("model", config.model, "an embedding model" if MODELS.selected(config).sequential else None),
        ("fine-tune", config.fine_tune, "'full'" if config.fine_tune != "full" else None),
        ("privacy-attack", config.privacy_attack, "'none'" if config.privacy_attack != "none" else None),
        ("privacy-defense", config.privacy_defense, "'none'" if config.privacy_defense != "none" else None),
        ("secure-aggregation", config.secure_aggregation, "false" if config.secure_aggregation else None),
    ):
        if allowed is not None:
            raise ConfigError(
                f"l2-scope 'all' is the server's term for clients that upload their gradients as they are, on an "
                f"embedding model trained in full: set {key} to {allowed} (it is {value!r}) or l2-scope = 'touched'"
            )
