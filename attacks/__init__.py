"""Attacks: the registry of malicious client classes. A new attack is a new file plus one line here."""

from attacks.approximated_users import HardUserMining, RandomApproximation
from attacks.base import Attack, AttackerKnowledge, AttackRound, AttackSetup, NoAttack, ProfileAttack
from attacks.fake_profiles import Bandwagon, ExplicitBoosting, RandomProfiles
from attacks.collusion import CollusionAttack, FangKrum, FangTrim, GaussianNoise, LittleIsEnough, MinMax, SignFlip
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
ATTACKS.register("fang-krum", FangKrum)
ATTACKS.register("fang-trim", FangTrim)
ATTACKS.register("gaussian", GaussianNoise)
ATTACKS.register("sign-flip", SignFlip)
ATTACKS.register("lie", LittleIsEnough)
ATTACKS.register("min-max", MinMax)
ATTACKS.register("fedrecattack", FedRecAttack)

__all__ = ["ATTACKS", "Attack", "CollusionAttack", "AttackerKnowledge", "AttackRound", "AttackSetup", "NoAttack", "ProfileAttack"]
