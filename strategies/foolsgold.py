"""FoolsGold (Fung et al., RAID 2020): fedrec/robust/foolsgold.py, users weighed as in strategies/weighted.py."""

import torch

from fedrec.robust.foolsgold import foolsgold_weights
from strategies.weighted import UserWeights, WeightedStrategy


class FoolsGold(WeightedStrategy):
    """Weighs each round's users by FoolsGold on their histories: the server keeps, per user id, the sum of the
    user's whole updates over every round it took part in (dense vectors of Θ's size: memory grows as users x |Θ|).
    A user is flagged when its weight is below 1.

    The paper adds Σ α_i Δ_i to the model; here, like every rule that weighs users, the weighted mean Σ α_i Δ_i /
    Σ α_i times the number of users (the same when every α_i = 1). The authors' optional importance weighting of
    output-layer features is not used: the histories are compared on all coordinates.
    """

    def __init__(self, *args, **kwargs) -> None:  # type: ignore[no-untyped-def]
        super().__init__(*args, **kwargs)
        self.history: dict[int, torch.Tensor] = {}

    def weigh(self, matrix: torch.Tensor, user_ids: torch.Tensor) -> UserWeights:
        users = user_ids.tolist()
        for user, update in zip(users, matrix):
            self.history[user] = self.history[user] + update if user in self.history else update.clone()
        weights = foolsgold_weights(torch.stack([self.history[user] for user in users]))
        return UserWeights(weight=weights, scale=torch.ones(len(weights)), flagged=weights < 1)
