"""FedAvg in the reference paper's form: the server sums the users' gradients (`mean` divides by U)."""

from fedrec.settings import Setting
from fedrec.training.server_step import ThetaGradient
from fedrec.updates import UserUpdates
from strategies.base import Aggregate, FedRecStrategy


class FedAvg(FedRecStrategy):
    settings = (
        Setting("fedavg-mode", str, "FedAvg combines user gradients by `sum` (the paper) or `mean`.", ("sum", "mean")),
    )

    def aggregate(self, updates: UserUpdates) -> Aggregate:
        scale = 1.0 / max(updates.num_users, 1) if self.config.fedavg_mode == "mean" else 1.0
        return Aggregate(
            ThetaGradient(
                item_ids=updates.item_ids,
                item_rows=updates.item_grads * scale,
                dense={name: grads.sum(0) * scale for name, grads in updates.dense_grads.items()},
            )
        )
