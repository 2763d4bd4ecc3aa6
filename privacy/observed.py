"""What a curious server observes of one user in one round, what it recovers, and the truth that scores it.

The server runs the protocol honestly and records, for a sampled user and round, exactly what the wire
carried (`fedrec.updates.UserUpdates` of that user) plus the Θ it had sent: `ObservedUpload`. A privacy
attack is a function of an `ObservedUpload` (and the protocol's public settings: model, loss,
negatives per positive) only; it returns a `Recovered`. The simulation's ground truth (`Truth`: which
uploaded items are real interactions, the user's p_u when it computed the upload) is used only to
score the recovery (privacy/scoring.py) and never reaches an attack.
"""

from dataclasses import dataclass

import torch

from fedrec.models.base import Theta
from fedrec.updates import UserUpdates


@dataclass(frozen=True)
class ObservedUpload:
    """One user's upload in one round, as the server received it, and the Θ the server had sent."""

    theta: Theta
    item_ids: torch.Tensor  # [n] int64, sorted, unique: positives and sampled negatives, indistinguishable
    item_rows: torch.Tensor  # [n, d]: the gradient rows of those items
    dense: dict[str, torch.Tensor]  # name -> gradient of that dense parameter (no user axis)
    num_samples: int  # samples the user's mean loss ran over (on the wire as `num-samples`)

    @classmethod
    def of_user(cls, updates: UserUpdates, position: int, theta: Theta) -> "ObservedUpload":
        """The `position`-th user of a received batch."""
        start, end = int(updates.item_indptr[position]), int(updates.item_indptr[position + 1])
        # Copies, not views: a view would keep (and `torch.save` would write) the whole batch's storage.
        return cls(
            theta=theta,
            item_ids=updates.item_ids[start:end].clone(),
            item_rows=updates.item_grads[start:end].clone(),
            dense={name: grads[position].clone() for name, grads in updates.dense_grads.items()},
            num_samples=int(updates.num_samples[position]),
        )


@dataclass(frozen=True)
class UserHistory:
    """What the server holds to attack one user: the user's recorded uploads, and what it saw of everyone.

    `item_uploads[i]` is how many uploads, of all users in the recorded epochs, carried item i: a
    popularity the server counts itself from the ids on the wire (positives and sampled negatives
    alike; negatives are near uniform, so the ranking is the items' popularity), not a private count.
    """

    uploads: tuple[ObservedUpload, ...]  # the user's, in epoch order
    item_uploads: torch.Tensor  # [num_items] int64


@dataclass(frozen=True)
class Recovered:
    """An attack's answer for one upload."""

    interaction_scores: torch.Tensor  # [n]: higher = more likely a real interaction (for AUC)
    is_interaction: torch.Tensor  # [n] bool: the attack's decision
    user_embedding: torch.Tensor | None  # [d] the recovered p_u, or None if the attack does not recover it


@dataclass(frozen=True)
class Truth:
    """Ground truth of one upload, aligned with its `item_ids`; known to the simulation only."""

    is_interaction: torch.Tensor  # [n] bool
    user_embedding: torch.Tensor  # [d]: p_u at the moment the user computed this upload
    #: The user's true update (one user), kept only under secure aggregation, where the server never saw it.
    upload: UserUpdates | None = None
