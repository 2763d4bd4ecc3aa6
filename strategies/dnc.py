"""DnC (Shejwalkar & Houmansadr, NDSS 2021): fedrec/robust/dnc.py, users weighed as in strategies/weighted.py."""

import torch

from fedrec.robust.dnc import dnc
from fedrec.settings import Setting
from strategies.krum import TOLERATED_ATTACKERS
from strategies.weighted import UserWeights, WeightedStrategy

DNC_ITERATIONS = Setting("dnc-iterations", int, "DnC: niters, rounds of coordinate sampling (Blades: 5).", minimum=1)
DNC_SUBSAMPLE = Setting(
    "dnc-subsample", int, "DnC: b, coordinates sampled per iteration (the paper: 10000; at most all).", minimum=1
)
DNC_FILTER_FRACTION = Setting(
    "dnc-filter-fraction", float, "DnC: c, each iteration drops c * f users (the paper: 1.0).", minimum=0.0
)


class DnC(WeightedStrategy):
    """The mean of the users DnC keeps (f = `tolerated-attackers`, capped so that one user is kept); the others are
    flagged. Coordinates are sampled from a generator seeded by `seed`."""

    settings = (*WeightedStrategy.settings, TOLERATED_ATTACKERS, DNC_ITERATIONS, DNC_SUBSAMPLE, DNC_FILTER_FRACTION)

    def weigh(self, matrix: torch.Tensor, user_ids: torch.Tensor) -> UserWeights:
        config = self.config
        kept = dnc(
            matrix,
            config.tolerated_attackers,
            config.dnc_iterations,
            config.dnc_subsample,
            config.dnc_filter_fraction,
            self.generator,
        )
        return UserWeights(weight=kept.double(), scale=torch.ones(len(kept)), flagged=~kept)
