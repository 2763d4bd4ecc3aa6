"""Every way the project splits data, in one place.

Interactions into train and test, per user:
- `split_interactions`: raw (user, item) ids re-indexed to 0-based and each user's items split at
  random (the loaders' own split, seeded by the run's seed);
- `resplit`: a loaded dataset's train and test pooled and split at random again (`split = "random"`);
- `leave_last_out`: chronological leave-one-out, each user's latest event is test (`split = "leave-last-out"`);
- `leave_last_two_out`: the latest event is test and the one before it is held out, neither trained nor tested
  (`split = "leave-last-two-out"`, ClusterAttack-UNION's reference split with its validation item).
A dataset read from published split files (`datasets/split_files.py`, ML-1M's train.dat/test.dat) keeps
its split (`split = "published"`).

Users into two shares: `provider_split`, the provider's public share (for pre-training outside the
federation) and the federation's, stratified by a user group.

Every split keeps the dataset's user and item indices, its `events` and its `profiles`.
"""

from dataclasses import replace

import numpy as np
import pandas as pd
import scipy.sparse as sp

from fedrec.data.dataset import RecDataset, binary_csr, binary_csr_sum, chronological_order, make_events
from fedrec.data.profiles import UserGroup

# A stream of its own: the provider split must not shift when other draws from `seed` change.
_PROVIDER_STREAM = 0x50524F56


def split_interactions(
    name: str,
    users: np.ndarray,
    items: np.ndarray,
    seed: int,
    test_fraction: float = 0.2,
    times: np.ndarray | None = None,
    profiles: pd.DataFrame | None = None,
) -> RecDataset:
    """Re-index raw ids to 0-based, drop repeated pairs, and split each user's items at random.

    Each user keeps round((1 - test_fraction) * n) items for training (at least one), the rest
    go to test, so a user with n interactions has a fixed, seeded 80/20 split by default. `times`
    (one per interaction) become `events`; `profiles`, indexed by raw user id, become one row per
    user index. Neither changes the split.
    """
    user_ids, user_index = np.unique(users, return_inverse=True)
    item_ids, item_index = np.unique(items, return_inverse=True)
    pairs = binary_csr(user_index, item_index, (len(user_ids), len(item_ids)))
    events = None if times is None else make_events(user_index, item_index, times)
    if profiles is not None:
        absent = np.setdiff1d(user_ids, profiles.index.to_numpy())
        if len(absent):
            raise ValueError(f"no profile for user id(s) {absent[:5].tolist()}")
        profiles = profiles.loc[user_ids].reset_index(drop=True)
    train, test = _split_at_random(pairs, seed, test_fraction)
    return RecDataset(name, train, test, events, profiles)


def resplit(dataset: RecDataset, seed: int, test_fraction: float = 0.2) -> RecDataset:
    """Pool train and test and split each user's items at random, as `split_interactions` does.

    Indices, events and profiles are kept; public parts, drawn from the published split's training
    items, are not. A dataset that `split_interactions` split with the same seed comes back unchanged.
    """
    train, test = _split_at_random(binary_csr_sum(dataset.train, dataset.test), seed, test_fraction)
    return replace(dataset, train=train, test=test, public_parts={})


def _from_the_end(dataset: RecDataset) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(users, items) of the events in chronological order per user, each user's event count, and each user's end
    position in that order (one past its latest event). Among events of the same time the larger item id is later."""
    users, items, times = dataset.event_arrays()
    order = chronological_order(users, items, times)
    counts = np.bincount(users, minlength=dataset.num_users)
    return users[order], items[order], counts, np.cumsum(counts)


def _kth_latest(length: int, counts: np.ndarray, ends: np.ndarray, k: int) -> np.ndarray:
    """A mask of each user's k-th latest event (k = 1: the latest), for users with more than k events."""
    mask = np.zeros(length, dtype=bool)
    mask[ends[counts > k] - k] = True
    return mask


