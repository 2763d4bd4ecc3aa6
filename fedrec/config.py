"""The run config: the core settings, a schema composed with every family's, and the validated object.

Defaults live in `pyproject.toml` (`[tool.flwr.app.config]`, Flower requires every key there). The
core settings of the protocol and the run are declared here; each family (datasets, models, attacks,
defenses) declares its own next to its code and hands them to its registry (`fedrec.registry`).
`Schema` composes the two; `Schema.validate` checks a whole run config once and returns a frozen
`RunConfig`; every bad value raises a one-line `ConfigError` naming the key, the value and what is
allowed. This module knows no family by name: the app's composition root (`app_config`) passes them.
"""

import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import FrozenInstanceError, dataclass
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any

from fedrec.errors import ConfigError
from fedrec.evaluation.metrics import EXPOSURE_MASKS, SAMPLED_CANDIDATES
from fedrec.registry import OwnedSetting, Registry
from fedrec.settings import Setting, positive_int_list, user_path
from fedrec.training.losses import REDUCTIONS
from fedrec.training.schedule import CLIENT_SAMPLINGS
from fedrec.training.server_step import L2_SCOPES, SERVER_OPTIMIZERS
from fedrec.training.user_step import USER_OPTIMIZERS


@dataclass(frozen=True)
class TargetSpec:
    """Which items are attack targets: the `least_popular` least popular ones, `random` ones drawn from the
    seed, `group_matched` ones of middle popularity whose audience over-represents the target group (the
    provider's choice, `fedrec.targets.group_matched_targets`), or explicit indices."""

    least_popular: int = 0
    random: int = 0
    group_matched: int = 0
    explicit: tuple[int, ...] = ()

    @classmethod
    def parse(cls, name: str, text: str) -> "TargetSpec":
        text = text.strip()
        for prefix, field in (
            ("least-popular:", "least_popular"),
            ("random:", "random"),
            ("group-matched:", "group_matched"),
        ):
            if text.startswith(prefix):
                count = text.split(":", 1)[1]
                if not count.isdigit() or int(count) < 1:
                    raise ConfigError(f"run-config '{name}' = {text!r} is invalid: use {prefix}N with N >= 1")
                return cls(**{field: int(count)})
        try:
            items = tuple(int(part) for part in text.split(",") if part.strip())
        except ValueError:
            items = ()
        if not items or min(items) < 0:
            raise ConfigError(
                f"run-config '{name}' = {text!r} is invalid: use least-popular:N, random:N, group-matched:N or item "
                "indices like '12,40'"
            )
        return cls(explicit=items)

    def __str__(self) -> str:
        if self.least_popular:
            return f"least-popular:{self.least_popular}"
        if self.group_matched:
            return f"group-matched:{self.group_matched}"
        return f"random:{self.random}" if self.random else ",".join(map(str, self.explicit))


def _sorted_ks(name: str, text: str) -> tuple[int, ...]:
    return tuple(sorted(set(positive_int_list(name, text))))


