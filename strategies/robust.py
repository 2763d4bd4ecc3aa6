"""Robust aggregation of sparse per-user updates: the dense and per-item views, and the scaling.

A FedRec upload is sparse: a user sends item rows only for the items it touched. Two views:

- `dense`: every user's update is the full vector of Θ (item rows it did not send are zero), what
  a general-purpose implementation (and Flower's strategies) aggregates. Coordinate-wise rules then
  see mostly zeros for each item row, so the median of a row is usually zero and item embeddings
  barely train.
- `per-item`: each item row is aggregated over the users who sent it; the dense (MLP) part over
  all users.

Scaling into the server step: a rule estimates the *mean* update of the users it aggregates over;
the strategy multiplies that estimate by their number (all U users in `dense` and for the MLP; the
n_i senders of item row i in `per-item`), so that without an attack a robust rule moves Θ as fast as
FedAvg's sum. Selection rules (Krum, Multi-Krum, Bulyan) in `per-item` choose each item row among
that item's senders, and the MLP part (and who counts as flagged) among all users.
"""

from abc import abstractmethod
from typing import ClassVar

import numpy as np
import torch

from fedrec.config import RunConfig
from fedrec.errors import ConfigError
from fedrec.models.base import ITEM_EMBEDDING
from fedrec.robust.dense import dense_names, split_dense, to_dense
from fedrec.robust.grouped import apply_by_bucket
from fedrec.settings import Setting
from fedrec.training.server_step import ThetaGradient
from fedrec.updates import UserUpdates
from strategies.base import Aggregate, FedRecStrategy

AGGREGATION = Setting(
    "aggregation",
    str,
    "How robust rules treat sparse uploads: each item row over the users who sent it (`per-item`) or over all users "
    "with zeros (`dense`).",
    ("per-item", "dense"),
)
PER_ITEM_SCALE = Setting(
    "per-item-scale",
    str,
    "With `aggregation = per-item`: each item's estimate times its number of senders (`senders`, a step "
    "as large as FedAvg's sum without an attack) or as it is (`none`: the step of Spattack's reference code, whose "
    "per-item Mean and Median move a row by lr times the estimate).",
    ("senders", "none"),
)


class RobustStrategy(FedRecStrategy):
    """Base of the robust rules: builds the dense matrix or per-item groups and scales the result."""

    def dense_matrix(self, updates: UserUpdates) -> torch.Tensor:
        """[U, M*d + P]: each user's whole update with unsent item rows as zeros."""
        return to_dense(updates, self.theta)

    def gradient_from_vector(self, vector: torch.Tensor) -> ThetaGradient:
        """A flat [M*d + P] vector as a gradient of Θ (every item row included)."""
        rows, dense = split_dense(vector, self.theta)
        return ThetaGradient(item_ids=torch.arange(rows.shape[0]), item_rows=rows, dense=dense)

    @classmethod
    def check_run(cls, config: RunConfig) -> None:
        """`per-item-scale` acts on per-item aggregation only; set with dense aggregation it could not take effect."""
        if PER_ITEM_SCALE in cls.settings and config.per_item_scale != "senders" and config.aggregation != "per-item":
            raise ConfigError(
                f"run-config 'per-item-scale' = '{config.per_item_scale}' needs aggregation = 'per-item', "
                f"not '{config.aggregation}'"
            )

    @classmethod
    def aggregates_item_rows(cls, config: RunConfig) -> bool:
        """The rules with an `aggregation` setting group each item's uploaded rows under `per-item`."""
        return AGGREGATION in cls.settings and config.aggregation == "per-item"

    def item_scale(self, counts: torch.Tensor) -> torch.Tensor:
        """[G, 1] what each item's per-item estimate is multiplied by, for its `counts` [G] senders."""
        scale = counts if self.config.per_item_scale == "senders" else torch.ones_like(counts)
        return scale[:, None].float()

    def layout(self) -> list[tuple[str, tuple[int, ...]]]:
        return [(name, tuple(self.theta[name].shape)) for name in [ITEM_EMBEDDING, *dense_names(self.theta)]]


