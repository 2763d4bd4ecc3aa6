"""Implicit-feedback interaction data, split per user into train and test.

Every dataset loader in `datasets/` returns a `RecDataset`; the rest of the project sees nothing else.
Users and items are 0-based contiguous indices; each user's items are stored sorted and unique in a
CSR matrix (scipy), which gives per-user slices, popularity counts and set tests without hand-written
index juggling.
"""

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp


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


@dataclass(frozen=True)
class RecDataset:
    """Binary user-item interactions: `train` and `test` are users x items CSR matrices of ones."""

    name: str
    train: sp.csr_array
    test: sp.csr_array

    def __post_init__(self) -> None:
        if self.train.shape != self.test.shape:
            raise ValueError(f"train {self.train.shape} and test {self.test.shape} shapes differ")

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
        cls, name: str, users: np.ndarray, items: np.ndarray, seed: int, test_fraction: float = 0.2
    ) -> "RecDataset":
        """Re-index raw ids to 0-based, drop repeated pairs, and split each user's items at random.

        Each user keeps round((1 - test_fraction) * n) items for training (at least one), the rest
        go to test, so a user with n interactions has a fixed, seeded 80/20 split by default.
        """
        user_ids, user_index = np.unique(users, return_inverse=True)
        item_ids, item_index = np.unique(items, return_inverse=True)
        pairs = _binary_csr(user_index, item_index, (len(user_ids), len(item_ids)))
        return cls._split_at_random(name, pairs, seed, test_fraction)

    def resplit(self, seed: int, test_fraction: float = 0.2) -> "RecDataset":
        """Pool train and test and split each user's items at random, as `from_interactions` does.

        Indices are kept. A dataset that `from_interactions` split with the same seed comes back unchanged.
        """
        return self._split_at_random(self.name, _binary_csr_sum(self.train, self.test), seed, test_fraction)

    @classmethod
    def _split_at_random(cls, name: str, pairs: sp.csr_array, seed: int, test_fraction: float) -> "RecDataset":
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
        )