COMMON: tuple[Setting, ...] = (
    Setting("loss", str, "Training loss.", ("bce", "bpr")),
    Setting(
        "loss-reduction",
        str,
        "How a user's loss combines its samples: `mean` or `sum` (FedRecAttack's reference code; a user's gradient "
        "then grows with its number of samples).",
        REDUCTIONS,
    ),
    Setting(
        "l2-reg",
        float,
        "L2 regularisation: adds l2-reg / 2 * (the squared norms of p_u and of each sample's item row) to a user's "
        "loss, so its gradient (in the uploaded item rows too) carries l2-reg * the row, as FedRecAttack's reference "
        "code does with 0.1; 0 = none. Under `l2-scope = touched` dense (MLP) parameters are not regularised. "
        "Embedding models only (a sequential model refuses it).",
        minimum=0.0,
    ),
    Setting(
        "l2-scope",
        str,
        "Where `l2-reg` applies: `touched` (p_u and each sample's item row, on the client: FedRecAttack's reference) "
        "or `all` (ClusterAttack-UNION's reference, which adds the L2 of every parameter to each client's loss: p_u on "
        "the client, and on the server l2-reg * Θ added to each round's aggregated gradient of every Θ entry but the "
        "biases, which is what every client's own term gives under the weighted mean; `norm-bound-union` counts "
        "each user's term in its norm and scales the term with its update, as the reference bounds dense gradients).",
        L2_SCOPES,
    ),
    Setting(
        "uniformity-reg",
        float,
        "UNION's client-side term (Yu et al., AAAI 2023): adds this weight (paper: 1) times a contrastive loss on item "
        "embeddings to a user's loss (each positive as anchor against another positive and 15 non-interacted items), "
        "which keeps them spread out; pair with the `union` defenses. 0 = none.",
        minimum=0.0,
    ),
    Setting(
        "embedding-dropout",
        float,
        "Dropout on the embeddings in a user's local step, as ClusterAttack-UNION's reference trains (0.2): each "
        "element of p_u (one mask per positive, shared with its negatives: one per BPR pair) and of every sample's "
        "and UNION candidate's item row is zeroed with this probability and the rest scaled by 1 / (1 - p); the L2 "
        "term is of the rows themselves; never at evaluation. Masks are keyed by `seed`, the epoch and the user. "
        "Embedding models only. 0 = none.",
        minimum=0.0,
        maximum=0.95,
    ),
    Setting("negatives", int, "Negatives sampled per positive (r).", minimum=1),
    Setting(
        "resample-negatives", bool, "Draw new negatives every epoch (false: fixed once, as the reference code does)."
    ),
    Setting(
        "negatives-avoid-held-out",
        bool,
        "Draw a benign user's negatives outside its held-out items too (its test items and, with "
        "`leave-last-two-out`, its validation item), as ClusterAttack-UNION's reference code does; false: outside its "
        "training items only (a user may draw its own test item). The client holds these items; nothing is sent. "
        "Embedding models only; the attackers' own honest gradients and FLTrust's root users draw as with false.",
    ),
    Setting(
        "repeated-items",
        str,
        "How a user's rows for an item its samples repeat (duplicate negatives) merge: `summed` (its gradient), "
        "`last-kept` (only the last sample's row: the reference codes whose server does `grad[items] += g` with "
        "repeated ids; a bug, for reproducing their numbers) or `separate` (one uploaded row per sample, "
        "each counted as a sender by a per-item rule, as Spattack's reference code uploads them: the last sample's "
        "row carries the item's gradient, the others only their own L2 term; needs a defense with "
        "`aggregation = per-item`).",
        ("summed", "last-kept", "separate"),
    ),
    Setting("epochs", int, "Epochs; each user trains once per epoch.", minimum=1),
    Setting("clients-per-round", int, "Users sampled per round.", minimum=1),
    Setting(
        "client-sampling",
        str,
        "Which users train in a round: `epoch` (all users shuffled once per epoch and cut into rounds, each trains "
        "once per epoch) or `per-round` (each round's users drawn afresh without replacement, independently of the "
        "other rounds, as ClusterAttack/UNION's reference code does; a user may train several times in an epoch or "
        "not at all). An epoch has ceil(users / clients-per-round) rounds either way.",
        CLIENT_SAMPLINGS,
    ),
    Setting("lr", float, "Server learning rate (with `sgd`: theta <- theta - lr * aggregate).", minimum=0.0),
    Setting(
        "server-optimizer",
        str,
        "How the server applies the aggregate to theta: `sgd` (the reference paper) or `adam` (torch's Adam; "
        "FedAttack's victim).",
        SERVER_OPTIMIZERS,
    ),
    Setting("user-lr", float, "Client learning rate for the private user embedding.", minimum=0.0),
    Setting(
        "user-optimizer",
        str,
        "How a client steps its private p_u with `user-lr`: `sgd` (each time its user trains) or `adam` "
        "(ClusterAttack-UNION's reference, whose server's Adam steps the whole user table every round: the client "
        "keeps the row's Adam state and replays the rounds its user sat out with a zero gradient, so the row moves "
        "on its momentum as it would there; torch's Adam, step count = the server round).",
        USER_OPTIMIZERS,
    ),
    Setting("eval-every", int, "Evaluate every this many epochs (the last epoch is always evaluated).", minimum=1),
    Setting("top-k", str, "Cut-offs K for all @K metrics, a comma list.", convert=_sorted_ks),
    Setting(
        "sampled-negatives",
        int,
        "Sampled HR@K and NDCG@K (`sampled-hr@K`, `sampled-ndcg@K` in metrics.csv, beside the full ranking's): each "
        "user's test items ranked against this many distinct items it never interacted with, drawn uniformly "
        "from `seed` (once or at every evaluation: `sampled-candidates`); FedRecAttack's protocol uses 99. 0 = not "
        "computed.",
        minimum=0,
    ),
    Setting(
        "sampled-candidates",
        str,
        "When the sampled items of `sampled-negatives` are drawn: `fixed` (once per user, keyed by `seed` and the "
        "user, the same in every evaluation, so a seed's curve keeps the chance level of its draw) or "
        "`per-evaluation` (anew at every evaluation, keyed by `seed`, the epoch and the user, as FedRecAttack's and "
        "Spattack's reference code draw them; the training is unchanged). Needs `sampled-negatives` > 0.",
        SAMPLED_CANDIDATES,
    ),
    Setting(
        "target-items",
        str,
        "Items whose exposure ER@K is tracked: `least-popular:N`, `random:N` (N distinct items drawn uniformly from "
        "`seed` as FedRecAttack's reference code draws its target: `random:1` with its seed 20211111 gives item 894 of "
        "ml-100k-loo), `group-matched:N` (pre-training only: N items of middle popularity whose audience "
        "over-represents `target-group`, drawn from `seed`) or a comma list of item indices. A run "
        "from a checkpoint that names targets tracks those unless this lists items.",
        convert=TargetSpec.parse,
    ),
    Setting(
        "exposure-mask",
        str,
        "Which of a user's items ER@K's ranking masks, and whose holding the target leaves the user out: "
        "`train-and-test` (FedRecAttack's and PoisonFedDLRS's reference code, APRec) or `train` (PIECK's and "
        "Spattack's reference code: the test item competes with the target).",
        EXPOSURE_MASKS,
    ),
    Setting("seed", int, "Seed for initialisation, split, sampling and schedule.", minimum=0),
    Setting("results-dir", str, "Where run folders are written (created if missing).", convert=user_path),
    Setting("run-name", str, "Name of this run's folder; empty = timestamp and main settings."),
    Setting("round-timeout", float, "Seconds to wait for the replies of one round.", minimum=1.0),
    Setting(
        "server-threads",
        int,
        "Torch threads of the ServerApp. 1 (default) keeps aggregation steady while simulated nodes share its "
        "cores; a deployed server on a machine of its own may use more for heavy rules (Krum, FLAME).",
        minimum=1,
    ),
)