def item_groups(updates: UserUpdates) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(item ids [G], senders per item [G], their rows [G, W, d] padded with NaN). Each uploaded row is a sender: a
    user's several rows of one item (`repeated-items = "separate"`) count as several, as in Spattack's reference."""
    order = torch.argsort(updates.item_ids, stable=True)
    ids, counts = torch.unique_consecutive(updates.item_ids[order], return_counts=True)
    slot = torch.arange(len(order)) - torch.repeat_interleave(torch.cumsum(counts, 0) - counts, counts)
    group = torch.repeat_interleave(torch.arange(len(ids)), counts)
    padded = torch.full((len(ids), int(counts.max()), updates.item_grads.shape[1]), float("nan"))
    padded[group, slot] = updates.item_grads[order]
    return ids, counts, padded


class SelectionStrategy(RobustStrategy):
    """Rules that estimate from the users' whole vectors and report whom they kept: Krum, Multi-Krum and Bulyan drop
    the others, RFA down-weights them.

    `dense`: the rule selects whole users (their full vectors) and their mean is the estimate.
    `per-item`: each item row is chosen among its own senders by `select_groups`; the MLP part
    comes from the user-level selection, which also decides who counts as flagged.
    """

    settings: ClassVar[tuple[Setting, ...]] = (AGGREGATION, PER_ITEM_SCALE)

    @abstractmethod
    def select(self, matrix: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(mean estimate [D], indices of the users it kept; the others count as flagged) for the matrix [U, D]."""

    def select_groups(self, rows: torch.Tensor, counts: torch.Tensor) -> torch.Tensor:
        """Per-group mean estimate [G, d] of NaN-padded rows [G, W, d].

        By default `select` runs on each group's rows in turn; rules with a vectorised per-group
        form (Krum, Multi-Krum, Bulyan) override this.
        """
        return torch.stack([self.select(group[:count])[0] for group, count in zip(rows, counts.tolist())])

    def aggregate(self, updates: UserUpdates) -> Aggregate:
        estimate, kept = self.select(self.dense_matrix(updates))
        flagged = torch.ones(updates.num_users, dtype=torch.bool)
        flagged[kept] = False
        if self.config.aggregation == "dense":
            return Aggregate(self.gradient_from_vector(estimate * updates.num_users), flagged)
        _, dense = split_dense(estimate * updates.num_users, self.theta)
        ids, counts, rows = item_groups(updates)
        item_rows = apply_by_bucket(self.select_groups, rows, counts) * self.item_scale(counts)
        return Aggregate(ThetaGradient(item_ids=ids, item_rows=item_rows.float(), dense=dense), flagged)


class CoordinateStrategy(RobustStrategy):
    """Coordinate-wise rules (median, trimmed mean), applied densely or per item."""

    settings: ClassVar[tuple[Setting, ...]] = (AGGREGATION, PER_ITEM_SCALE)

    @abstractmethod
    def combine(self, values: np.ndarray) -> np.ndarray:
        """Robust mean over axis 1 of [groups, n, D], ignoring NaN padding."""

    def _robust_mean(self, matrix: torch.Tensor) -> torch.Tensor:
        return torch.from_numpy(self.combine(matrix.double().numpy()[None])[0]).float()

    def aggregate(self, updates: UserUpdates) -> Aggregate:
        if self.config.aggregation == "dense":
            return Aggregate(
                self.gradient_from_vector(self._robust_mean(self.dense_matrix(updates)) * updates.num_users)
            )
        dense = {
            name: self._robust_mean(grads.reshape(updates.num_users, -1)).reshape(grads.shape[1:]) * updates.num_users
            for name, grads in updates.dense_grads.items()
        }
        item_ids, rows = self._per_item(updates)
        return Aggregate(ThetaGradient(item_ids=item_ids, item_rows=rows, dense=dense))

    def _per_item(self, updates: UserUpdates) -> tuple[torch.Tensor, torch.Tensor]:
        """Each touched item's rows combined over the users who sent them, scaled by `item_scale`."""
        ids, counts, padded = item_groups(updates)
        rows = torch.from_numpy(self.combine(padded.double().numpy())).float() * self.item_scale(counts)
        return ids, rows
