"""UNION's server-side filter as strategies, alone and paired as its paper and reference code pair it.

Each round, the users UNION rejects (fedrec/robust/union.py: the uniformity of the sampled item rows each
user's gradient alone would produce, split by the gap statistic) are left out, and the kept users' whole
updates are combined by their mean weighted by each user's sample count, the reference code's aggregation
(its `FedAdam`: the server's optimiser is the run's `server-optimizer`, `adam` in that setting).

- `union`: the filter alone (the reference's `UNION`).
- `norm-bound-union`: then each kept user's whole update is scaled to L2 norm <= `norm-bound` (its
  `NormBoundUNION`, which its README calls "MultiKrum+UNION"; the paper pairs UNION with norm bounding).
- `multi-krum-union`: also rejects the `tolerated-attackers` users with the worst Multi-Krum scores over their
  whole updates (its `MultiKrumUNION`).

`tolerated-attackers` is the reference's `ATTACKER_PER_ROUND`: UNION rejects the smaller group even when the
gap statistic prefers one group if that group has at most this many users. Flagged users (for detection
precision/recall) are the rejected ones; clipping by `norm-bound-union` does not count as a rejection, as in
the reference's precision/recall.
"""

import numpy as np
import torch

from fedrec.models.base import ITEM_EMBEDDING
from fedrec.robust.dense import to_dense
from fedrec.robust.krum import krum_scores
from fedrec.robust.union import uniformity, union_flags
from fedrec.settings import Setting
from fedrec.training.server_step import ThetaGradient
from fedrec.updates import UserUpdates
from strategies.base import Aggregate, FedRecStrategy
from strategies.krum import TOLERATED_ATTACKERS
from strategies.norm_bound import NormBound

#: Uniform reference samples of the gap statistic (the reference's `GAP_SAMPLE`).
GAP_REFERENCES = 50
_SAMPLING_STREAM = 0x554E

SAMPLED_ITEMS = Setting(
    "union-sampled-items",
    int,
    "Items (drawn uniformly with replacement each round) whose rows UNION's uniformity score is computed on "
    "(reference: 500).",
    minimum=2,
)


class Union(FedRecStrategy):
    """UNION's filter, then the kept users' sample-weighted mean update."""

    settings = (SAMPLED_ITEMS, TOLERATED_ATTACKERS)

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._rng = np.random.default_rng([self.config.seed, _SAMPLING_STREAM])

    def uniformity_scores(self, updates: UserUpdates) -> torch.Tensor:
        """[U] each user's uniformity score on this round's sampled items."""
        item_table = self.theta[ITEM_EMBEDDING]
        sampled = torch.from_numpy(self._rng.choice(len(item_table), size=self.config.union_sampled_items))
        grads = torch.zeros(updates.num_users, *item_table.shape)
        grads[updates.item_owner(), updates.item_ids] = updates.item_grads
        return uniformity(self.server_step.item_rows_after(sampled, grads[:, sampled]))

    def rejected(self, updates: UserUpdates) -> torch.Tensor:
        """[U] bool: the users left out of this round."""
        return union_flags(self.uniformity_scores(updates), self.config.tolerated_attackers, GAP_REFERENCES, self._rng)

    def bounded(self, kept: UserUpdates) -> tuple[UserUpdates, torch.Tensor | None]:
        """The kept users' updates as they are combined, and the factor each one's update was scaled by (None:
        none was)."""
        return kept, None

    def aggregate(self, updates: UserUpdates) -> Aggregate:
        flagged = self.rejected(updates)
        kept, factors = self.bounded(updates.select(~flagged))
        weights = kept.num_samples.double() / kept.num_samples.sum().clamp(min=1)
        weighted = kept.scaled(weights)
        gradient = ThetaGradient(
            item_ids=weighted.item_ids,
            item_rows=weighted.item_grads,
            dense={name: grads.sum(0) for name, grads in weighted.dense_grads.items()},
            l2_share=1.0 if factors is None else float((weights * factors.double()).sum()),
        )
        return Aggregate(gradient, flagged)


class NormBoundUnion(Union):
    """UNION's filter, then each kept user's whole update bounded to L2 norm `norm-bound`."""

    settings = (*Union.settings, *NormBound.settings)

    def bounded(self, kept: UserUpdates) -> tuple[UserUpdates, torch.Tensor | None]:
        """Under `l2-scope = "all"` each user's norm counts its L2 term of every parameter, and that term is
        scaled with the user's update (`ThetaGradient.l2_share`), as the reference bounds its clients' dense
        gradients."""
        bounded, _, factors = NormBound.bounded(kept, self.config.norm_bound, self.server_step.l2_gradient())
        return bounded, factors


class MultiKrumUnion(Union):
    """UNION's filter together with Multi-Krum's: the union of both rejections."""

    def rejected(self, updates: UserUpdates) -> torch.Tensor:
        flagged = super().rejected(updates)
        tolerated = max(0, min(self.config.tolerated_attackers, updates.num_users - 3))
        if tolerated:
            scores = krum_scores(to_dense(updates, self.theta), tolerated)
            flagged[torch.topk(scores, tolerated).indices] = True
        return flagged
