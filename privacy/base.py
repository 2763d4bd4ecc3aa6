"""What a privacy attack is: a curious server's function from one observed upload to a recovery.

An attack knows the public protocol (the model class, the loss, r = negatives per positive, read from
the validated run config) and sees one `ObservedUpload` at a time; it returns which uploaded items it
takes for real interactions and, if it can, the user's p_u. Helpers here are the parts attacks share:
the count prior (how many uploaded items are positives) and the decision it supports.
"""

from abc import ABC, abstractmethod
from typing import Any, ClassVar

import torch

from fedrec.models.base import RecModel
from fedrec.settings import Setting
from privacy.observed import ObservedUpload, Recovered


class PrivacyAttack(ABC):
    """Base of every privacy attack. `config` is the validated run config (or any object with its attributes)."""

    #: Run-config settings this attack reads besides the family's.
    settings: ClassVar[tuple[Setting, ...]] = ()

    def __init__(self, model: RecModel, config: Any) -> None:
        self.model = model
        self.config = config

    @abstractmethod
    def recover(self, upload: ObservedUpload) -> Recovered:
        """The attack's answer for one upload."""


def expected_positives(num_samples: int, negatives: int) -> float:
    """N / (1 + r): the number of real interactions behind N samples when each positive brings r negatives.

    Exact for an undefended user (sampling draws r negatives per positive); only an estimate where a
    defense pads or subsamples the upload.
    """
    return num_samples / (1 + negatives)


def prior_positives(upload: ObservedUpload, negatives: int) -> int | None:
    """The exact number of positives the count prior gives, or None when it cannot be exact.

    It cannot when N / (1 + r) is not a whole number (the upload was padded or thinned) or exceeds the
    uploaded items: then N did not come from n_pos positives with r negatives each.
    """
    positives, remainder = divmod(upload.num_samples, 1 + negatives)
    if remainder or positives > len(upload.item_ids):
        return None
    return positives


def decide_interactions(
    scores: torch.Tensor, fallback: torch.Tensor, upload: ObservedUpload, negatives: int
) -> torch.Tensor:
    """The top-n_pos items by `scores` when the count prior is exact; otherwise the attack's own `fallback` decision.

    The fallback (e.g. a relaxed label > 0.5) is the attack's estimate from the gradients alone; a
    rounded N / (1 + r) would be no better where a defense changed N, so it is not used then.
    """
    count = prior_positives(upload, negatives)
    if count is None:
        return fallback.clone()
    decision = torch.zeros(len(scores), dtype=torch.bool)
    # A stable sort keeps ties in item order, so equal scores give the same decision every run.
    decision[torch.argsort(scores, descending=True, stable=True)[:count]] = True
    return decision
