"""What an attack is: a malicious client class that substitutes poisoned update generation.

A malicious client receives Θ like everyone else and answers in the same wire format
(`fedrec.updates.UserUpdates`); only the way it computes its update differs. Two families:

- `ProfileAttack`: the client trains exactly like a benign user, but on poisoned samples (a fake
  profile, or hard/random samples in place of its own). Its update is the benign math on those.
- Attacks that craft a loss over Θ directly (A-ra, A-hum, FedRecAttack) override `poison`.

An attack sees only what its threat model allows: Θ as received, its own clients' state and data,
and `AttackerKnowledge` (item popularity or public interactions where the config grants them).
"""

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import scipy.sparse as sp
import torch

from fedrec.config import RunConfig
from fedrec.errors import ConfigError
from fedrec.models.base import RecModel, Theta
from fedrec.settings import Setting
from fedrec.training.item_movement import ItemMovement
from fedrec.training.local import LocalResult, Objective, compute_user_updates
from fedrec.training.sampling import UserSamples


@dataclass(frozen=True)
class AttackerKnowledge:
    """Side information beyond Θ; None where the config does not grant it."""

    item_popularity: np.ndarray | None = None
    public_interactions: sp.csr_array | None = None  # users x items, a share of real train data


@dataclass(frozen=True)
class AttackSetup:
    config: RunConfig
    model: RecModel
    targets: tuple[int, ...]
    num_items: int
    knowledge: AttackerKnowledge


@dataclass
class AttackRound:
    """The malicious clients of one node in one round."""

    theta: Theta
    epoch: int  # 0-based
    user_ids: np.ndarray
    user_emb: torch.Tensor  # their private embeddings (fake users have one too)
    own_items: list[np.ndarray]  # their real training items (in time order for a sequential model); empty for fakes
    #: [n, 3] prompt codes of their own profiles (`fedrec.sequential.batch.profile_codes`) for a sequential model
    #: with compromised clients; None otherwise.
    own_profile: np.ndarray | None = None
    #: How the node saw the item table move (PIECK's popular items); kept only for attacks that observe it.
    item_movement: ItemMovement | None = None
    #: What the attack keeps across its node's rounds (in the node's `Context.state`), for attacks that keep
    #: state (`Attack.keeps_state`): empty before their first round, updated in place by `poison`; None for
    #: the others.
    state: dict[str, np.ndarray] | None = None


class Attack(ABC):
    """Base of every attack."""

    #: `injected` (fake users) or `compromised` (real users taken over): the paper's setting.
    default_mode = "injected"
    #: The `attacker-knowledge` the attack needs, if any.
    requires_knowledge: str | None = None
    #: Whether its clients need real data of their own (only compromised users have it).
    needs_own_data = False
    #: Whether it reads the node's `ItemMovement` (`AttackRound.item_movement`; the node then keeps one).
    observes_item_movement: ClassVar[bool] = False
    #: Run-config settings this attack reads besides the family's (`fedrec.registry`).
    settings: ClassVar[tuple[Setting, ...]] = ()
    #: Whether it is built for a sequential model (`model = "sasrec"`) rather than the embedding models; every
    #: other attack is refused for a sequential model (app_config).
    sequential: ClassVar[bool] = False
    #: Whether it promotes the target items (judged by their exposure, ER@K) rather than lowering every
    #: user's utility (judged by the drop in Recall@K against the same defense without attack).
    targeted: ClassVar[bool] = True

    @classmethod
    def required_knowledge(cls, config: RunConfig) -> str | None:
        """The `attacker-knowledge` this attack needs under `config` (by default `requires_knowledge`)."""
        return cls.requires_knowledge

    @classmethod
    def check(cls, config: RunConfig) -> None:
        """Raises a ConfigError where `config` asks for something this attack cannot honour. Attacks built for a
        sequential model refuse the others here (the reverse is app_config's rule); most need nothing else."""
        if cls.sequential and config.model != "sasrec":
            raise ConfigError(f"attack '{config.attack}' poisons a sequential model: set model = 'sasrec'")

    @classmethod
    def keeps_state(cls, config: RunConfig) -> bool:
        """Whether, under `config`, the attack keeps arrays across its node's rounds (`AttackRound.state`)."""
        return False

    def __init__(self, setup: AttackSetup) -> None:
        self.setup = setup
        self.config = setup.config
        self.model = setup.model
        self.targets = np.array(setup.targets, dtype=np.int64)

    def rng(self, stream: int, epoch: int, user: int) -> np.random.Generator:
        """A generator keyed like the benign sampler, so attacks are reproducible per seed."""
        return np.random.default_rng([self.config.seed, stream, epoch, int(user)])

    @abstractmethod
    def poison(self, attack_round: AttackRound) -> LocalResult:
        """The updates the malicious clients of `attack_round` upload."""


class ProfileAttack(Attack):
    """A client that runs the benign training step on poisoned samples."""

    @abstractmethod
    def samples(self, attack_round: AttackRound, index: int) -> UserSamples:
        """The poisoned samples of the `index`-th client of the round."""

    def poison(self, attack_round: AttackRound) -> LocalResult:
        samples = [self.samples(attack_round, k) for k in range(len(attack_round.user_ids))]
        return compute_user_updates(
            self.model,
            attack_round.theta,
            attack_round.user_ids,
            attack_round.user_emb,
            samples,
            Objective.of(self.config),
        )


class NoAttack(Attack):
    """Every client is a benign user (no malicious clients are created)."""

    targeted = False

    def poison(self, attack_round: AttackRound) -> LocalResult:
        raise RuntimeError("attack 'none' has no malicious clients")
