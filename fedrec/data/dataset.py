"""Implicit-feedback interaction data, split per user into train and test.

Every dataset loader in `datasets/` returns a `RecDataset`; the rest of the project sees nothing else.
Users and items are 0-based contiguous indices; each user's items are stored sorted and unique in a
CSR matrix (scipy), which gives per-user slices, popularity counts and set tests without hand-written
index juggling.

Where a dataset's files have them, a `RecDataset` also carries every interaction with its timestamp
(`events`, for sequential models and the chronological leave-one-out split) and the users' profiles
(`profiles`, for user groups: `fedrec.data.profiles`). Both stay aligned with the user and item indices
through every split and user subset.
"""

from dataclasses import dataclass
from functools import cached_property

import numpy as np
import pandas as pd
import scipy.sparse as sp

EVENT_COLUMNS = ("user", "item", "time")


def _binary_csr(rows: np.ndarray, cols: np.ndarray, shape: tuple[int, int]) -> sp.csr_array:
    matrix = sp.csr_array(
        (np.ones(len(rows), dtype=np.float32), (rows.astype(np.int64), cols.astype(np.int64))),
        shape=shape,
    )
    matrix.sum_duplicates()
    matrix.data[:] = 1.0
    matrix.sort_indices()
    return matrix


def _binary_csr_sum(first: sp.csr_array, second: sp.csr_array) -> sp.csr_array:
    """The union of two binary matrices, as a sorted binary CSR matrix."""
    union = (first + second).tocoo()
    return _binary_csr(union.row, union.col, union.shape)


def make_events(users: np.ndarray, items: np.ndarray, times: np.ndarray) -> pd.DataFrame:
    """An `events` frame of 0-based (user, item, time): one row per pair (its earliest time), in
    chronological order per user (users ascending, ties in time by item ascending)."""
    users, items, times = (np.asarray(column, dtype=np.int64) for column in (users, items, times))
    order = _chronological(users, items, times)
    users, items, times = users[order], items[order], times[order]
    # In chronological order the first row of a pair is its earliest (np.unique returns first occurrences).
    _, first = np.unique(users * (int(items.max(initial=0)) + 1) + items, return_index=True)
    kept = np.sort(first)
    return pd.DataFrame({"user": users[kept], "item": items[kept], "time": times[kept]})


def _chronological(users: np.ndarray, items: np.ndarray, times: np.ndarray) -> np.ndarray:
    """The order of events by user, then time, then item id (lexsort's last key sorts first)."""
    return np.lexsort((items, times, users))


