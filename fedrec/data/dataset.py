"""Implicit-feedback interaction data, split per user into train and test.

Every dataset loader in `datasets/` returns a `RecDataset`; the rest of the project sees nothing else.
Users and items are 0-based contiguous indices; each user's items are stored sorted and unique in a
CSR matrix (scipy), which gives per-user slices, popularity counts and set tests without hand-written
index juggling.

Where a dataset's files have them, a `RecDataset` also carries every interaction with its timestamp
(`events`, for sequential models and the chronological leave-one-out split) and the users' profiles
(`profiles`, for user groups: `fedrec.data.profiles`). Both stay aligned with the user and item indices
through every split and user subset. A dataset published with an attacker's prior knowledge (FedRecAttack's
`train.part-N%.txt`: N% of each user's training items) carries it as `public_parts`, by N.
"""

from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
import pandas as pd
import scipy.sparse as sp

EVENT_COLUMNS = ("user", "item", "time")


def binary_csr(rows: np.ndarray, cols: np.ndarray, shape: tuple[int, int]) -> sp.csr_array:
    matrix = sp.csr_array(
        (np.ones(len(rows), dtype=np.float32), (rows.astype(np.int64), cols.astype(np.int64))),
        shape=shape,
    )
    matrix.sum_duplicates()
    matrix.data[:] = 1.0
    matrix.sort_indices()
    return matrix


def binary_csr_sum(first: sp.csr_array, second: sp.csr_array) -> sp.csr_array:
    """The union of two binary matrices, as a sorted binary CSR matrix."""
    union = (first + second).tocoo()
    return binary_csr(union.row, union.col, union.shape)


def make_events(users: np.ndarray, items: np.ndarray, times: np.ndarray) -> pd.DataFrame:
    """An `events` frame of 0-based (user, item, time): one row per pair (its earliest time), in
    chronological order per user (users ascending, ties in time by item ascending)."""
    users, items, times = (np.asarray(column, dtype=np.int64) for column in (users, items, times))
    order = chronological_order(users, items, times)
    users, items, times = users[order], items[order], times[order]
    # In chronological order the first row of a pair is its earliest (np.unique returns first occurrences).
    _, first = np.unique(users * (int(items.max(initial=0)) + 1) + items, return_index=True)
    kept = np.sort(first)
    return pd.DataFrame({"user": users[kept], "item": items[kept], "time": times[kept]})


def chronological_order(users: np.ndarray, items: np.ndarray, times: np.ndarray) -> np.ndarray:
    """The order of events by user, then time, then item id (lexsort's last key sorts first)."""
    return np.lexsort((items, times, users))


@dataclass(frozen=True, eq=False)
class RecDataset:
    """Binary user-item interactions: `train` and `test` are users x items CSR matrices of ones.

    `events` (columns user, item, time; one row per interaction of train and test) and `profiles` (one
    row per user index; string columns gender, age, occupation) are None where the data has none.
    `public_parts` maps a percentage N to a users x items matrix of the training interactions the data's
    publisher made public to the attacker (N% of each user's); empty where the data has none.
    `held_out` (a users x items matrix, or None) holds interactions kept out of training and out of the test
    set, a validation item per user as ClusterAttack-UNION's reference code holds out (`split =
    "leave-last-two-out"`): nobody trains on them, and ranking masks them like training items (`ranking_mask`).
    Compared and hashed by identity (`eq=False`): value equality of matrices and frames is not a bool.
    """

    name: str
    train: sp.csr_array
    test: sp.csr_array
    events: pd.DataFrame | None = None
    profiles: pd.DataFrame | None = None
    public_parts: Mapping[int, sp.csr_array] = field(default_factory=dict)
    held_out: sp.csr_array | None = None

    def __post_init__(self) -> None:
        if self.train.shape != self.test.shape:
            raise ValueError(f"train {self.train.shape} and test {self.test.shape} shapes differ")
        for percent, part in self.public_parts.items():
            if part.shape != self.train.shape:
                raise ValueError(f"public part {percent}% has shape {part.shape}, the data {self.train.shape}")
        if self.events is not None:
            missing = set(EVENT_COLUMNS) - set(self.events.columns)
            if missing:
                raise ValueError(f"events lack column(s) {', '.join(sorted(missing))}")
            held = 0 if self.held_out is None else self.held_out.nnz
            if len(self.events) != self.train.nnz + self.test.nnz + held:
                raise ValueError(
                    f"{len(self.events)} events for {self.train.nnz + self.test.nnz + held} train, test and held-out"
                    " interactions"
                )
        if self.profiles is not None and len(self.profiles) != self.num_users:
            raise ValueError(f"{len(self.profiles)} profiles for {self.num_users} users")

    @property
    def num_users(self) -> int:
        return int(self.train.shape[0])

    @property
    def num_items(self) -> int:
        return int(self.train.shape[1])

    @cached_property
    def ranking_mask(self) -> sp.csr_array:
        """What ranking masks for each user: its training items and, where the split holds any out, its held-out
        ones (the reference codes that hold out a validation item mask it when ranking the test item)."""
        return self.train if self.held_out is None else binary_csr_sum(self.train, self.held_out)

    def train_items(self, user: int) -> np.ndarray:
        return self.train.indices[self.train.indptr[user] : self.train.indptr[user + 1]]

    def test_items(self, user: int) -> np.ndarray:
        return self.test.indices[self.test.indptr[user] : self.test.indptr[user + 1]]

    def held_out_items(self, user: int) -> np.ndarray:
        """The user's items kept out of training: its test items and any held-out (validation) ones, sorted."""
        items = self.test_items(user)
        if self.held_out is not None:
            items = np.concatenate(
                [items, self.held_out.indices[self.held_out.indptr[user] : self.held_out.indptr[user + 1]]]
            )
        return np.unique(items)

    def train_sequence(self, user: int) -> np.ndarray:
        """The user's train items in chronological order (ties in time by item id ascending)."""
        indptr, items = self._train_sequences
        return items[indptr[user] : indptr[user + 1]]

    @cached_property
    def _train_sequences(self) -> tuple[np.ndarray, np.ndarray]:
        """(indptr, items) of every user's chronological train sequence, built once for all users."""
        users, items, times = self.event_arrays()
        order = chronological_order(users, items, times)
        users, items = users[order], items[order]
        in_train = np.asarray(self.train[users, items]).ravel() != 0
        users, items = users[in_train], items[in_train]
        indptr = np.concatenate([[0], np.cumsum(np.bincount(users, minlength=self.num_users))])
        return indptr, items

    def event_arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        if self.events is None:
            raise ValueError(f"{self.name} has no interaction timestamps (events)")
        users, items, times = (self.events[column].to_numpy(dtype=np.int64) for column in EVENT_COLUMNS)
        return users, items, times

    def item_popularity(self, users: np.ndarray | None = None) -> np.ndarray:
        """Interactions per item over train and test (the reference paper's popularity) and any held-out ones, of
        `users` or all."""
        parts = [self.train, self.test] + ([] if self.held_out is None else [self.held_out])
        return (
            np.asarray(sum(part.sum(axis=0) if users is None else part[users].sum(axis=0) for part in parts))
            .ravel()
            .astype(np.int64)
        )

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
        return cls(name, binary_csr(*train_pairs, shape), binary_csr(*test_pairs, shape))

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
        public_parts = {percent: part[rows] for percent, part in self.public_parts.items()}
        held_out = None if self.held_out is None else self.held_out[rows]
        return RecDataset(self.name, self.train[rows], self.test[rows], events, profiles, public_parts, held_out)