def leave_last_out(dataset: RecDataset) -> RecDataset:
    """Chronological leave-one-out: each user's latest event is test, the rest train.

    Among events of the same latest time the largest item id counts as last. A user with a single
    interaction keeps it for training and has no test item. Needs `events`. Public parts are dropped
    (they were drawn from the split the data came with).
    """
    users, items, counts, ends = _from_the_end(dataset)
    is_test = _kth_latest(len(users), counts, ends, 1)
    shape = dataset.train.shape
    train = binary_csr(users[~is_test], items[~is_test], shape)
    test = binary_csr(users[is_test], items[is_test], shape)
    return replace(dataset, train=train, test=test, public_parts={})


def leave_last_two_out(dataset: RecDataset) -> RecDataset:
    """Chronological leave-one-out with a validation item: each user's latest event is test, the one before is
    held out (`RecDataset.held_out`: not trained on, masked when ranking), the rest train, as ClusterAttack-UNION's
    reference code splits (`Code/train.py`: `pos_iid[:-2]` train, `[-2]` validation, `[-1]` test). Ties in time
    as `leave_last_out`. A user with two interactions keeps one for training and one for test, a user with one
    keeps it for training. Needs `events`; public parts are dropped.
    """
    users, items, counts, ends = _from_the_end(dataset)
    is_test = _kth_latest(len(users), counts, ends, 1)
    is_held = _kth_latest(len(users), counts, ends, 2)
    in_train = ~(is_test | is_held)
    shape = dataset.train.shape
    return replace(
        dataset,
        train=binary_csr(users[in_train], items[in_train], shape),
        test=binary_csr(users[is_test], items[is_test], shape),
        held_out=binary_csr(users[is_held], items[is_held], shape),
        public_parts={},
    )


def _split_at_random(pairs: sp.csr_array, seed: int, test_fraction: float) -> tuple[sp.csr_array, sp.csr_array]:
    """(train, test) of a binary users x items matrix, each row's entries split at random."""
    rng = np.random.default_rng(seed)
    counts = np.diff(pairs.indptr)
    order_in_row = np.empty(pairs.nnz, dtype=np.int64)
    # One random permutation of positions inside each user's row decides who goes to test.
    keys = rng.random(pairs.nnz) + np.repeat(np.arange(len(counts)), counts)
    ranks = np.argsort(np.argsort(keys, kind="stable"), kind="stable")
    order_in_row[:] = ranks - np.repeat(pairs.indptr[:-1], counts)
    n_train = np.maximum(1, np.rint((1.0 - test_fraction) * counts)).astype(np.int64)
    is_train = order_in_row < np.repeat(n_train, counts)
    rows = np.repeat(np.arange(len(counts)), counts)
    shape = pairs.shape
    return (
        binary_csr(rows[is_train], pairs.indices[is_train], shape),
        binary_csr(rows[~is_train], pairs.indices[~is_train], shape),
    )


def provider_split(
    num_users: int, profiles: pd.DataFrame | None, group: UserGroup | None, fraction: float, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """(provider rows, federation rows): disjoint, sorted, together every user 0..num_users-1.

    The provider gets round(fraction * n) of the group's n members and likewise of the other users, so
    both shares hold the group in the dataset's proportion; without a group the users form one stratum.
    Seeded by `seed` on a stream of its own, so a seed gives the same split on every machine.
    """
    if not 0.0 < fraction < 1.0:
        raise ValueError(f"fraction must be in (0, 1), got {fraction}")
    if group is None:
        strata = [np.arange(num_users)]
    else:
        if profiles is None:
            raise ValueError(f"user group '{group}' needs profiles")
        if len(profiles) != num_users:
            raise ValueError(f"{len(profiles)} profiles for {num_users} users")
        inside = group.members(profiles)
        strata = [np.flatnonzero(inside), np.flatnonzero(~inside)]
    rng = np.random.default_rng([seed, _PROVIDER_STREAM])
    provider = np.concatenate([rng.permutation(rows)[: round(fraction * len(rows))] for rows in strata])
    provider = np.sort(provider).astype(np.int64)
    federation = np.setdiff1d(np.arange(num_users, dtype=np.int64), provider, assume_unique=True)
    return provider, federation
