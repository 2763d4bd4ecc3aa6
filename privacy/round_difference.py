"""What secure aggregation does not hide: one user's update as the difference of two rounds' sums.

The server learns each round's total and, since it sends the instructions, each round's users. Two
rounds whose users differ by exactly one user u give u's update as the difference of their totals,
exactly if the others' uploads did not change between them and approximately otherwise. In a run they
do change a little: each other user's p_u took one local step in the first round (so its rows in the
second are computed at a p_u moved by `user-lr` times its gradient), and if the server applied the first
round's step before the second (`stepped`), every row is computed at a different Θ too. Negatives are
drawn per (seed, epoch, user), so the same epoch gives the same ids. A round of one user is that user's
update outright. Secure aggregation does not prevent this: a curious server picks its schedule (e.g.
resends a round's Θ to the same nodes but one user, server_app/round_difference.py), and even the
honest schedule makes a round of one user when the users mod `clients-per-round` is 1.

- `midpoint`: two totals of the same users averaged, to cancel drift that is linear in time.
- `difference`: the dense difference of two totals (the second may be absent: a round of one user).
- `own_rows`: which rows of a difference are the user's, from public numbers alone (no truth): as many
  rows, of the largest norms, as the user's sample count says it uploads (`expected_ids`).
- `isolate`: the user's update from the two totals, as the attacks read an upload.
- `isolation_error`: how far an isolated update is from the user's true one (scoring only).
- `one_user_differences`: the pairs a schedule offers.
"""

import torch

from fedrec.updates import UserUpdates


def difference(total_with: UserUpdates, total_without: UserUpdates | None) -> UserUpdates:
    """The dense difference `total_with − total_without` of two decoded totals (pseudo-users over all items);
    `total_with` itself when there is no second round (a round of one user)."""
    if total_without is None:
        return total_with
    return UserUpdates(
        user_ids=total_with.user_ids,
        item_indptr=total_with.item_indptr,
        item_ids=total_with.item_ids,
        item_grads=total_with.item_grads - total_without.item_grads,
        dense_grads={name: grads - total_without.dense_grads[name] for name, grads in total_with.dense_grads.items()},
        num_samples=total_with.num_samples - total_without.num_samples,
    )


def midpoint(before: UserUpdates, after: UserUpdates) -> UserUpdates:
    """The mean of two decoded totals of the same users: the total halfway between, when each user's update moved
    linearly from one to the other (num_samples are equal and kept)."""
    return UserUpdates(
        user_ids=before.user_ids,
        item_indptr=before.item_indptr,
        item_ids=before.item_ids,
        item_grads=(before.item_grads + after.item_grads) / 2,
        dense_grads={name: (grads + after.dense_grads[name]) / 2 for name, grads in before.dense_grads.items()},
        num_samples=before.num_samples,
    )


def expected_ids(num_samples: int, negatives: int, num_items: int) -> int:
    """How many distinct ids a user with `num_samples` samples uploads, as the server can tell from public numbers:
    n_pos = N/(1+r) positives, plus the distinct ones among r·n_pos negatives drawn uniformly with replacement from
    the other M − n_pos items (their expected number)."""
    positives = round(num_samples / (1 + negatives))
    free = num_items - positives
    if free <= 0:
        return num_items
    distinct_negatives = free * (1.0 - (1.0 - 1.0 / free) ** (negatives * positives))
    return min(num_items, positives + round(distinct_negatives))


def own_rows(rows: torch.Tensor, count: int) -> torch.Tensor:
    """The `count` rows of a dense difference ([M, d]) with the largest norms, among the nonzero ones: the isolated
    user's rows stand above the others' drift; `count` is how many ids the server expects (`expected_ids`)."""
    norms = torch.linalg.vector_norm(rows.double(), dim=1)
    chosen = torch.zeros(len(norms), dtype=torch.bool)
    chosen[torch.argsort(norms, descending=True, stable=True)[:count]] = True
    return chosen & (norms > 0)


def isolate(
    total_with: UserUpdates,
    total_without: UserUpdates | None,
    user: int,
    tolerance: float = 0.0,
    negatives: int | None = None,
) -> UserUpdates:
    """User `user`'s update from two rounds' dense totals (pseudo-users) that differ by that user alone: the item
    rows of the difference above `tolerance` in L2 norm, or, given the public `negatives` per positive, the
    `expected_ids` rows of largest norm (`own_rows`: what the server does when the others drifted); and the dense
    gradients' and sample counts' difference."""
    diff = difference(total_with, total_without)
    rows = diff.item_grads
    if negatives is None:
        touched = torch.linalg.vector_norm(rows, dim=1) > tolerance
    else:
        touched = own_rows(rows, expected_ids(int(diff.num_samples.sum()), negatives, len(rows)))
    return UserUpdates.from_users(
        [user],
        [diff.item_ids[touched]],
        [rows[touched]],
        [{name: grads[0] for name, grads in diff.dense_grads.items()}],
        [int(diff.num_samples.sum())],
    )


def _dense_rows(updates: UserUpdates, num_items: int) -> torch.Tensor:
    rows = torch.zeros(num_items, updates.item_grads.shape[1], dtype=torch.float64)
    return rows.index_add_(0, updates.item_ids, updates.item_grads.double())


def isolation_error(isolated: UserUpdates, true: UserUpdates, num_items: int) -> dict[str, float]:
    """How an isolated update (one user) compares with the user's true one: the ids it found (precision, recall
    of the true uploaded ids), the relative L2 error of its item rows and of its dense gradients (dense over the
    items, so a missed or an extra row counts in full), and whether the sample count is exact."""
    found, actual = set(isolated.item_ids.tolist()), set(true.item_ids.tolist())
    hits = len(found & actual)
    iso_rows, true_rows = _dense_rows(isolated, num_items), _dense_rows(true, num_items)
    iso_dense = torch.cat([grads.double().ravel() for grads in isolated.dense_grads.values()])
    true_dense = torch.cat([true.dense_grads[name].double().ravel() for name in isolated.dense_grads])
    return {
        "id_precision": hits / len(found) if found else 0.0,
        "id_recall": hits / len(actual) if actual else 0.0,
        "row_error": float((iso_rows - true_rows).norm() / true_rows.norm()),
        "dense_error": float((iso_dense - true_dense).norm() / true_dense.norm()),
        "samples_exact": float(int(isolated.num_samples.sum()) == int(true.num_samples.sum())),
    }


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