class RunConfig:
    """A validated run config: one attribute per key ('-' -> '_'), typed by its `Setting`, immutable.

    Built by `Schema.validate`; hashable, so per-config caches (a node's dataset) can key on it.
    """

    def __init__(self, values: Mapping[str, Any]) -> None:
        object.__setattr__(self, "_values", tuple(values.items()))
        for name, value in values.items():
            object.__setattr__(self, name.replace("-", "_"), value)

    def __setattr__(self, name: str, value: Any) -> None:
        raise FrozenInstanceError(f"RunConfig is frozen; cannot set {name!r}")

    def __getattr__(self, name: str) -> Any:  # only reached for names that are not settings
        raise AttributeError(f"the run config has no setting {name.replace('_', '-')!r}")

    def __eq__(self, other: object) -> bool:
        return isinstance(other, RunConfig) and self._values == other._values

    def __hash__(self) -> int:
        return hash(self._values)

    def __reduce__(self) -> tuple[type, tuple[dict[str, Any]]]:
        return RunConfig, (dict(self._values),)

    def __repr__(self) -> str:
        return f"RunConfig({', '.join(f'{name}={value!r}' for name, value in self._values)})"

    def as_dict(self) -> dict[str, Any]:
        """The resolved config with the original key names, for the results folder."""
        return {name: _plain(value) for name, value in self._values}


