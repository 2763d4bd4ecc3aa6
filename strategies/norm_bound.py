"""Norm bounding (Sun et al., 2019): each user's whole update is scaled to L2 norm <= τ, then summed.

Users whose update had to be scaled down are reported as flagged (for detection rates).
"""

import torch

from fedrec.models.base import Theta
from fedrec.reporting.update_stats import user_update_norms
from fedrec.robust.dense import flat_theta, to_dense
from fedrec.settings import Setting
from fedrec.training.server_step import ThetaGradient
from fedrec.updates import UserUpdates
from strategies.base import Aggregate, FedRecStrategy


class NormBound(FedRecStrategy):
    settings = (Setting("norm-bound", float, "tau: L2 bound on each user's whole update.", minimum=0.0),)

    @staticmethod
    def bounded(
        updates: UserUpdates, bound: float, l2_term: Theta | None = None
    ) -> tuple[UserUpdates, torch.Tensor, torch.Tensor]:
        """Each user's whole update scaled to L2 norm <= `bound`, which users had to be scaled down, and each
        user's factor. With `l2_term` (`ServerStep.l2_gradient`: the L2 gradient every user adds to every
        parameter under `l2-scope = "all"`, which the server adds after the rule) the norm is that of the upload
        plus the term, as a client that sent its dense gradient would be bounded (ClusterAttack-UNION's
        `NormBoundUNION`); the term itself is scaled by the caller (`ThetaGradient.l2_share`)."""
        if l2_term is None:
            norms = user_update_norms(updates).float()
        else:
            norms = (to_dense(updates, l2_term).double() + flat_theta(l2_term).double()).norm(dim=1).float()
        scale = torch.clamp(bound / norms.clamp(min=1e-30), max=1.0)
        return updates.scaled(scale), norms > bound, scale

    def aggregate(self, updates: UserUpdates) -> Aggregate:
        bounded, clipped, _ = self.bounded(updates, self.config.norm_bound)
        gradient = ThetaGradient(
            item_ids=bounded.item_ids,
            item_rows=bounded.item_grads,
            dense={name: grads.sum(0) for name, grads in bounded.dense_grads.items()},
        )
        return Aggregate(gradient, flagged=clipped)
