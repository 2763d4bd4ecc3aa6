"""Robust aggregation of sparse per-user updates: the dense and per-item views, and the scaling.

A FedRec upload is sparse: a user sends item rows only for the items it touched. Two views:

- `dense`: every user's update is the full vector of Θ (item rows it did not send are zero), what
  a general-purpose implementation (and Flower's strategies) aggregates. Coordinate-wise rules then
  see mostly zeros for each item row, so the median of a row is usually zero and item embeddings
  barely train.
- `per-item`: each item row is aggregated over the users who sent it; the dense (MLP) part over
  all users.

Scaling into the server step: a rule estimates the *mean* update of the users it aggregates over;
the strategy multiplies that estimate by their number (all U users in `dense`, for the MLP, and for
selection rules; the n_i senders of item row i in `per-item`), so that without an attack a robust
rule moves Θ as fast as FedAvg's sum. Selection rules (Krum, Multi-Krum, Bulyan's selection) judge
whole users, so their choice is the same in both views.
"""

from abc import abstractmethod

import numpy as np
import torch

from fedrec.dense import dense_names, split_dense, to_dense
from fedrec.models.base import ITEM_EMBEDDING
from fedrec.server_step import ThetaGradient
from fedrec.wire import UserUpdates
from strategies.base import FedRecStrategy


class RobustStrategy(FedRecStrategy):
    """Base of the robust rules: builds the dense matrix or per-item groups and scales the result."""

    @property
    def dense_names(self) -> list[str]:
        return dense_names(self.theta)

    def dense_matrix(self, updates: UserUpdates) -> torch.Tensor:
        """[U, M*d + P]: each user's whole update with unsent item rows as zeros."""
        return to_dense(updates, self.theta)

    def gradient_from_vector(self, vector: torch.Tensor) -> ThetaGradient:
        """A flat [M*d + P] vector as a gradient of Θ (every item row included)."""
        rows, dense = split_dense(vector, self.theta)
        return ThetaGradient(item_ids=torch.arange(rows.shape[0]), item_rows=rows, dense=dense)

    def layout(self) -> list[tuple[str, tuple[int, ...]]]:
        return [(name, tuple(self.theta[name].shape)) for name in [ITEM_EMBEDDING, *self.dense_names]]


class SelectionStrategy(RobustStrategy):
    """Rules that keep some users and drop the others (Krum, Multi-Krum, Bulyan)."""

    @abstractmethod
    def select(self, matrix: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(mean estimate [D], indices of the users it kept) for the dense matrix [U, D]."""

    def aggregate(self, updates: UserUpdates) -> ThetaGradient:
        estimate, kept = self.select(self.dense_matrix(updates))
        flagged = torch.ones(updates.num_users, dtype=torch.bool)
        flagged[kept] = False
        self.flagged_users = flagged
        return self.gradient_from_vector(estimate * updates.num_users)


class CoordinateStrategy(RobustStrategy):
    """Coordinate-wise rules (median, trimmed mean), applied densely or per item."""

    @abstractmethod
    def combine(self, values: np.ndarray) -> np.ndarray:
        """Robust mean over axis 1 of [groups, n, D], ignoring NaN padding."""

    def _robust_mean(self, matrix: torch.Tensor) -> torch.Tensor:
        return torch.from_numpy(self.combine(matrix.double().numpy()[None])[0]).float()

    def aggregate(self, updates: UserUpdates) -> ThetaGradient:
        if self.config.aggregation == "dense":
            return self.gradient_from_vector(self._robust_mean(self.dense_matrix(updates)) * updates.num_users)
        dense = {
            name: self._robust_mean(grads.reshape(updates.num_users, -1)).reshape(grads.shape[1:]) * updates.num_users
            for name, grads in updates.dense_grads.items()
        }
        item_ids, rows = self._per_item(updates)
        return ThetaGradient(item_ids=item_ids, item_rows=rows, dense=dense)

    def _per_item(self, updates: UserUpdates) -> tuple[torch.Tensor, torch.Tensor]:
        """Each touched item's rows combined over the users who sent them, times their number."""
        order = torch.argsort(updates.item_ids, stable=True)
        ids, counts = torch.unique_consecutive(updates.item_ids[order], return_counts=True)
        width = int(counts.max())
        slot = torch.arange(len(order)) - torch.repeat_interleave(torch.cumsum(counts, 0) - counts, counts)
        group = torch.repeat_interleave(torch.arange(len(ids)), counts)
        padded = np.full((len(ids), width, updates.item_grads.shape[1]), np.nan)
        padded[group.numpy(), slot.numpy()] = updates.item_grads[order].double().numpy()
        rows = torch.from_numpy(self.combine(padded)).float() * counts[:, None].float()
        return ids, rows
