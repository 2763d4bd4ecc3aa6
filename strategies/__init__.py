"""Aggregation strategies (defenses): the registry. A new rule is a new file plus one line here
(its settings, if any, are the class attribute `settings`)."""

from fedrec.registry import Registry
from strategies.base import FedRecStrategy
from strategies.bucketing import NAME as BUCKETING
from strategies.bucketing import bucketing_class
from strategies.bulyan import Bulyan
from strategies.centered_clipping import CenteredClipping
from strategies.central_dp import CentralDP
from strategies.dnc import DnC
from strategies.fedavg import FedAvg
from strategies.flame import FLAME
from strategies.fldetector import FLDetector
from strategies.flower_rule import FLOWER_AGGREGATORS, flower_rule_class
from strategies.fltrust import FLTrust
from strategies.foolsgold import FoolsGold
from strategies.hierarchical_clip import HierarchicalClip
from strategies.item_clip import ItemClip
from strategies.krum import Krum, MultiKrum
from strategies.median import Median
from strategies.norm_bound import NormBound
from strategies.rfa import RFA
from strategies.signguard import SignGuard
from strategies.trimmed_mean import TrimmedMean
from strategies.union import MultiKrumUnion, NormBoundUnion, Union

STRATEGIES: Registry[type[FedRecStrategy]] = Registry(
    "defense", key="defense", help="Aggregation strategy on the server (`flwr:<Name>` runs Flower's own)."
)
STRATEGIES.register("fedavg", FedAvg)
STRATEGIES.register("krum", Krum)
STRATEGIES.register("multi-krum", MultiKrum)
STRATEGIES.register("bulyan", Bulyan)
STRATEGIES.register("median", Median)
STRATEGIES.register("trimmed-mean", TrimmedMean)
STRATEGIES.register("norm-bound", NormBound)
STRATEGIES.register("item-clip", ItemClip)
STRATEGIES.register("rfa", RFA)
STRATEGIES.register("centered-clipping", CenteredClipping)
STRATEGIES.register(BUCKETING, bucketing_class(STRATEGIES))
STRATEGIES.register("signguard", SignGuard)
STRATEGIES.register("dnc", DnC)
STRATEGIES.register("foolsgold", FoolsGold)
STRATEGIES.register("flame", FLAME)
STRATEGIES.register("fltrust", FLTrust)
STRATEGIES.register("fldetector", FLDetector)
STRATEGIES.register("hierarchical-clip", HierarchicalClip)
STRATEGIES.register("central-dp", CentralDP)
STRATEGIES.register("union", Union)
STRATEGIES.register("norm-bound-union", NormBoundUnion)
STRATEGIES.register("multi-krum-union", MultiKrumUnion)
for _name in FLOWER_AGGREGATORS:
    STRATEGIES.register(f"flwr:{_name}", flower_rule_class(_name))

__all__ = ["STRATEGIES", "FedRecStrategy"]
