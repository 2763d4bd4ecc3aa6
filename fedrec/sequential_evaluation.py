"""Federated evaluation of a sequential model on one node (chronological leave-one-out).

Each user's newest `max_len` training items predict its held-out next item: HR@K (recall@K with one
test item), Precision@K and NDCG@K rank every item with the training history excluded, as for the
other models. A target item's exposure ER@K ranks it among the items the user never interacted with
(train and test history both excluded, as APRec does), over the users for whom it is such an item.
"""

import numpy as np
import scipy.sparse as sp
import torch

from fedrec.metrics import EvalCounts, count_ranking_metrics
from fedrec.models.base import Theta
from fedrec.models.sasrec import SASRec
from fedrec.sequences import history_batch

_USERS_PER_BATCH = 256


def _dense_rows(matrix: sp.csr_array, rows: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(matrix[rows].toarray() > 0)


def evaluate_sequences(
    model: SASRec,
    theta: Theta,
    user_ids: np.ndarray,
    sequences: list[np.ndarray],
    profile: np.ndarray,
    train: sp.csr_array,
    test: sp.csr_array,
    ks: tuple[int, ...],
    targets: tuple[int, ...],
) -> EvalCounts:
    """Counts of `user_ids` (rows of train/test) whose chronological train items are `sequences`."""
    total = EvalCounts(ks=ks, targets=targets)
    max_k = min(max(ks), train.shape[1])
    with torch.no_grad():
        for start in range(0, len(user_ids), _USERS_PER_BATCH):
            part = slice(start, start + _USERS_PER_BATCH)
            rows = user_ids[part]
            train_mask, test_mask = _dense_rows(train, rows), _dense_rows(test, rows)
            scores = model.score_sequences(theta, history_batch(sequences[part], profile[part], model.max_len))
            top_items = torch.topk(scores.masked_fill(train_mask, float("-inf")), max_k, dim=1).indices
            known = train_mask | test_mask
            exposure_top = torch.topk(scores.masked_fill(known, float("-inf")), max_k, dim=1).indices
            total += count_ranking_metrics(top_items, test_mask, known, ks, targets, exposure_top)
    return total
