"""Federated evaluation on one node: rank every item for each hosted user and count hits.

Utility (Recall/Precision/NDCG@K) ranks every item with the user's training items masked. A target's
exposure (ER@K) ranks it among the items the user never interacted with, training and test items
both masked, as the reference code (PoisonFedDLRS, FedRecAttack) and APRec do: a held-out item above the
target would otherwise push it down for a user who cannot be shown it as new. With `exposure-mask = "train"`
only the training items are masked and only users with the target among them are left out, as PIECK's and
Spattack's reference code count it (their `rating[self._train] = - (1 << 10)`).
"""

from collections.abc import Callable
from typing import Any

import numpy as np
import scipy.sparse as sp
import torch

from fedrec.evaluation.metrics import EXPOSURE_MASK_TRAIN_AND_TEST, EvalCounts, count_ranking_metrics
from fedrec.evaluation.sampled import SampledRanking, sampled_counts
from fedrec.models.base import RecModel, Theta

_USERS_PER_BATCH = 512


def exposure_masks_test(config: Any) -> bool:
    """Whether the run's exposure ranking masks the users' test items too (`exposure-mask`)."""
    return config.exposure_mask == EXPOSURE_MASK_TRAIN_AND_TEST


def dense_rows(matrix: sp.csr_array, rows: np.ndarray) -> torch.Tensor:
    """The users' rows of a binary CSR matrix as a dense bool tensor [len(rows), M]."""
    return torch.from_numpy(matrix[rows].toarray() > 0)


def ranking_counts(
    scores: torch.Tensor,
    train_mask: torch.Tensor,
    test_mask: torch.Tensor,
    ks: tuple[int, ...],
    targets: tuple[int, ...],
    masks_test: bool = True,
) -> EvalCounts:
    """Counts of a batch of users from their scores [U, M] of every item (see the module docstring); exposure
    masks (and is not counted for users holding the target among) the train and test items, or with
    `masks_test` false the train items only."""
    max_k = min(max(ks), scores.shape[1])
    top_items = torch.topk(scores.masked_fill(train_mask, float("-inf")), max_k, dim=1).indices
    known = train_mask | test_mask if masks_test else train_mask
    exposure_top = top_items
    if targets:
        exposure_top = torch.topk(scores.masked_fill(known, float("-inf")), max_k, dim=1).indices
    return count_ranking_metrics(top_items, test_mask, known, ks, targets, exposure_top)


def counts_in_batches(
    user_ids: np.ndarray,
    scores_of: Callable[[slice], torch.Tensor],
    train: sp.csr_array,
    test: sp.csr_array,
    ks: tuple[int, ...],
    targets: tuple[int, ...],
    batch_size: int,
    sampled: SampledRanking | None = None,
    masks_test: bool = True,
) -> EvalCounts:
    """Counts of `user_ids` (rows of train/test), `batch_size` users at a time: `scores_of(part)` gives the
    scores [len(part), M] of the users `user_ids[part]` (any model's way of scoring). With `sampled`, the
    sampled metrics too; `masks_test` as in `ranking_counts`."""
    total = EvalCounts(ks=ks, targets=targets, sampled=sampled is not None)
    with torch.no_grad():
        for start in range(0, len(user_ids), batch_size):
            part = slice(start, start + batch_size)
            rows = user_ids[part]
            scores = scores_of(part)
            counts = ranking_counts(scores, dense_rows(train, rows), dense_rows(test, rows), ks, targets, masks_test)
            if sampled is not None:
                counts.sampled = True
                counts.sampled_hr, counts.sampled_ndcg = sampled_counts(
                    scores, *sampled.candidates(rows, train, test), ks
                )
            total += counts
    return total


def evaluate_users(
    model: RecModel,
    theta: Theta,
    user_ids: np.ndarray,
    user_emb: torch.Tensor,
    train: sp.csr_array,
    test: sp.csr_array,
    ks: tuple[int, ...],
    targets: tuple[int, ...],
    sampled: SampledRanking | None = None,
    masks_test: bool = True,
) -> EvalCounts:
    """Ranking metrics of `user_ids` (rows of train/test) from their embeddings `user_emb`, sampled ones too
    with `sampled`; `masks_test` as in `ranking_counts`."""

    def scores_of(part: slice) -> torch.Tensor:
        return model.score_all_items(theta, user_emb[part])

    return counts_in_batches(user_ids, scores_of, train, test, ks, targets, _USERS_PER_BATCH, sampled, masks_test)