@dataclass(frozen=True, eq=False)
class RecDataset:
    """Binary user-item interactions: `train` and `test` are users x items CSR matrices of ones.

    `events` (columns user, item, time; one row per interaction of train and test) and `profiles` (one
    row per user index; string columns gender, age, occupation) are None where the data has none.
    Compared and hashed by identity (`eq=False`): value equality of matrices and frames is not a bool.
    """

    name: str
    train: sp.csr_array
    test: sp.csr_array
    events: pd.DataFrame | None = None
    profiles: pd.DataFrame | None = None

    def __post_init__(self) -> None:
        if self.train.shape != self.test.shape:
            raise ValueError(f"train {self.train.shape} and test {self.test.shape} shapes differ")
        if self.events is not None:
            missing = set(EVENT_COLUMNS) - set(self.events.columns)
            if missing:
                raise ValueError(f"events lack column(s) {', '.join(sorted(missing))}")
            if len(self.events) != self.train.nnz + self.test.nnz:
                raise ValueError(
                    f"{len(self.events)} events for {self.train.nnz + self.test.nnz} train and test interactions"
                )
        if self.profiles is not None and len(self.profiles) != self.num_users:
            raise ValueError(f"{len(self.profiles)} profiles for {self.num_users} users")

    @property
    def num_users(self) -> int:
        return int(self.train.shape[0])

    @property
    def num_items(self) -> int:
        return int(self.train.shape[1])

    def train_items(self, user: int) -> np.ndarray:
        return self.train.indices[self.train.indptr[user] : self.train.indptr[user + 1]]

    def test_items(self, user: int) -> np.ndarray:
        return self.test.indices[self.test.indptr[user] : self.test.indptr[user + 1]]

    def train_sequence(self, user: int) -> np.ndarray:
        """The user's train items in chronological order (ties in time by item id ascending)."""
        indptr, items = self._train_sequences
        return items[indptr[user] : indptr[user + 1]]

    @cached_property
    def _train_sequences(self) -> tuple[np.ndarray, np.ndarray]:
        """(indptr, items) of every user's chronological train sequence, built once for all users."""
        users, items, times = self._event_arrays()
        order = _chronological(users, items, times)
        users, items = users[order], items[order]
        in_train = np.asarray(self.train[users, items]).ravel() != 0
        users, items = users[in_train], items[in_train]
        indptr = np.concatenate([[0], np.cumsum(np.bincount(users, minlength=self.num_users))])
        return indptr, items

    def _event_arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        if self.events is None:
            raise ValueError(f"{self.name} has no interaction timestamps (events)")
        users, items, times = (self.events[column].to_numpy(dtype=np.int64) for column in EVENT_COLUMNS)
        return users, items, times

    def item_popularity(self, users: np.ndarray | None = None) -> np.ndarray:
        """Interactions per item over train and test (the reference paper's popularity), of `users` or all."""
        train, test = (self.train, self.test) if users is None else (self.train[users], self.test[users])
        return np.asarray(train.sum(axis=0) + test.sum(axis=0)).ravel().astype(np.int64)

    def summary(self) -> str:
        return (
            f"{self.name}: {self.num_users} users, {self.num_items} items, "
            f"{self.train.nnz} train / {self.test.nnz} test interactions"
        )

    @classmethod
    def from_split(
        cls, name: str, train_pairs: tuple[np.ndarray, np.ndarray], test_pairs: tuple[np.ndarray, np.ndarray]
    ) -> "RecDataset":
        """Build from (users, items) pairs already split; ids must be 0-based indices."""
        num_users = int(max(train_pairs[0].max(initial=-1), test_pairs[0].max(initial=-1))) + 1
        num_items = int(max(train_pairs[1].max(initial=-1), test_pairs[1].max(initial=-1))) + 1
        shape = (num_users, num_items)
        return cls(name, _binary_csr(*train_pairs, shape), _binary_csr(*test_pairs, shape))

    @classmethod
    def from_interactions(
        cls,
        name: str,
        users: np.ndarray,
        items: np.ndarray,
        seed: int,
        test_fraction: float = 0.2,
        times: np.ndarray | None = None,
        profiles: pd.DataFrame | None = None,
    ) -> "RecDataset":
        """Re-index raw ids to 0-based, drop repeated pairs, and split each user's items at random.

        Each user keeps round((1 - test_fraction) * n) items for training (at least one), the rest
        go to test, so a user with n interactions has a fixed, seeded 80/20 split by default. `times`
        (one per interaction) become `events`; `profiles`, indexed by raw user id, become one row per
        user index. Neither changes the split.
        """
        user_ids, user_index = np.unique(users, return_inverse=True)
        item_ids, item_index = np.unique(items, return_inverse=True)
        pairs = _binary_csr(user_index, item_index, (len(user_ids), len(item_ids)))
        events = None if times is None else make_events(user_index, item_index, times)
        if profiles is not None:
            absent = np.setdiff1d(user_ids, profiles.index.to_numpy())
            if len(absent):
                raise ValueError(f"no profile for user id(s) {absent[:5].tolist()}")
            profiles = profiles.loc[user_ids].reset_index(drop=True)
        return cls._split_at_random(name, pairs, seed, test_fraction, events, profiles)

    def resplit(self, seed: int, test_fraction: float = 0.2) -> "RecDataset":
        """Pool train and test and split each user's items at random, as `from_interactions` does.

        Indices, events and profiles are kept. A dataset that `from_interactions` split with the same
        seed comes back unchanged.
        """
        pairs = _binary_csr_sum(self.train, self.test)
        return self._split_at_random(self.name, pairs, seed, test_fraction, self.events, self.profiles)

    def leave_last_out(self) -> "RecDataset":
        """Chronological leave-one-out: each user's latest event is test, the rest train.

        Among events of the same latest time the largest item id counts as last. A user with a single
        interaction keeps it for training and has no test item. Needs `events`.
        """
        users, items, times = self._event_arrays()
        order = _chronological(users, items, times)
        users, items = users[order], items[order]
        counts = np.bincount(users, minlength=self.num_users)
        ends = np.cumsum(counts)
        is_test = np.zeros(len(users), dtype=bool)
        is_test[ends[counts >= 2] - 1] = True
        shape = self.train.shape
        train = _binary_csr(users[~is_test], items[~is_test], shape)
        test = _binary_csr(users[is_test], items[is_test], shape)
        return RecDataset(self.name, train, test, self.events, self.profiles)

    def subset_users(self, rows: np.ndarray) -> "RecDataset":
        """The users of `rows` (sorted, unique) as users 0..len(rows)-1; items and their indices unchanged."""
        rows = np.asarray(rows, dtype=np.int64)
        if rows.ndim != 1 or np.any(np.diff(rows) <= 0) or (len(rows) and (rows[0] < 0 or rows[-1] >= self.num_users)):
            raise ValueError(f"rows must be sorted unique user indices below {self.num_users}")
        events = profiles = None
        if self.events is not None:
            kept = self.events[np.isin(self.events["user"].to_numpy(), rows)]
            events = kept.assign(user=np.searchsorted(rows, kept["user"].to_numpy())).reset_index(drop=True)
        if self.profiles is not None:
            profiles = self.profiles.iloc[rows].reset_index(drop=True)
        return RecDataset(self.name, self.train[rows], self.test[rows], events, profiles)

    @classmethod
    def _split_at_random(
        cls,
        name: str,
        pairs: sp.csr_array,
        seed: int,
        test_fraction: float,
        events: pd.DataFrame | None = None,
        profiles: pd.DataFrame | None = None,
    ) -> "RecDataset":
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
        return cls(
            name,
            _binary_csr(rows[is_train], pairs.indices[is_train], shape),
            _binary_csr(rows[~is_train], pairs.indices[~is_train], shape),
            events,
            profiles,
        )
