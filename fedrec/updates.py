"""A batch of per-user updates of Θ, as a node sends it and the strategy aggregates it (pure torch).

A node may host many users, but each user's update stays separate on the wire: `UserUpdates` holds
a batch of per-user gradients in CSR form (user k owns item rows `item_indptr[k]:item_indptr[k+1]`)
plus each user's dense-parameter gradients, so a strategy always aggregates per-user updates.
What a user reveals is exactly what FedRec reveals: the ids of items it touched (positives and
sampled negatives, indistinguishable) and gradients. Never p_u, never its interaction list.
"""

from dataclasses import dataclass, field
from functools import cached_property

import torch

from fedrec.models.base import ITEM_EMBEDDING, Theta


@dataclass
class UserUpdates:
    """Per-user gradients of Θ for a batch of users, in CSR layout for the item rows."""

    user_ids: torch.Tensor  # [U] int64, global user ids
    item_indptr: torch.Tensor  # [U + 1] int64
    item_ids: torch.Tensor  # [nnz] int64, unique within each user (but with `repeated-items = "separate"`)
    item_grads: torch.Tensor  # [nnz, d] float32
    dense_grads: dict[str, torch.Tensor]  # name -> [U, *param_shape]
    num_samples: torch.Tensor  # [U] int64, samples each user trained on
    #: `item_owner()`, computed on first use: every reader of a round's batch (rule, statistics) needs it.
    _owner: torch.Tensor | None = field(default=None, init=False, repr=False, compare=False)

    @property
    def num_users(self) -> int:
        return int(self.user_ids.numel())

    def item_owner(self) -> torch.Tensor:
        """For each item row, the position (0..U-1) of the user that sent it."""
        if self._owner is None:
            self._owner = torch.repeat_interleave(torch.arange(self.num_users), self.item_indptr.diff())
        return self._owner

    def select(self, keep: torch.Tensor) -> "UserUpdates":
        """The users where `keep` (a bool per user) is true, in order."""
        owner = self.item_owner()
        rows = keep[owner]
        counts = self.item_indptr.diff()[keep]
        return UserUpdates(
            user_ids=self.user_ids[keep],
            item_indptr=torch.cat([torch.zeros(1, dtype=torch.int64), torch.cumsum(counts, 0)]),
            item_ids=self.item_ids[rows],
            item_grads=self.item_grads[rows],
            dense_grads={name: grads[keep] for name, grads in self.dense_grads.items()},
            num_samples=self.num_samples[keep],
        )

    def scaled(self, scale: torch.Tensor) -> "UserUpdates":
        """Every user's whole update multiplied by its factor in `scale` ([U])."""
        return UserUpdates(
            user_ids=self.user_ids,
            item_indptr=self.item_indptr,
            item_ids=self.item_ids,
            item_grads=self.item_grads * scale[self.item_owner()][:, None].to(self.item_grads.dtype),
            dense_grads={
                name: grads * scale.view(-1, *[1] * (grads.dim() - 1)).to(grads.dtype)
                for name, grads in self.dense_grads.items()
            },
            num_samples=self.num_samples,
        )

    @classmethod
    def empty(cls, theta: Theta) -> "UserUpdates":
        """A batch with no users (a node whose round users all stayed silent)."""
        dim = theta[ITEM_EMBEDDING].shape[1]
        return cls(
            user_ids=torch.zeros(0, dtype=torch.int64),
            item_indptr=torch.zeros(1, dtype=torch.int64),
            item_ids=torch.zeros(0, dtype=torch.int64),
            item_grads=torch.zeros(0, dim),
            dense_grads={name: torch.zeros(0, *p.shape) for name, p in theta.items() if name != ITEM_EMBEDDING},
            num_samples=torch.zeros(0, dtype=torch.int64),
        )

    @classmethod
    def from_users(
        cls,
        user_ids: list[int],
        item_ids: list[torch.Tensor],
        item_grads: list[torch.Tensor],
        dense_grads: list[dict[str, torch.Tensor]],
        num_samples: list[int],
    ) -> "UserUpdates":
        """A batch from per-user pieces (each user's item ids unique), for updates crafted one by one."""
        lengths = torch.tensor([0] + [len(ids) for ids in item_ids])
        return cls(
            user_ids=torch.tensor(user_ids, dtype=torch.int64),
            item_indptr=torch.cumsum(lengths, 0),
            item_ids=torch.cat(item_ids).to(torch.int64),
            item_grads=torch.cat(item_grads),
            dense_grads={name: torch.stack([d[name] for d in dense_grads]) for name in dense_grads[0]},
            num_samples=torch.tensor(num_samples, dtype=torch.int64),
        )

    @classmethod
    def concat(cls, batches: list["UserUpdates"]) -> "UserUpdates":
        """One batch holding every user of `batches`, in order."""
        if len(batches) == 1:
            return batches[0]
        offsets = torch.cumsum(torch.tensor([0] + [int(b.item_indptr[-1]) for b in batches[:-1]]), 0)
        return cls(
            user_ids=torch.cat([b.user_ids for b in batches]),
            item_indptr=torch.cat(
                [torch.zeros(1, dtype=torch.int64)]
                + [b.item_indptr[1:] + offset for b, offset in zip(batches, offsets)]
            ),
            item_ids=torch.cat([b.item_ids for b in batches]),
            item_grads=torch.cat([b.item_grads for b in batches]),
            dense_grads={name: torch.cat([b.dense_grads[name] for b in batches]) for name in batches[0].dense_grads},
            num_samples=torch.cat([b.num_samples for b in batches]),
        )


@dataclass(frozen=True)
class TruthBatch:
    """The simulation's ground truth of a node's batch of benign users, aligned with their `UserUpdates` rows.

    Known to the simulation only: it never crosses the protocol; the node leaves it on its machine's disk
    (privacy/ground_truth.py) for the scoring of a curious server's recovery (privacy/), and it never
    reaches a strategy, a hook or a privacy attack.
    """

    user_ids: torch.Tensor  # [U]
    item_indptr: torch.Tensor  # [U + 1], the batch's CSR layout
    is_interaction: torch.Tensor  # [nnz] bool: is this uploaded item a real interaction of its user
    user_embeddings: torch.Tensor  # [U, d]: p_u before the round's local step
    #: The users' true updates, kept only under secure aggregation (the server sees sums, never these): what a
    #: reconstruction from the sums (privacy/round_difference.py) is measured against.
    uploads: UserUpdates | None = None

    @cached_property  # read once per sampled user of a batch; computing it each time is quadratic
    def positions(self) -> dict[int, int]:
        return {int(user): k for k, user in enumerate(self.user_ids.tolist())}
