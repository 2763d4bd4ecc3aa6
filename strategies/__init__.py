"""Aggregation strategies (defenses): the registry. A new rule is a new file plus one line here."""

from fedrec.registry import Registry
from strategies.base import FedRecStrategy
from strategies.fedavg import FedAvg

STRATEGIES: Registry[type[FedRecStrategy]] = Registry("defense")
STRATEGIES.register("fedavg", FedAvg)

__all__ = ["STRATEGIES", "FedRecStrategy", "FedAvg"]
