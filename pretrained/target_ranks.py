"""Where a checkpoint ranks each target for a set of users: the number beside an ER@K that is 0.

ER@K only says whether a target made a top-K list; a clean checkpoint's ER@10 of 0 says nothing about
how far the targets are from it. `median_target_ranks` ranks all items for each user with its whole
history (train and test) masked, as ER@K does, and gives each target's median 1-based rank over the
users who never interacted with it.
"""

import numpy as np
import torch

from fedrec.data.dataset import RecDataset
from fedrec.models.base import Theta
from fedrec.models.sasrec import SASRec
from fedrec.sequential.sequences import history_batch, user_sequences

_USERS_PER_BATCH = 256


def median_target_ranks(
    model: SASRec, theta: Theta, dataset: RecDataset, users: np.ndarray, targets: tuple[int, ...]
) -> list[float]:
    """Per target, the median over `users` without it in their history of its rank among their unseen items."""
    known = (dataset.train + dataset.test).tocsr()
    columns = torch.tensor(targets)
    ranks, unseen = [], []
    with torch.no_grad():
        for start in range(0, len(users), _USERS_PER_BATCH):
            rows = users[start : start + _USERS_PER_BATCH]
            scores = model.score_sequences(theta, history_batch(*user_sequences(dataset, rows), model.max_len))
            seen = torch.from_numpy(known[rows].toarray() > 0)
            scores.masked_fill_(seen, float("-inf"))
            target_scores = scores[:, columns]
            ranks.append((1 + (scores.unsqueeze(1) > target_scores.unsqueeze(2)).sum(dim=2)).numpy())
            unseen.append(~seen[:, columns].numpy())
    rank, keep = np.concatenate(ranks), np.concatenate(unseen)
    return [float(np.median(rank[keep[:, t], t])) if keep[:, t].any() else float("nan") for t in range(len(targets))]
