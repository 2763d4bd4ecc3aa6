"""Attacks: the registry of malicious client classes. A new attack is a new file plus one line here
(its settings, if any, are the class attribute `settings`)."""

from attacks.approximated_users import HardUserMining, RandomApproximation
from attacks.backdoor_reinforce import BackdoorReinforce
from attacks.base import Attack, AttackerKnowledge, AttackRound, AttackSetup, NoAttack, ProfileAttack
from attacks.cluster_attack import ClusterAttack
from attacks.collusion import CollusionAttack, FangKrum, FangTrim, GaussianNoise, LittleIsEnough, MinMax, SignFlip
from attacks.fake_profiles import Bandwagon, ExplicitBoosting, RandomProfiles
from attacks.fedattack import FedAttack, RandomSamples
from attacks.fedrecattack import FedRecAttack
from attacks.pieck import PieckIPE, PieckUEA
from attacks.spattack import SpattackL, SpattackO
from attacks.threat import THREAT_SETTINGS, ThreatModel, check_attack, knowledge_for, threat_for, threat_of_clients
from fedrec.config import RunConfig
from fedrec.data.dataset import RecDataset
from fedrec.models.base import RecModel
from fedrec.registry import Registry

ATTACKS: Registry[type[Attack]] = Registry(
    "attack", key="attack", help="Attack run by malicious clients.", settings=THREAT_SETTINGS, check=check_attack
)
ATTACKS.register("none", NoAttack)
ATTACKS.register("a-ra", RandomApproximation)
ATTACKS.register("a-hum", HardUserMining)
ATTACKS.register("fedattack", FedAttack)
ATTACKS.register("eb", ExplicitBoosting)
ATTACKS.register("random", RandomProfiles)
ATTACKS.register("bandwagon", Bandwagon)
ATTACKS.register("random-samples", RandomSamples)
ATTACKS.register("fang-krum", FangKrum)
ATTACKS.register("fang-trim", FangTrim)
ATTACKS.register("gaussian", GaussianNoise)
ATTACKS.register("sign-flip", SignFlip)
ATTACKS.register("lie", LittleIsEnough)
ATTACKS.register("min-max", MinMax)
ATTACKS.register("fedrecattack", FedRecAttack)
ATTACKS.register("spattack-o", SpattackO)
ATTACKS.register("spattack-l", SpattackL)
ATTACKS.register("pieck-ipe", PieckIPE)
ATTACKS.register("pieck-uea", PieckUEA)
ATTACKS.register("cluster-attack", ClusterAttack)
ATTACKS.register("backdoor-reinforce", BackdoorReinforce)


def run_threat(config: RunConfig, num_real_users: int) -> ThreatModel:
    """Who is malicious in this run (the same on every node)."""
    return threat_for(config, ATTACKS.selected(config), num_real_users)


def federation_threat(config: RunConfig, num_clients: int) -> ThreatModel:
    """Who is malicious in a run whose nodes host `num_clients` clients, derived by the ServerApp from the
    config (the same as `run_threat` on the nodes); for the results only, never for a strategy."""
    return threat_of_clients(config, ATTACKS.selected(config), num_clients)


def build_attack(config: RunConfig, model: RecModel, targets: tuple[int, ...], dataset: RecDataset) -> Attack:
    """The configured attack, with the knowledge its threat model grants."""
    setup = AttackSetup(config, model, targets, dataset.num_items, knowledge_for(config, dataset))
    return ATTACKS.selected(config)(setup)


def collusion_channel(setup: AttackSetup) -> CollusionAttack | None:
    """The attack object the server-side collusion channel needs, or None for attacks that craft on
    the clients (attacks/collusion.py)."""
    attack = ATTACKS.selected(setup.config)
    return attack(setup) if issubclass(attack, CollusionAttack) else None


__all__ = [
    "ATTACKS",
    "Attack",
    "CollusionAttack",
    "AttackerKnowledge",
    "AttackRound",
    "AttackSetup",
    "NoAttack",
    "ProfileAttack",
    "build_attack",
    "collusion_channel",
    "federation_threat",
    "run_threat",
]
