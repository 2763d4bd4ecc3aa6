"""Scan and reset: re-initialise the item rows of the items a target-blind exposure scan finds most suspicious.

A backdoor that puts a target in a group's top-K lists is carried, at least in part, by the target's item
embedding: the row that pre-training pushed toward the hidden states of the group's histories. The deployer knows
no target, but the federated exposure scan (server_app/exposure_scan.py) ranks items by how much more often they
are recommended than interacted with. Before fine-tuning, the server gives the `count` most suspicious items the
rows a freshly initialised model would have (the model's own initialisation, seeded), so fine-tuning relearns them
from the federation's interactions like new items. The price: every flagged item that was no target loses what
pre-training learned about it, which the run's HR@K shows beside the run without the reset.
"""

import torch

from fedrec.models.base import ITEM_EMBEDDING, Theta


def reset_item_rows(theta: Theta, items: list[int], fresh_rows: torch.Tensor) -> Theta:
    """A copy of Θ whose item-embedding rows `items` are replaced by the same rows of `fresh_rows` [M, d]."""
    if fresh_rows.shape != theta[ITEM_EMBEDDING].shape:
        raise ValueError(f"fresh rows {tuple(fresh_rows.shape)} do not match Θ's {tuple(theta[ITEM_EMBEDDING].shape)}")
    rows = torch.as_tensor(items, dtype=torch.int64)
    table = theta[ITEM_EMBEDDING].clone()
    table[rows] = fresh_rows[rows].to(table.dtype)
    return {**theta, ITEM_EMBEDDING: table}
