"""The attack family's own settings, and turning the config into the run's threat model and the
attacker's knowledge.

Who is malicious: derived from the config alone, identically on every node and in the harness.

`injected` malicious clients are fake users appended after the N real ones (ids N..N+m-1, no data),
the setting of A-ra, A-hum, EB and the data-poisoning baselines, whose papers count rho against
the benign users. `compromised` ones are m real users, chosen with the seed, who keep their data
(FedAttack's setting). m = int(rho * N), as in the reference code.
"""

from dataclasses import dataclass

import numpy as np

from attacks.base import Attack, AttackerKnowledge
from fedrec.config import RunConfig
from fedrec.data.dataset import RecDataset
from fedrec.data.public import public_interactions
from fedrec.errors import ConfigError
from fedrec.settings import Setting

_THREAT_STREAM = 0x7448


@dataclass(frozen=True)
class ThreatModel:
    num_real_users: int
    mode: str  # "injected" or "compromised"
    malicious_ids: np.ndarray  # sorted global user ids

    @property
    def num_users(self) -> int:
        """Clients in the federation: real users plus injected fake ones."""
        injected = len(self.malicious_ids) if self.mode == "injected" else 0
        return self.num_real_users + injected

    def is_malicious(self, users: np.ndarray) -> np.ndarray:
        return np.isin(users, self.malicious_ids)


def threat_model(num_real_users: int, fraction: float, mode: str, seed: int) -> ThreatModel:
    count = int(fraction * num_real_users)
    if mode == "injected":
        ids = np.arange(num_real_users, num_real_users + count, dtype=np.int64)
    else:
        rng = np.random.default_rng([seed, _THREAT_STREAM])
        ids = np.sort(rng.choice(num_real_users, size=count, replace=False)).astype(np.int64)
    return ThreatModel(num_real_users=num_real_users, mode=mode, malicious_ids=ids)


#: Settings of every attack: how many malicious clients, how they enter, what they know, from when.
THREAT_SETTINGS = (
    Setting(
        "malicious-fraction",
        float,
        "rho: malicious clients as a fraction of the benign users (m = int(rho * users)).",
        minimum=0.0,
        maximum=1.0,
    ),
    Setting(
        "malicious-mode",
        str,
        "`injected` fake users, `compromised` real users taken over, or `auto`: the attack's own setting.",
        ("auto", "injected", "compromised"),
    ),
    Setting(
        "attacker-knowledge",
        str,
        "What the attacker knows besides the Θ it receives (`full`: the round's benign updates and item popularity).",
        ("none", "popularity", "public-interactions", "full"),
    ),
    Setting(
        "public-fraction",
        float,
        "xi: share of each user's interactions that is public (the attacker's with `public-interactions`, "
        "FLTrust's root dataset): the data's own public part file for N = 100 xi percent where it has one "
        "(FedRecAttack's train.part-N%.txt: N% of each user's items, rounded up), else each training interaction "
        "drawn public with probability xi (seeded).",
        minimum=0.0,
        maximum=1.0,
    ),
    Setting("attack-start-epoch", int, "First epoch (1-based) in which malicious clients poison.", minimum=1),
)


def attack_mode(config: RunConfig, attack: type[Attack]) -> str:
    """`injected` or `compromised`: the config's choice, or the attack's own under `auto`. Raises a
    ConfigError where the attack and its malicious-mode / attacker-knowledge do not fit together."""
    mode = attack.default_mode if config.malicious_mode == "auto" else config.malicious_mode
    if attack.needs_own_data and mode == "injected":
        raise ConfigError(
            f"attack '{config.attack}' needs clients with real data: use run-config malicious-mode='compromised' (or "
            "'auto')"
        )
    required = attack.required_knowledge(config)
    if required and config.attacker_knowledge != required:
        raise ConfigError(
            f"attack '{config.attack}' needs run-config attacker-knowledge='{required}'"
            f" (got '{config.attacker_knowledge}')"
        )
    return mode


def check_attack(config: RunConfig, attack: type[Attack]) -> None:
    """The attack family's rules over a whole config: its mode and knowledge fit (`attack_mode`), and the
    attack's own (`Attack.check`)."""
    attack_mode(config, attack)
    attack.check(config)


def threat_for(config: RunConfig, attack: type[Attack], num_real_users: int) -> ThreatModel:
    fraction = 0.0 if config.attack == "none" else config.malicious_fraction
    return threat_model(num_real_users, fraction, attack_mode(config, attack), config.seed)


def threat_of_clients(config: RunConfig, attack: type[Attack], num_clients: int) -> ThreatModel:
    """The threat model of a federation of `num_clients` clients, from the config alone: the number of
    real users is the one whose threat model has that many clients (injected fake users are
    int(rho * N) on top of N real ones, a strictly increasing count). How the ServerApp knows, for its
    reports only, who is malicious without any node telling it."""
    fraction = 0.0 if config.attack == "none" else config.malicious_fraction
    injected = attack_mode(config, attack) == "injected"
    real = int(num_clients / (1 + fraction)) if injected else num_clients
    real = max(real - 2, 0) if injected else real  # float rounding: start below and count up
    while injected and real + int(fraction * real) < num_clients:
        real += 1
    threat = threat_for(config, attack, real)
    if threat.num_users != num_clients:
        raise ConfigError(
            f"the nodes host {num_clients} clients, which no number of real users gives under malicious-fraction "
            f"{fraction} ({threat.mode}): do the SuperNodes run this run config?"
        )
    return threat


def knowledge_for(config: RunConfig, dataset: RecDataset) -> AttackerKnowledge:
    """What the config grants on the attacker's nodes; `full` (the round's benign updates, through the
    collusion channel) includes the item popularity."""
    if config.attacker_knowledge in ("popularity", "full"):
        return AttackerKnowledge(item_popularity=dataset.item_popularity())
    if config.attacker_knowledge == "public-interactions":
        return AttackerKnowledge(public_interactions=public_interactions(dataset, config.public_fraction, config.seed))
    return AttackerKnowledge()
