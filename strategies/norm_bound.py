"""Norm bounding (Sun et al., 2019): each user's whole update is scaled to L2 norm <= τ, then summed.

Users whose update had to be scaled down are reported as flagged (for detection rates).
"""

import torch

from fedrec.reporting.update_stats import user_update_norms
from fedrec.settings import Setting
from fedrec.training.server_step import ThetaGradient
from fedrec.updates import UserUpdates
from strategies.base import Aggregate, FedRecStrategy


class NormBound(FedRecStrategy):
    settings = (Setting("norm-bound", float, "tau: L2 bound on each user's whole update.", minimum=0.0),)

    @staticmethod
    def bounded(updates: UserUpdates, bound: float) -> tuple[UserUpdates, torch.Tensor]:
        """Each user's whole update scaled to L2 norm <= `bound`, and which users had to be scaled down."""
        norms = user_update_norms(updates).float()
        scale = torch.clamp(bound / norms.clamp(min=1e-30), max=1.0)
        return updates.scaled(scale), norms > bound

    def aggregate(self, updates: UserUpdates) -> Aggregate:
        bounded, clipped = self.bounded(updates, self.config.norm_bound)
        gradient = ThetaGradient(
            item_ids=bounded.item_ids,
            item_rows=bounded.item_grads,
            dense={name: grads.sum(0) for name, grads in bounded.dense_grads.items()},
        )
        return Aggregate(gradient, flagged=clipped)
