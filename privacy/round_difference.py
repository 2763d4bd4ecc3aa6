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

- `difference`: the dense difference of two totals (the second may be absent: a round of one user).
- `own_rows`: which rows of a difference are the user's, from the difference alone (no truth): rows far
  above the others' drift, whose scale the difference itself shows.
- `isolate`: the user's update from the two totals, as the attacks read an upload.
- `isolation_error`: how far an isolated update is from the user's true one (scoring only).
- `one_user_differences`: the pairs a schedule offers.
"""

import torch

from fedrec.updates import UserUpdates

#: A row is the user's when its difference norm exceeds this multiple of the drift scale (the median row norm
#: of the difference: most items are the other users' alone, so the median is the others' drift).
DRIFT_MULTIPLE = 100.0


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


def own_rows(rows: torch.Tensor, multiple: float = DRIFT_MULTIPLE) -> torch.Tensor:
    """The rows of a dense difference ([M, d]) taken for the isolated user's: norm above `multiple` times the
    median norm of the nonzero rows (the other users' drift), and nonzero. With no drift (the others' uploads
    unchanged, or a round of one user) every nonzero row is the user's."""
    norms = torch.linalg.vector_norm(rows.double(), dim=1)
    nonzero = norms[norms > 0]
    if not len(nonzero):
        return norms > 0
    return norms > multiple * float(nonzero.median())


def isolate(
    total_with: UserUpdates, total_without: UserUpdates | None, user: int, tolerance: float | None = None
) -> UserUpdates:
    """User `user`'s update from two rounds' dense totals (pseudo-users) that differ by that user alone: the item
    rows of the difference above `tolerance` in L2 norm (by default `own_rows` decides), and the dense gradients'
    and sample counts' difference."""
    diff = difference(total_with, total_without)
    rows = diff.item_grads
    touched = own_rows(rows) if tolerance is None else torch.linalg.vector_norm(rows, dim=1) > tolerance
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
