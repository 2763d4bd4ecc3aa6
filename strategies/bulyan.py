"""Bulyan as a strategy: repeated-Krum selection of n - 2f users, then a coordinate-wise trimmed
aggregate (see fedrec/robust/bulyan.py). f is capped at (n - 3) // 4, Bulyan's requirement.
With `aggregation = per-item` each item row is aggregated among that item's senders
(fedrec/robust/grouped.py: one-shot selection there)."""

import torch

from fedrec.robust import bulyan
from fedrec.robust.grouped import bulyan_groups
from strategies.krum import TOLERATED_ATTACKERS
from strategies.robust import SelectionStrategy


class Bulyan(SelectionStrategy):
    settings = (*SelectionStrategy.settings, TOLERATED_ATTACKERS)

    def select(self, matrix: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        tolerated = max(0, min(self.config.tolerated_attackers, (matrix.shape[0] - 3) // 4))
        return bulyan(matrix, tolerated)

    def select_groups(self, rows: torch.Tensor, counts: torch.Tensor) -> torch.Tensor:
        return bulyan_groups(rows, counts, self.config.tolerated_attackers)
