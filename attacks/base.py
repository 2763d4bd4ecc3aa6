"""What an attack is: a description of the malicious clients it adds and how they compute updates."""

from abc import ABC


class Attack(ABC):
    """Base of every attack; `malicious_fraction` is the share of malicious clients it brings."""

    name: str = ""
    malicious_fraction: float = 0.0


class NoAttack(Attack):
    """Every client is a benign user."""

    name = "none"
