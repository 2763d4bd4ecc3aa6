"""Which item embeddings moved most over the first epoch, as one node sees Θ: PIECK's "popular items".

PIECK (its attacks and its Regula defense) mines the items whose embeddings moved most between the Θ a
client received in epoch 1 and the one it received in epoch 2: the items many users train are the ones
that move. A node keeps the item table of its first training round and, at its first round of a later
epoch, ranks every item by the L2 norm of its row's change; the ranking is then fixed for the rest of
the run. Before it is known (the first epoch: no change seen yet) every item ties and the ranking is by
item id; the reference code's `torch.topk` over zeros returns an arbitrary order there.

The ranking is per node, not per client: the reference code keeps one snapshot per client (the Θ of its
own epoch-1 round), so its window is one epoch shifted by where the client sat in the shuffled rounds;
here it runs from the node's first round of epoch 1 to its first round of epoch 2.
"""

from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class ItemMovement:
    """A node's memory of the item table: the table of its first round (`first`, seen in `first_epoch`)
    until the ranking `order` (every item, most moved first) is known, then only the ranking."""

    first: torch.Tensor | None = None
    first_epoch: int = -1
    order: torch.Tensor | None = None

    def observe(self, item_table: torch.Tensor, epoch: int) -> "ItemMovement":
        """The memory after a round of `epoch` (0-based) that received `item_table` [M, d]."""
        if self.order is not None:
            return self
        if self.first is None:
            return ItemMovement(first=item_table.detach().clone(), first_epoch=epoch)
        if epoch <= self.first_epoch:
            return self
        return ItemMovement(order=items_by_movement(self.first, item_table.detach()))

    def most_moved(self, count: int, num_items: int, exclude: torch.Tensor | None = None) -> torch.Tensor:
        """The `count` most moved items (most first), `exclude`d items left out; by item id before the
        ranking is known."""
        order = self.order if self.order is not None else torch.arange(num_items)
        if exclude is not None and len(exclude):
            order = order[~torch.isin(order, exclude)]
        return order[:count]


def items_by_movement(before: torch.Tensor, after: torch.Tensor) -> torch.Tensor:
    """Every item id, ordered by the L2 norm of its row's change from `before` to `after` (largest first;
    ties by item id)."""
    movement = (after - before).norm(dim=1)
    return torch.sort(movement, descending=True, stable=True).indices
