"""Federated evaluation of a sequential model on one node (chronological leave-one-out).

Each user's newest `max_len` training items predict its held-out next item: HR@K (recall@K with one
test item), Precision@K and NDCG@K, and the targets' ER@K, counted as for every model
(`fedrec.evaluation.ranking.counts_in_batches`: exposure ranks a target among the items the user never
interacted with, train and test masked as APRec does, unless `exposure-mask = "train"`).
"""

import numpy as np
import scipy.sparse as sp
import torch

from fedrec.evaluation.metrics import EvalCounts
from fedrec.evaluation.ranking import counts_in_batches
from fedrec.evaluation.sampled import SampledRanking
from fedrec.models.base import RecModel, Theta
from fedrec.sequential.sequences import history_batch

_USERS_PER_BATCH = 256


def evaluate_sequences(
    model: RecModel,
    theta: Theta,
    user_ids: np.ndarray,
    sequences: list[np.ndarray],
    profile: np.ndarray,
    train: sp.csr_array,
    test: sp.csr_array,
    ks: tuple[int, ...],
    targets: tuple[int, ...],
    sampled: SampledRanking | None = None,
    masks_test: bool = True,
) -> EvalCounts:
    """Counts of `user_ids` (rows of train/test) whose chronological train items are `sequences`; `masks_test`
    as in `fedrec.evaluation.ranking.ranking_counts`."""

    def scores_of(part: slice) -> torch.Tensor:
        return model.score_sequences(theta, history_batch(sequences[part], profile[part], model.max_len))

    return counts_in_batches(user_ids, scores_of, train, test, ks, targets, _USERS_PER_BATCH, sampled, masks_test)
