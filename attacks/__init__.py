"""Attacks: the registry of malicious client classes. A new attack is a new file plus one line here."""

from attacks.approximated_users import HardUserMining, RandomApproximation
from attacks.base import Attack, AttackerKnowledge, AttackRound, AttackSetup, NoAttack, ProfileAttack
from attacks.fake_profiles import Bandwagon, ExplicitBoosting, RandomProfiles
from attacks.fedattack import FedAttack, RandomSamples
from attacks.fedrecattack import FedRecAttack
from fedrec.registry import Registry

ATTACKS: Registry[type[Attack]] = Registry("attack")
ATTACKS.register("none", NoAttack)
ATTACKS.register("a-ra", RandomApproximation)
ATTACKS.register("a-hum", HardUserMining)
ATTACKS.register("fedattack", FedAttack)
ATTACKS.register("eb", ExplicitBoosting)
ATTACKS.register("random", RandomProfiles)
ATTACKS.register("bandwagon", Bandwagon)
ATTACKS.register("random-samples", RandomSamples)
ATTACKS.register("fedrecattack", FedRecAttack)

__all__ = ["ATTACKS", "Attack", "AttackerKnowledge", "AttackRound", "AttackSetup", "NoAttack", "ProfileAttack"]
