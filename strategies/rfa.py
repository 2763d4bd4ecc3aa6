"""RFA, the geometric median (Pillutla, Kakade & Harchaoui, "Robust Aggregation for Federated Learning", IEEE TSP
2022), dense or per item: fedrec/robust/geometric_median.py."""

import torch

from fedrec.robust.geometric_median import geometric_median
from fedrec.settings import Setting
from strategies.robust import SelectionStrategy

RFA_ITERATIONS = Setting(
    "rfa-iterations",
    int,
    "RFA: most smoothed-Weiszfeld iterations (the authors' geom_median code uses 100).",
    minimum=1,
)
RFA_SMOOTHING = Setting(
    "rfa-smoothing", float, "RFA: nu, the floor on a user's distance to the median (the paper's eps).", minimum=0.0
)
#: A user is reported as down-weighted when its Weiszfeld weight 1/distance is below a third of the median user's.
#: For the detection rates only: the aggregate uses every user with its weight.
FLAGGED_DISTANCE_RATIO = 3.0


class RFA(SelectionStrategy):
    """The geometric median of the users' updates (equal weights), times their number like every robust rule here.

    `dense`: of the whole vectors. `per-item`: of each item row over its senders; the MLP part, and who is flagged
    (a distance to the median above 3x the median distance), from the whole vectors.
    """

    settings = (*SelectionStrategy.settings, RFA_ITERATIONS, RFA_SMOOTHING)

    def select(self, matrix: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        median, distances = geometric_median(matrix, self.config.rfa_iterations, self.config.rfa_smoothing)
        near = distances <= FLAGGED_DISTANCE_RATIO * distances.median()
        return median, torch.nonzero(near).flatten()

    def select_groups(self, rows: torch.Tensor, counts: torch.Tensor) -> torch.Tensor:
        return geometric_median(rows, self.config.rfa_iterations, self.config.rfa_smoothing)[0]
