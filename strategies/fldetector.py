"""FLDetector (Zhang et al., KDD 2022): fedrec/robust/fldetector.py, users weighed as in strategies/weighted.py."""

from collections import deque

import numpy as np
import torch

from fedrec.robust.dense import flat_theta
from fedrec.robust.fldetector import fldetector_flags, lbfgs_hvp
from fedrec.settings import Setting
from strategies.weighted import UserWeights, WeightedStrategy

FLDETECTOR_WINDOW = Setting(
    "fldetector-window",
    int,
    "FLDetector: N, the global model and update pairs kept for L-BFGS and the rounds a user's score averages (the "
    "paper: 10).",
    minimum=1,
)
_GAP_STREAM = 0x464C


class FLDetector(WeightedStrategy):
    """Drops the users FLDetector flags and averages the others.

    The server keeps Θ and the round's mean update ḡ (over the users kept) of every round, the last N pairs
    (Θ_k − Θ_{k−1}, ḡ_k − ḡ_{k−1}) for L-BFGS, and each user's last whole update with the round it was sent in
    (dense vectors of Θ's size: memory grows as users x |Θ|).

    In FedRec a user takes part once per epoch, not every round: its update is predicted from its own last update
    g_i(Θ_s), s the round it last took part in, as g_i(Θ_s) + H (Θ_t − Θ_s). Its normalised distance (divided by the
    mean over the round's predicted users, the paper's sum-normalisation times their number, so that rounds of
    different sizes compare) joins its own window of its last N distances, and its score is their mean. A user seen
    for the first time, or while no L-BFGS pair exists yet (the first two rounds), has no prediction and no score:
    it is not flagged and enters the mean. The gap statistic and k-means run on the scores of the round's scored
    users; its uniform references are drawn from a generator keyed by (seed, round).

    The paper, on detection, removes the flagged clients and restarts training from a checkpoint; here, like
    FLPoison, a flagged user is dropped from the round's mean (and reported as flagged), and training goes on.
    """

    settings = (*WeightedStrategy.settings, FLDETECTOR_WINDOW)

    def __init__(self, *args, **kwargs) -> None:  # type: ignore[no-untyped-def]
        super().__init__(*args, **kwargs)
        window = self.config.fldetector_window
        self.weight_diffs: deque[torch.Tensor] = deque(maxlen=window)
        self.grad_diffs: deque[torch.Tensor] = deque(maxlen=window)
        self.rounds = 0
        self.thetas: dict[int, torch.Tensor] = {}  # round -> flat Θ, for the rounds some user last took part in
        self.last_update: dict[int, tuple[int, torch.Tensor]] = {}  # user -> (round, its whole update)
        self.distances: dict[int, deque[float]] = {}  # user -> its last N normalised distances
        self.previous: tuple[torch.Tensor, torch.Tensor] | None = None  # (flat Θ, mean update) of the last round

    def flat_theta(self) -> torch.Tensor:
        """Θ as one vector, laid out as a `dense_matrix` row."""
        return flat_theta(self.theta)

    def _scores(self, matrix: torch.Tensor, users: list[int], theta: torch.Tensor) -> dict[int, float]:
        """The scores of the users with a prediction this round (their windows updated)."""
        known = [position for position, user in enumerate(users) if user in self.last_update]
        if not known or not self.weight_diffs:
            return {}
        rounds = sorted({self.last_update[users[position]][0] for position in known})
        steps = torch.stack([theta.double() - self.thetas[round_].double() for round_ in rounds])
        products = dict(
            zip(rounds, lbfgs_hvp(torch.stack(list(self.weight_diffs)), torch.stack(list(self.grad_diffs)), steps))
        )
        errors = torch.stack(
            [
                (
                    self.last_update[users[p]][1].double()
                    + products[self.last_update[users[p]][0]]
                    - matrix[p].double()
                ).norm()
                for p in known
            ]
        )
        errors = errors / errors.mean().clamp(min=1e-300)
        window = self.config.fldetector_window
        for position, error in zip(known, errors.tolist()):
            self.distances.setdefault(users[position], deque(maxlen=window)).append(error)
        return {users[p]: float(np.mean(self.distances[users[p]])) for p in known}

    def weigh(self, matrix: torch.Tensor, user_ids: torch.Tensor) -> UserWeights:
        users, theta = user_ids.tolist(), self.flat_theta()
        scores = self._scores(matrix, users, theta)
        flagged = torch.zeros(len(users), dtype=torch.bool)
        if scores:
            rng = np.random.default_rng([self.config.seed, _GAP_STREAM, self.rounds])
            flags = fldetector_flags(np.array(list(scores.values())), rng)
            suspicious = {user for user, flag in zip(scores, flags) if flag}
            flagged = torch.tensor([user in suspicious for user in users])
        kept = ~flagged
        mean = matrix[kept].double().mean(0) if kept.any() else torch.zeros(matrix.shape[1], dtype=torch.float64)
        self._remember(matrix, users, theta, mean)
        return UserWeights(weight=kept.double(), scale=torch.ones(len(users)), flagged=flagged)

    def _remember(self, matrix: torch.Tensor, users: list[int], theta: torch.Tensor, mean: torch.Tensor) -> None:
        if self.previous is not None:
            self.weight_diffs.append(theta.double() - self.previous[0].double())
            self.grad_diffs.append(mean - self.previous[1])
        self.previous = (theta, mean)
        for user, update in zip(users, matrix):
            self.last_update[user] = (self.rounds, update.clone())
        self.thetas[self.rounds] = theta
        referenced = {round_ for round_, _ in self.last_update.values()}
        self.thetas = {round_: kept for round_, kept in self.thetas.items() if round_ in referenced}
        self.rounds += 1
