"""SignGuard (Xu et al., ICDCS 2022): fedrec/robust/signguard.py, users weighed as in strategies/weighted.py."""

import torch

from fedrec.robust.signguard import signguard
from fedrec.settings import Setting
from strategies.weighted import UserWeights, WeightedStrategy

SIGNGUARD_LOWER = Setting(
    "signguard-lower", float, "SignGuard: L, the lowest norm kept, times the median norm (the paper: 0.1).", minimum=0
)
SIGNGUARD_UPPER = Setting(
    "signguard-upper", float, "SignGuard: R, the highest norm kept, times the median norm (the paper: 3.0).", minimum=0
)
SIGNGUARD_COORDINATES = Setting(
    "signguard-coordinates",
    float,
    "SignGuard: share of the coordinates (a random window) whose signs are clustered (the paper: 0.1).",
    minimum=0.0,
    maximum=1.0,
)


class SignGuard(WeightedStrategy):
    """Keeps the users that pass SignGuard's norm filter and fall in the largest cluster of sign statistics, clips
    them to the median norm and averages them; the others are flagged. The sign window is drawn from a generator
    seeded by `seed`. On FedRec's dense vectors most coordinates of a window are item rows a user did not send, so
    the share of zeros reflects how many items each user touched."""

    settings = (*WeightedStrategy.settings, SIGNGUARD_LOWER, SIGNGUARD_UPPER, SIGNGUARD_COORDINATES)

    def weigh(self, matrix: torch.Tensor, user_ids: torch.Tensor) -> UserWeights:
        config = self.config
        kept, clip = signguard(
            matrix, config.signguard_lower, config.signguard_upper, config.signguard_coordinates, self.generator
        )
        return UserWeights(weight=kept.double(), scale=clip, flagged=~kept)
