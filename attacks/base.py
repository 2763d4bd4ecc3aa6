"""What an attack is. Attacks substitute a malicious client's update generation; `none` has no malicious clients."""

from abc import ABC


class Attack(ABC):
    """Base of every attack."""

    name: str = ""


class NoAttack(Attack):
    """Every client is a benign user."""

    name = "none"
