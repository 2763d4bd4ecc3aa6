"""Hierarchical gradient clipping (after Yin et al., KDD 2023, PSMU's countermeasure): each uploaded item
row, then each client's whole update, scaled to an L2 bound."""

from dataclasses import replace

import torch

from fedrec.reporting.update_stats import user_update_norms
from fedrec.robust.clipping import clip_to_norm
from fedrec.updates import UserUpdates


def hierarchical_clip(updates: UserUpdates, item_bound: float, client_bound: float) -> tuple[UserUpdates, torch.Tensor]:
    """The updates with every item row clipped to L2 <= `item_bound`, then every user's whole update (its
    clipped rows and its dense gradients) to L2 <= `client_bound`; and which users either level clipped."""
    rows, row_clipped = clip_to_norm(updates.item_grads, item_bound)
    by_row = replace(updates, item_grads=rows)
    norms = user_update_norms(by_row)
    scale = torch.clamp(client_bound / norms.clamp(min=1e-30), max=1.0)
    clipped_rows_per_user = torch.zeros(updates.num_users, dtype=torch.int64)
    clipped_rows_per_user.index_add_(0, updates.item_owner(), row_clipped.long())
    return by_row.scaled(scale), (clipped_rows_per_user > 0) | (norms > client_bound)