def _plain(value: Any) -> Any:
    if value is None:  # an optional setting left empty (e.g. `target-group = ""`), recorded as it was given
        return ""
    if isinstance(value, tuple):
        return ",".join(map(str, value))
    return value if isinstance(value, (str, int, float, bool)) else str(value)


@dataclass(frozen=True)
class Group:
    """The settings of one family (or the core), as the README's tables show them."""

    title: str
    settings: tuple[OwnedSetting, ...]
    key: str | None = None  # the setting that picks the family's member

    def users(self, owned: OwnedSetting) -> str:
        """Who reads a setting, for the README: its members, the whole family, or (selector) nobody else."""
        if owned.owners:
            return ", ".join(f"`{owner}`" for owner in owned.owners)
        if owned.setting.name == self.key:
            return "—"
        return "all" if self.key is None else f"every {self.title}"


class Schema:
    """Every run-config key: the core settings plus those of each family's registry, in that order."""

    def __init__(self, common: Sequence[Setting], families: Sequence[Registry[Any]]) -> None:
        self.families = tuple(families)
        self.groups = (
            Group("common", tuple(OwnedSetting(setting, ()) for setting in common)),
            *(Group(family.family, tuple(family.settings()), family.key) for family in self.families),
        )
        self.keys: dict[str, Setting] = {}
        for group in self.groups:
            for owned in group.settings:
                if owned.setting.name in self.keys:
                    raise ValueError(f"run-config key {owned.setting.name!r} is declared twice ({group.title})")
                self.keys[owned.setting.name] = owned.setting

    def validate(self, raw: Mapping[str, Any]) -> RunConfig:
        """Validate a Flower run config (or any mapping with every key) into a `RunConfig`."""
        unknown = sorted(set(raw) - set(self.keys))
        if unknown:
            raise ConfigError(f"unknown run-config key(s) {', '.join(unknown)}; valid: {', '.join(self.keys)}")
        missing = [name for name in self.keys if name not in raw]
        if missing:
            raise ConfigError(f"run-config key(s) missing: {', '.join(missing)}")
        config = RunConfig({name: setting.check(raw[name]) for name, setting in self.keys.items()})
        for family in self.families:
            if family.check is not None:
                family.check(config, family.selected(config))
        return config

    def markdown(self, defaults: Mapping[str, Any]) -> str:
        """The README's settings tables, one per group (`python -m app_config` prints them)."""
        sections = []
        for group in self.groups:
            lines = [
                f"**{group.title.capitalize()}**",
                "",
                "| key | default | meaning | used by |",
                "|---|---|---|---|",
            ]
            for owned in group.settings:
                setting = owned.setting
                allowed = setting.allowed()
                choices = f" One of: {', '.join(f'`{name}`' for name in allowed)}." if allowed else ""
                lines.append(
                    f"| `{setting.name}` | {_shown(defaults[setting.name])} | {setting.help}{choices} | "
                    f"{group.users(owned)} |"
                )
            sections.append("\n".join(lines))
        return "\n\n".join(sections)


def _shown(value: Any) -> str:
    if isinstance(value, str):
        return f'`"{value}"`'
    return f"`{str(value).lower() if isinstance(value, bool) else value}`"


def pyproject_defaults() -> dict[str, Any]:
    """The app's run-config defaults as declared in pyproject.toml."""
    with _pyproject().open("rb") as stream:
        return dict(tomllib.load(stream)["tool"]["flwr"]["app"]["config"])


def _pyproject() -> Traversable:
    """The app's pyproject.toml: package data of an installed wheel (the build copies it into fedrec/),
    else the project's own one folder up (a source tree, an editable install, the app Flower unpacks)."""
    packaged = resources.files("fedrec") / "pyproject.toml"
    if packaged.is_file():
        return packaged
    return Path(__file__).resolve().parents[1] / "pyproject.toml"
