"""Which users train in which round: `client-sampling`.

`epoch` (the default) shuffles all users once per epoch and cuts the order into rounds, so every user trains
exactly once per epoch. `per-round` draws each round's users afresh, uniformly without replacement, independently
of the other rounds, as ClusterAttack/UNION's reference code does (`Code/orchestra.py`: `rng.choice(uid_list,
size=USER_SAMPLE_NUM, replace=False)` every round): a user may train several times in an epoch or not at all, so
its private row can go unrefreshed for many rounds while Θ moves. An epoch keeps its number of rounds
(ceil(users / clients-per-round)) so that both modes are evaluated at the same rounds.
"""

import numpy as np

CLIENT_SAMPLINGS = ("epoch", "per-round")

_PER_ROUND_STREAM = 0x5052


def per_round_schedule(user_ids: np.ndarray, clients_per_round: int, seed: int, epoch: int) -> list[np.ndarray]:
    """An epoch's rounds, each `clients_per_round` distinct users (all of them if fewer) drawn independently."""
    users = np.sort(user_ids)
    rounds = -(-len(users) // clients_per_round)
    size = min(clients_per_round, len(users))
    return [
        np.random.default_rng([seed, _PER_ROUND_STREAM, epoch, index]).choice(users, size=size, replace=False)
        for index in range(rounds)
    ]
