"""Federated evaluation on one node: rank every item for each hosted user and count hits."""

import numpy as np
import scipy.sparse as sp
import torch

from fedrec.metrics import EvalCounts, count_ranking_metrics
from fedrec.models.base import RecModel, Theta

_USERS_PER_BATCH = 512


def _dense_rows(matrix: sp.csr_array, rows: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(matrix[rows].toarray() > 0)


def evaluate_users(
    model: RecModel,
    theta: Theta,
    user_ids: np.ndarray,
    user_emb: torch.Tensor,
    train: sp.csr_array,
    test: sp.csr_array,
    ks: tuple[int, ...],
    targets: tuple[int, ...],
) -> EvalCounts:
    """Full-ranking metrics of `user_ids` (rows of train/test), training items masked out."""
    total = EvalCounts(ks=ks, targets=targets)
    max_k = min(max(ks), train.shape[1])
    with torch.no_grad():
        for start in range(0, len(user_ids), _USERS_PER_BATCH):
            rows = user_ids[start : start + _USERS_PER_BATCH]
            train_mask = _dense_rows(train, rows)
            test_mask = _dense_rows(test, rows)
            scores = model.score_all_items(theta, user_emb[start : start + _USERS_PER_BATCH])
            scores.masked_fill_(train_mask, float("-inf"))
            top_items = torch.topk(scores, max_k, dim=1).indices
            total += count_ranking_metrics(top_items, test_mask, train_mask | test_mask, ks, targets)
    return total
