"""What secure aggregation does not hide: one user's update as the difference of two rounds' sums.

The server learns each round's total and, since it sends the instructions, each round's users. Two
rounds whose users differ by exactly one user u give u's update as the difference of their totals,
exactly if the others' uploads did not change between them (the same Θ resent, the same negatives of
the epoch) and approximately otherwise (their p_u moved by one local step). A round of one user is
that user's update outright. Secure aggregation does not prevent this: a curious server picks its
schedule (e.g. resends a round's Θ to the same nodes but one), and even the honest schedule makes a
round of one user when the users mod `clients-per-round` is 1. `isolate` is the attack on the two
totals; `one_user_differences` finds the pairs a schedule offers.
"""

import torch

from fedrec.updates import UserUpdates


def isolate(total_with: UserUpdates, total_without: UserUpdates, user: int, tolerance: float = 0.0) -> UserUpdates:
    """User `user`'s update from two rounds' dense totals (pseudo-users) that differ by that user alone: the item
    rows whose difference has an L2 norm above `tolerance` (the items u touched, its positives among them), and
    the dense gradients' difference."""
    rows = total_with.item_grads - total_without.item_grads
    touched = torch.linalg.vector_norm(rows, dim=1) > tolerance
    return UserUpdates.from_users(
        [user],
        [total_with.item_ids[touched]],
        [rows[touched]],
        [
            {
                name: total_with.dense_grads[name][0] - total_without.dense_grads[name][0]
                for name in total_with.dense_grads
            }
        ],
        [int(total_with.num_samples.sum() - total_without.num_samples.sum())],
    )


def one_user_differences(rounds: list[set[int]]) -> list[tuple[int | None, int, int]]:
    """(round without, round with, the isolated user) for every round of one user (None, r, u) and every pair of
    rounds whose users differ by exactly one added user."""
    found: list[tuple[int | None, int, int]] = [
        (None, r, next(iter(users))) for r, users in enumerate(rounds) if len(users) == 1
    ]
    for i, smaller in enumerate(rounds):
        for j, larger in enumerate(rounds):
            if len(larger) == len(smaller) + 1 and smaller < larger:
                found.append((i, j, next(iter(larger - smaller))))
    return found
