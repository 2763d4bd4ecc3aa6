"""An already-split dataset given as `train.dat` and `test.dat`, one line per user.

Each line is `user item item ...`, space-separated 0-based indices; a line may list a user with no
items, and blank lines are ignored. This is the format of the ML-1M split published with the reference
implementation of "Poisoning Deep Learning Based Recommender Model in Federated Learning Scenarios"
(IJCAI 2022); using its split as-is keeps results comparable with the paper. `ml-1m` reuses
`read_split` when its data dir holds these files. The format has no timestamps and no user profiles,
so such a dataset has neither `events` nor `profiles`.
"""

from dataclasses import replace
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from datasets.download import data_dir_for
from fedrec.config import RunConfig
from fedrec.data.dataset import RecDataset
from fedrec.errors import ConfigError

SPLIT_NAMES = ("train.dat", "test.dat")


def load(config: RunConfig) -> RecDataset:
    folder = data_dir_for(config)
    missing = [folder / name for name in SPLIT_NAMES if not (folder / name).is_file()]
    if missing:
        raise ConfigError(
            f"{config.dataset}: {' and '.join(map(str, missing))} not found; set run-config data-dir to a"
            " folder with train.dat and test.dat (one line per user: user item item ..., 0-based)"
        )
    return read_split(config.dataset, folder)


def has_split(folder: Path) -> bool:
    return all((folder / name).is_file() for name in SPLIT_NAMES)


def read_split(name: str, folder: Path, names: tuple[str, str] = SPLIT_NAMES) -> RecDataset:
    """The dataset of `folder`'s train and test files (`names`: train.dat and test.dat), indices kept as they are."""
    train_users, train_items, train_listed = read_user_lines(folder / names[0])
    test_users, test_items, test_listed = read_user_lines(folder / names[1])
    if len(train_users) == 0:
        raise ConfigError(f"{name}: {folder / names[0]} lists no interactions")
    dataset = RecDataset.from_split(name, (train_users, train_items), (test_users, test_items))
    # from_split sizes the matrices from the pairs, so trailing users listed without any item would be
    # lost; keep them so row i is always the user of line "i ...".
    return _with_users(dataset, max(train_listed, test_listed, dataset.num_users))


def read_user_lines(path: Path) -> tuple[np.ndarray, np.ndarray, int]:
    """(users, items) pairs of a `user item item ...` file, and the number of users it lists."""
    users: list[int] = []
    items: list[int] = []
    listed = 0
    # latin-1 decodes any byte, so a stray byte is reported as a bad index on its line.
    with path.open(encoding="latin-1") as lines:
        for number, line in enumerate(lines, start=1):
            tokens = line.split()
            if not tokens:
                continue
            try:
                values = [int(token) for token in tokens]
            except ValueError:
                bad = next(token for token in tokens if not _is_int(token))
                raise ConfigError(f"{path} line {number}: {bad!r} is not an integer index") from None
            if min(values) < 0:
                raise ConfigError(f"{path} line {number}: indices must be >= 0, got {min(values)}")
            listed = max(listed, values[0] + 1)
            users.extend([values[0]] * (len(values) - 1))
            items.extend(values[1:])
    return np.asarray(users, dtype=np.int64), np.asarray(items, dtype=np.int64), listed


def _is_int(token: str) -> bool:
    try:
        int(token)
    except ValueError:
        return False
    return True


def _with_users(dataset: RecDataset, num_users: int) -> RecDataset:
    if num_users == dataset.num_users:
        return dataset

    def pad(matrix: sp.csr_array) -> sp.csr_array:
        indptr = np.concatenate([matrix.indptr, np.full(num_users - matrix.shape[0], matrix.indptr[-1])])
        return sp.csr_array((matrix.data, matrix.indices, indptr), shape=(num_users, matrix.shape[1]))

    return replace(dataset, train=pad(dataset.train), test=pad(dataset.test))
