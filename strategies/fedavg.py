"""FedAvg in the reference paper's form: the server sums the users' gradients (`mean` divides by U; `weighted`
takes their mean weighted by each user's sample count, the aggregation of ClusterAttack/UNION's reference code)."""

from fedrec.settings import Setting
from fedrec.training.server_step import ThetaGradient
from fedrec.updates import UserUpdates
from strategies.base import Aggregate, FedRecStrategy


class FedAvg(FedRecStrategy):
    settings = (
        Setting(
            "fedavg-mode",
            str,
            "FedAvg combines user gradients by `sum` (the paper), `mean`, or `weighted`: their mean weighted by sample "
            "count.",
            ("sum", "mean", "weighted"),
        ),
    )

    def aggregate(self, updates: UserUpdates) -> Aggregate:
        if self.config.fedavg_mode == "weighted":
            updates = updates.scaled(updates.num_samples.double() / updates.num_samples.sum().clamp(min=1))
        scale = 1.0 / max(updates.num_users, 1) if self.config.fedavg_mode == "mean" else None
        # A sum takes the rows as sent (no copy): multiplying by 1.0 would only copy them.
        return Aggregate(
            ThetaGradient(
                item_ids=updates.item_ids,
                item_rows=updates.item_grads if scale is None else updates.item_grads * scale,
                dense={
                    name: grads.sum(0) if scale is None else grads.sum(0) * scale
                    for name, grads in updates.dense_grads.items()
                },
            )
        )
