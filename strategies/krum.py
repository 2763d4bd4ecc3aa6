"""Krum and Multi-Krum as strategies: select whole users by their dense update (f = tolerated-attackers).

Krum keeps one user; Multi-Krum keeps the n - f lowest-scoring users (the paper's m = n - f) and
averages them. f is capped at n - 3 so a round with few users still has a neighbourhood to score. With
`aggregation = per-item` each item row is chosen among that item's senders (fedrec/robust/grouped.py).
"""

import torch

from fedrec.robust import multi_krum
from fedrec.robust.grouped import multi_krum_groups
from fedrec.settings import Setting
from strategies.robust import SelectionStrategy

TOLERATED_ATTACKERS = Setting(
    "tolerated-attackers", int, "f: attackers per round the rule tolerates (Krum, Multi-Krum, Bulyan, DnC).", minimum=0
)


class Krum(SelectionStrategy):
    settings = (*SelectionStrategy.settings, TOLERATED_ATTACKERS)

    def tolerated(self, num_users: int) -> int:
        return max(0, min(self.config.tolerated_attackers, num_users - 3))

    def select(self, matrix: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return multi_krum(matrix, self.tolerated(matrix.shape[0]), selected=1)

    def select_groups(self, rows: torch.Tensor, counts: torch.Tensor) -> torch.Tensor:
        return multi_krum_groups(rows, counts, self.config.tolerated_attackers, single=True)


class MultiKrum(Krum):
    def select(self, matrix: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        tolerated = self.tolerated(matrix.shape[0])
        return multi_krum(matrix, tolerated, selected=matrix.shape[0] - tolerated)

    def select_groups(self, rows: torch.Tensor, counts: torch.Tensor) -> torch.Tensor:
        return multi_krum_groups(rows, counts, self.config.tolerated_attackers, single=False)
