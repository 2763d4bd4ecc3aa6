"""Turning the config into the run's threat model, the attacker's knowledge, and the attack object."""

import numpy as np
import scipy.sparse as sp

from attacks.base import Attack, AttackerKnowledge, AttackSetup
from fedrec.config import RunConfig
from fedrec.data import RecDataset
from fedrec.errors import ConfigError
from fedrec.models.base import RecModel
from fedrec.threat import ThreatModel, threat_model

_PUBLIC_STREAM = 0x5055


def attack_mode(config: RunConfig) -> str:
    """`injected` or `compromised`: the config's choice, or the attack's own under `auto`."""
    from attacks import ATTACKS

    attack = ATTACKS.get(config.attack)
    mode = attack.default_mode if config.malicious_mode == "auto" else config.malicious_mode
    if attack.needs_own_data and mode == "injected":
        raise ConfigError(
            f"attack '{config.attack}' needs clients with real data: use run-config malicious-mode='compromised' (or 'auto')"
        )
    if attack.requires_knowledge and config.attacker_knowledge != attack.requires_knowledge:
        raise ConfigError(
            f"attack '{config.attack}' needs run-config attacker-knowledge='{attack.requires_knowledge}'"
            f" (got '{config.attacker_knowledge}')"
        )
    return mode


def threat_for(config: RunConfig, num_real_users: int) -> ThreatModel:
    fraction = 0.0 if config.attack == "none" else config.malicious_fraction
    return threat_model(num_real_users, fraction, attack_mode(config), config.seed)


def knowledge_for(config: RunConfig, dataset: RecDataset) -> AttackerKnowledge:
    if config.attacker_knowledge == "popularity":
        return AttackerKnowledge(item_popularity=dataset.item_popularity())
    if config.attacker_knowledge == "public-interactions":
        rng = np.random.default_rng([config.seed, _PUBLIC_STREAM])
        train = dataset.train.tocoo()
        public = rng.random(train.nnz) < config.public_fraction
        matrix = sp.csr_array((train.data[public], (train.row[public], train.col[public])), shape=train.shape)
        return AttackerKnowledge(public_interactions=matrix)
    return AttackerKnowledge()


def build_attack(config: RunConfig, model: RecModel, targets: tuple[int, ...], dataset: RecDataset) -> Attack:
    from attacks import ATTACKS

    setup = AttackSetup(config, model, targets, dataset.num_items, knowledge_for(config, dataset))
    return ATTACKS.get(config.attack)(setup)
