"""Leave-one-out split files in FedRecAttack's format: `ml-100k-loo` and `steam`.

As published with the reference code of "FedRecAttack: Model Poisoning Attack to Federated
Recommendation" (ICDE 2022; GitHub rdz98/FedRecAttack), also read by Spattack (AAAI 2025) and PIECK:
a data dir holds `train.txt` and `test.txt`, one line per user, `user item item ...`, space-separated
and 0-based (`test.txt`: one held-out item per user), and may hold `train.part-N%.txt`, N% (rounded up)
of each user's training items, the attacker's public prior knowledge xi. Every part file found becomes
one of the dataset's `public_parts`, which `attacker-knowledge = "public-interactions"` reads when
`public-fraction` is N / 100. The split is used as published (`split = "published"`).

The files are not downloaded: the project has no verified address for them, so a missing file ends in
one line saying where to put them.
"""

import re
from dataclasses import replace
from pathlib import Path

import scipy.sparse as sp

from datasets.download import data_dir_for
from datasets.split_files import read_split, read_user_lines
from fedrec.config import RunConfig
from fedrec.data.dataset import RecDataset, binary_csr
from fedrec.errors import ConfigError

SPLIT_NAMES = ("train.txt", "test.txt")
_PART = re.compile(r"train\.part-(\d+)%\.txt")


def load(config: RunConfig) -> RecDataset:
    folder = data_dir_for(config)
    missing = [folder / name for name in SPLIT_NAMES if not (folder / name).is_file()]
    if missing:
        raise ConfigError(
            f"{config.dataset}: {' and '.join(map(str, missing))} not found; set run-config data-dir to a folder with"
            " FedRecAttack's split files (train.txt, test.txt, train.part-N%.txt: one line per user, 0-based), as"
            " published in rdz98/FedRecAttack's Data/ folder"
        )
    return read_leave_one_out(config.dataset, folder)


def read_leave_one_out(name: str, folder: Path) -> RecDataset:
    """The split of `folder`/train.txt and test.txt, with every `train.part-N%.txt` beside them as public part N."""
    dataset = read_split(name, folder, SPLIT_NAMES)
    parts = {}
    for path in sorted(folder.iterdir()):
        match = _PART.fullmatch(path.name)
        if match:
            parts[int(match.group(1))] = _public_part(path, dataset)
    return replace(dataset, public_parts=parts)


def _public_part(path: Path, dataset: RecDataset) -> sp.csr_array:
    users, items, _ = read_user_lines(path)
    if len(users) and (users.max() >= dataset.num_users or items.max() >= dataset.num_items):
        raise ConfigError(
            f"{path}: indices beyond the {dataset.num_users} users and {dataset.num_items} items of train.txt"
        )
    part = binary_csr(users, items, dataset.train.shape)
    outside = part.nnz - int(part.multiply(dataset.train).sum())
    if outside:
        raise ConfigError(
            f"{path}: {outside} interaction(s) that train.txt does not have; a public part is a share of it"
        )
    return part
