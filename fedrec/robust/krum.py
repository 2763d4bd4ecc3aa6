"""Krum and Multi-Krum (Blanchard et al., NeurIPS 2017).

Each update is scored by the sum of squared distances to its n - f - 2 nearest neighbours; Krum
keeps the lowest-scoring update, Multi-Krum the m lowest and averages them.
"""

import torch


def pairwise_squared_distances(updates: torch.Tensor) -> torch.Tensor:
    as_double = updates.double()
    norms = as_double.pow(2).sum(1)
    return _squared_distances(norms, 2 * as_double, norms, as_double)


def _squared_distances(
    row_norms: torch.Tensor, doubled_rows: torch.Tensor, column_norms: torch.Tensor, columns: torch.Tensor
) -> torch.Tensor:
    """|x|² + |y|² - (2x)·y, clamped at 0, for every row x and column y (given in double, x doubled)."""
    return (row_norms[:, None] + column_norms[None, :] - doubled_rows @ columns.T).clamp(min=0)


class AppendedRowsDistances:
    """Squared distances of fixed rows with rows appended, the fixed rows' terms computed once.

    An attacker searching for the update Krum accepts (Fang et al.'s λ search) appends a few candidate
    rows to the same benign rows at every step; only the blocks that involve the candidates change. The
    fixed rows are kept doubled (2x, in double), as the candidate blocks' product takes them: doubling
    ~250 rows of 41k coordinates anew at each of a Steam round's ~9 steps was most of the attack's time.
    """

    def __init__(self, fixed: torch.Tensor) -> None:
        fixed = fixed.double()
        self._norms = fixed.pow(2).sum(1)
        self._doubled = 2 * fixed
        self.fixed_block = _squared_distances(self._norms, self._doubled, self._norms, fixed)

    def with_rows(self, appended: torch.Tensor) -> torch.Tensor:
        """The squared-distance matrix of the fixed rows followed by `appended`."""
        extra = appended.double()
        extra_norms = extra.pow(2).sum(1)
        cross = _squared_distances(self._norms, self._doubled, extra_norms, extra)
        own = _squared_distances(extra_norms, 2 * extra, extra_norms, extra)
        return torch.cat([torch.cat([self.fixed_block, cross], 1), torch.cat([cross.T, own], 1)])


def scores_from_distances(distances: torch.Tensor, tolerated: int) -> torch.Tensor:
    """Krum scores from a squared-distance matrix: each row's sum over its max(1, n - f - 2) closest others."""
    n = distances.shape[0]
    others = distances.clone()
    others.fill_diagonal_(float("inf"))
    closest = min(max(1, n - tolerated - 2), n - 1)
    return torch.topk(others, closest, dim=1, largest=False).values.sum(1)


def krum_scores(updates: torch.Tensor, tolerated: int) -> torch.Tensor:
    """Score of each row: summed squared distance to its max(1, n - f - 2) closest other rows."""
    return scores_from_distances(pairwise_squared_distances(updates), tolerated)


def multi_krum(updates: torch.Tensor, tolerated: int, selected: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean of the `selected` lowest-scoring rows (selected = 1 is Krum), and their indices."""
    if updates.shape[0] == 1:
        return updates[0], torch.zeros(1, dtype=torch.int64)
    keep = torch.argsort(krum_scores(updates, tolerated), stable=True)[:selected]
    return updates[keep].mean(0), keep
