"""What a privacy attack is: a curious server's function from what it recorded of one user to a recovery.

An attack knows the public protocol (the model class, the loss, r = negatives per positive, the defense
and its public parameters such as the k of pseudo items, read from the validated run config) and is
handed one user's `UserHistory`: all the uploads of that user it recorded, in epoch order, and the
item popularity it counted over every user's uploads. It returns, per upload, which uploaded items it
takes for real interactions and, if it can, the user's p_u. A `SingleUploadAttack` looks at one upload
at a time. Helpers here are the parts attacks share: the count prior (how many uploaded items are
positives) and the decision it supports.
"""

from abc import ABC, abstractmethod
from typing import Any, ClassVar

import torch

from fedrec.models.base import RecModel
from fedrec.settings import Setting
from privacy.observed import ObservedUpload, Recovered, UserHistory


class PrivacyAttack(ABC):
    """Base of every privacy attack. `config` is the validated run config (or any object with its attributes)."""

    #: Run-config settings this attack reads besides the family's.
    settings: ClassVar[tuple[Setting, ...]] = ()
    #: Whether the answer for one upload uses the user's other uploads (reported as the rounds it saw).
    multi_round: ClassVar[bool] = False

    def __init__(self, model: RecModel, config: Any) -> None:
        self.model = model
        self.config = config

    @abstractmethod
    def recover_history(self, history: UserHistory) -> list[Recovered]:
        """The attack's answer for each of the user's uploads, in the order of `history.uploads`."""


class SingleUploadAttack(PrivacyAttack):
    """An attack that reads each upload on its own (the gradient attacks): no other round, no popularity."""

    def recover_history(self, history: UserHistory) -> list[Recovered]:
        return [self.recover(upload) for upload in history.uploads]

    @abstractmethod
    def recover(self, upload: ObservedUpload) -> Recovered:
        """The attack's answer for one upload."""


def pseudo_positives(config: Any) -> int:
    """The public k of fake positives each upload carries (`pseudo-items` labelled positive), else 0."""
    if config.privacy_defense == "pseudo-items" and config.pseudo_items_label == "positive":
        return config.pseudo_items
    return 0


def expected_positives(num_samples: int, negatives: int) -> float:
    """N / (1 + r): the number of real interactions behind N samples when each positive brings r negatives.

    Exact for an undefended user (sampling draws r negatives per positive); only an estimate where a
    defense pads or subsamples the upload.
    """
    return num_samples / (1 + negatives)


def prior_positives(upload: ObservedUpload, negatives: int, pseudo: int = 0) -> int | None:
    """The exact number of real positives the count prior gives, or None when it cannot be exact.

    N / (1 + r) counts every positive the upload was computed on, `pseudo` (the public k) fake ones
    among them, so the real ones are N / (1 + r) − k. It cannot be exact when N / (1 + r) is not a
    whole number (the upload was padded or thinned) or the count does not fit the uploaded items: then N
    did not come from n_pos positives with r negatives each.
    """
    positives, remainder = divmod(upload.num_samples, 1 + negatives)
    positives -= pseudo
    if remainder or not 0 <= positives <= len(upload.item_ids):
        return None
    return positives


def estimated_positives(upload: ObservedUpload, negatives: int, pseudo: int = 0) -> int:
    """The count prior, exact where it can be, else N / (1 + r) − k rounded into [0, n]: what a ranking attack marks."""
    exact = prior_positives(upload, negatives, pseudo)
    if exact is not None:
        return exact
    return min(max(round(expected_positives(upload.num_samples, negatives)) - pseudo, 0), len(upload.item_ids))


def decide_interactions(
    scores: torch.Tensor, fallback: torch.Tensor, upload: ObservedUpload, negatives: int, pseudo: int = 0
) -> torch.Tensor:
    """The top-n_pos items by `scores` when the count prior is exact; otherwise the attack's own `fallback` decision.

    The fallback (e.g. a relaxed label > 0.5) is the attack's estimate from the gradients alone; a
    rounded N / (1 + r) would be no better where a defense changed N, so it is not used then.
    """
    count = prior_positives(upload, negatives, pseudo)
    if count is None:
        return fallback.clone()
    return top_items(scores, count)


def top_items(scores: torch.Tensor, count: int) -> torch.Tensor:
    """The decision marking the `count` best-scored items."""
    decision = torch.zeros(len(scores), dtype=torch.bool)
    # A stable sort keeps ties in item order, so equal scores give the same decision every run.
    decision[torch.argsort(scores, descending=True, stable=True)[:count]] = True
    return decision
