"""Per-item row clipping (FedRecAttack's server-side limit): every uploaded item row is scaled to
L2 norm <= item-clip-limit before the sum; the MLP gradients are summed as in FedAvg."""

from fedrec.robust import clip_to_norm
from fedrec.settings import Setting
from fedrec.training.server_step import ThetaGradient
from fedrec.updates import UserUpdates
from strategies.base import Aggregate, FedRecStrategy


class ItemClip(FedRecStrategy):
    settings = (Setting("item-clip-limit", float, "L2 bound on each uploaded item row.", minimum=0.0),)

    def aggregate(self, updates: UserUpdates) -> Aggregate:
        rows, _ = clip_to_norm(updates.item_grads, self.config.item_clip_limit)
        return Aggregate(
            ThetaGradient(
                item_ids=updates.item_ids,
                item_rows=rows,
                dense={name: grads.sum(0) for name, grads in updates.dense_grads.items()},
            )
        )
