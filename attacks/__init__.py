"""Attacks: the registry of malicious client behaviours. A new attack is a new file plus one line.

Only `none` exists yet: every client is a benign user. Attacks substitute a malicious client's
update generation while keeping the wire format of `fedrec.wire.UserUpdates`.
"""

from attacks.base import Attack, NoAttack
from fedrec.registry import Registry

ATTACKS: Registry[type[Attack]] = Registry("attack")
ATTACKS.register("none", NoAttack)

__all__ = ["ATTACKS", "Attack", "NoAttack"]
