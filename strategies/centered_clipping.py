"""Centered Clipping (Karimireddy, He & Jaggi, ICML 2021), dense or per item: fedrec/robust/centered_clipping.py."""

import torch

from fedrec.models.base import ITEM_EMBEDDING
from fedrec.robust.centered_clipping import centered_clipping
from fedrec.robust.dense import mlp_matrix, split_mlp
from fedrec.settings import Setting
from fedrec.training.server_step import ThetaGradient
from fedrec.updates import UserUpdates
from strategies.base import Aggregate
from strategies.robust import AGGREGATION, RobustStrategy, item_groups

CC_RADIUS = Setting(
    "cc-radius",
    float,
    "Centered Clipping: tau, the L2 bound on each update's distance to the center (per item: on each item row's and "
    "on the MLP part's); 10 is Blades' default.",
    minimum=0.0,
)
CC_ITERATIONS = Setting(
    "cc-iterations", int, "Centered Clipping: l, clipping iterations per round (the paper: 1).", minimum=1
)


class CenteredClipping(RobustStrategy):
    """Each round clips the users' updates around the previous round's estimate (zero at first) and moves it by
    their mean; the estimate times the number of users (or of an item row's senders) is the gradient.

    The center is the server's memory across rounds: in `dense` the whole vector, in `per-item` each item row's
    last estimate (kept for the rounds in which nobody sends the item) and the MLP part's. A user counts as
    flagged when the last iteration clipped its update (per item: any of its rows or its MLP part). The paper's
    clients send momentum; here they send the protocol's gradients, and the center carries the history.
    """

    settings = (AGGREGATION, CC_RADIUS, CC_ITERATIONS)

    def __init__(self, *args, **kwargs) -> None:  # type: ignore[no-untyped-def]
        super().__init__(*args, **kwargs)
        num_items, dim = self.theta[ITEM_EMBEDDING].shape
        num_dense = sum(int(p.numel()) for name, p in self.theta.items() if name != ITEM_EMBEDDING)
        self.center = torch.zeros(num_items * dim + num_dense)

    def _clip(self, points: torch.Tensor, center: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return centered_clipping(points, center, self.config.cc_radius, self.config.cc_iterations)

    def aggregate(self, updates: UserUpdates) -> Aggregate:
        if self.config.aggregation == "dense":
            self.center, flagged = self._clip(self.dense_matrix(updates), self.center)
            return Aggregate(self.gradient_from_vector(self.center * updates.num_users), flagged)
        num_items, dim = self.theta[ITEM_EMBEDDING].shape
        rows_center = self.center[: num_items * dim].view(num_items, dim)  # views: written in place below
        dense_center = self.center[num_items * dim :]
        dense_center[:], flagged = self._clip(mlp_matrix(updates, self.theta), dense_center)
        ids, counts, rows = item_groups(updates)
        rows_center[ids], row_clipped = self._clip(rows, rows_center[ids])
        # item_groups lays the rows out by item id (stable), so its valid slots follow that order of the uploads
        owner = updates.item_owner()[torch.argsort(updates.item_ids, stable=True)]
        flagged[owner[row_clipped[~torch.isnan(rows[..., 0])]]] = True
        return Aggregate(
            ThetaGradient(
                item_ids=ids,
                item_rows=rows_center[ids] * counts[:, None],
                dense=split_mlp(dense_center * updates.num_users, self.theta),
            ),
            flagged,
        )
