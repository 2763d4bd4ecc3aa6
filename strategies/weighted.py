"""Rules that decide on whole users, then average: each user's update is rescaled and enters a weighted mean (SignGuard,
DnC, FoolsGold, FLAME). The decision is taken on the users' whole (dense) vectors; the weighted mean is then formed
densely, or per item.

`dense`: the weighted mean of the whole vectors, times U. `per-item`: each item row is the weighted mean over the
users who sent it, times their number n_i (an item whose senders all have weight 0 gets no step); the MLP part the
weighted mean over all users, times U. A rejected user has weight 0, so the others' mean stands for everyone, as
the selection rules' does (strategies/robust.py).
"""

from abc import abstractmethod
from dataclasses import dataclass
from typing import ClassVar

import torch

from fedrec.robust.dense import mlp_matrix, split_mlp
from fedrec.settings import Setting
from fedrec.training.server_step import ThetaGradient
from fedrec.updates import UserUpdates
from strategies.base import Aggregate
from strategies.robust import AGGREGATION, RobustStrategy


@dataclass(frozen=True)
class UserWeights:
    """A rule's decision on the round's users: user u's update times `scale[u]` enters the mean with weight
    `weight[u]` (>= 0); `flagged` are the users it rejected or down-weighted; Gaussian noise of std `noise` is added
    to each coordinate of the mean estimate (FLAME)."""

    weight: torch.Tensor  # [U]
    scale: torch.Tensor  # [U]
    flagged: torch.Tensor  # [U] bool
    noise: float = 0.0


def _weighted_mean(values: torch.Tensor, factor: torch.Tensor, total: torch.Tensor) -> torch.Tensor:
    return (factor[:, None] * values.double()).sum(0) / total if total > 0 else torch.zeros(values.shape[1]).double()


class WeightedStrategy(RobustStrategy):
    """Base of the rules that weigh whole users: implement `weigh`. What a rule draws at random (a sample of
    coordinates, noise) comes from `generator`, seeded by `seed`."""

    settings: ClassVar[tuple[Setting, ...]] = (AGGREGATION,)

    def __init__(self, *args, **kwargs) -> None:  # type: ignore[no-untyped-def]
        super().__init__(*args, **kwargs)
        self.generator = torch.Generator().manual_seed(self.config.seed)

    @abstractmethod
    def weigh(self, matrix: torch.Tensor, user_ids: torch.Tensor) -> UserWeights:
        """The decision on the users `user_ids` [U] whose whole updates are the rows of `matrix` [U, M*d + P]."""

    def _release(self, mean: torch.Tensor, decision: UserWeights) -> torch.Tensor:
        """The mean estimate (any shape) with the decision's noise, if any."""
        if decision.noise <= 0:
            return mean
        return mean + decision.noise * torch.randn(mean.shape, generator=self.generator, dtype=mean.dtype)

    def aggregate(self, updates: UserUpdates) -> Aggregate:
        matrix = self.dense_matrix(updates)
        decision = self.weigh(matrix, updates.user_ids)
        weight = decision.weight.double()
        factor = weight * decision.scale.double()
        if self.config.aggregation == "dense":
            mean = self._release(_weighted_mean(matrix, factor, weight.sum()), decision)
            return Aggregate(self.gradient_from_vector(mean.float() * updates.num_users), decision.flagged)
        owner = updates.item_owner()
        ids, inverse, counts = torch.unique(updates.item_ids, return_inverse=True, return_counts=True)
        sums = torch.zeros(len(ids), updates.item_grads.shape[1], dtype=torch.float64)
        sums.index_add_(0, inverse, updates.item_grads.double() * factor[owner, None])
        weights = torch.zeros(len(ids), dtype=torch.float64).index_add_(0, inverse, weight[owner])
        rows = self._release(
            torch.where(weights[:, None] > 0, sums / weights.clamp(min=1e-300)[:, None], 0.0), decision
        )
        mlp = self._release(_weighted_mean(mlp_matrix(updates, self.theta), factor, weight.sum()), decision)
        return Aggregate(
            ThetaGradient(
                item_ids=ids,
                item_rows=(rows * counts[:, None]).float(),
                dense=split_mlp(mlp.float() * updates.num_users, self.theta),
            ),
            decision.flagged,
        )
