"""Client-side privacy defenses: what a benign user computes and uploads instead of its honest update.

A defense replaces the node's call of `compute_user_updates` for its benign users. It returns a
`LocalResult` whose `updates` go on the wire and whose `user_emb_grad` steps each user's private
p_u, so a defense can change what the server sees without changing how p_u learns. Every random
draw is keyed by (seed, the defense's stream, epoch, user): reproducible, and the same whatever the
node layout. Members: `NoDefense` here, `LocalDP` (privacy/ldp.py), `PseudoItems`
(privacy/pseudo_items.py), the DLG paper's `UploadNoise`, `UploadPrecision` and `UploadPruning`
(privacy/upload_perturbation.py).
"""

from abc import ABC, abstractmethod
from typing import Any, ClassVar

import numpy as np
import torch

from fedrec.models.base import RecModel, Theta
from fedrec.settings import Setting
from fedrec.training.local import LocalResult, Objective, compute_user_updates
from fedrec.training.sampling import UserSamples


class ClientDefense(ABC):
    """How a node's benign users turn their samples into an upload and a p_u gradient."""

    #: Run-config settings this defense reads.
    settings: ClassVar[tuple[Setting, ...]] = ()

    @abstractmethod
    def local_update(
        self,
        model: RecModel,
        theta: Theta,
        user_ids: np.ndarray,
        user_emb: torch.Tensor,
        samples: list[UserSamples],
        config: Any,
        epoch: int,
    ) -> LocalResult:
        """The users' uploads and p_u gradients for `epoch`. `config`: the run config (attributes
        `loss`, `negatives`, `seed` and the defense's own settings)."""


class NoDefense(ClientDefense):
    """The honest upload: the gradient of each user's mean loss over its samples."""

    def local_update(
        self,
        model: RecModel,
        theta: Theta,
        user_ids: np.ndarray,
        user_emb: torch.Tensor,
        samples: list[UserSamples],
        config: Any,
        epoch: int,
    ) -> LocalResult:
        return compute_user_updates(model, theta, user_ids, user_emb, samples, Objective.of(config))
