"""Statistics of the uploaded updates themselves: how large each user's update is."""

import numpy as np
import torch

from fedrec.wire import UserUpdates

QUANTILES = (0.0, 0.25, 0.5, 0.75, 1.0)


def user_update_norms(updates: UserUpdates) -> torch.Tensor:
    """L2 norm of each user's whole update (its item rows and dense gradients), shape [U]."""
    squared = torch.zeros(updates.num_users, dtype=torch.float64)
    squared.index_add_(0, updates.item_owner(), updates.item_grads.double().pow(2).sum(1))
    for grads in updates.dense_grads.values():
        squared += grads.double().pow(2).reshape(updates.num_users, -1).sum(1)
    return squared.sqrt()


def norm_quartiles(norms: np.ndarray) -> dict[str, float]:
    """min, q25, median, q75, max of a set of norms (NaN where there are none)."""
    values = np.quantile(norms, QUANTILES) if len(norms) else [float("nan")] * len(QUANTILES)
    return {name: float(v) for name, v in zip(("min", "q25", "median", "q75", "max"), values)}
