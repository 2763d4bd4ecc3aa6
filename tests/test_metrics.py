"""Ranking metrics against hand-computed values."""

import math

import numpy as np
import pytest
import torch

from fedrec.evaluation.metrics import EvalCounts, count_ranking_metrics


def _mask(rows: list[list[int]], num_items: int) -> torch.Tensor:
    mask = torch.zeros(len(rows), num_items, dtype=torch.bool)
    for r, items in enumerate(rows):
        mask[r, items] = True
    return mask


def test_recall_precision_ndcg_by_hand() -> None:
    # user 0: ranking [5, 1, 7], test {1, 7, 9}: hits at ranks 2 and 3 (1-based)
    # user 1: ranking [2, 3, 4], test {2}: hit at rank 1
    # user 2: no test items -> excluded from utility metrics
    top = torch.tensor([[5, 1, 7], [2, 3, 4], [0, 1, 2]])
    test = _mask([[1, 7, 9], [2], []], 10)
    counts = count_ranking_metrics(top, test, test, ks=(1, 3), targets=())
    metrics = counts.metrics()
    assert counts.users == 2
    assert metrics["recall@1"] == pytest.approx((0 + 1) / 2)
    assert metrics["recall@3"] == pytest.approx((2 / 3 + 1) / 2)
    assert metrics["precision@3"] == pytest.approx((2 / 3 + 1 / 3) / 2)
    dcg0 = 1 / math.log2(3) + 1 / math.log2(4)
    idcg0 = 1 + 1 / math.log2(3) + 1 / math.log2(4)
    assert metrics["ndcg@3"] == pytest.approx((dcg0 / idcg0 + 1.0) / 2)
    assert metrics["ndcg@1"] == pytest.approx((0 + 1) / 2)


def test_exposure_ratio_counts_only_users_without_the_target() -> None:
    top = torch.tensor([[4, 1], [2, 4], [3, 0], [4, 2]])
    known = _mask([[0], [1], [2], [4]], 5)  # user 3 already has item 4: not eligible
    counts = count_ranking_metrics(top, known, known, ks=(1, 2), targets=(4,))
    assert counts.target_eligible.tolist() == [3]
    assert counts.metrics()["er@1"] == pytest.approx(1 / 3)
    assert counts.metrics()["er@2"] == pytest.approx(2 / 3)


def test_counts_add_up_across_nodes() -> None:
    a = EvalCounts(
        ks=(5,),
        targets=(1,),
        users=2,
        recall=np.array([1.0]),
        precision=np.array([0.4]),
        ndcg=np.array([0.5]),
        target_hits=np.array([[1.0]]),
        target_eligible=np.array([2.0]),
    )
    b = EvalCounts(
        ks=(5,),
        targets=(1,),
        users=1,
        recall=np.array([0.5]),
        precision=np.array([0.2]),
        ndcg=np.array([0.25]),
        target_hits=np.array([[0.0]]),
        target_eligible=np.array([2.0]),
    )
    a += b
    assert a.metrics() == pytest.approx({"recall@5": 0.5, "precision@5": 0.2, "ndcg@5": 0.25, "er@5": 0.25})


def test_exposure_ranks_targets_among_items_the_user_never_interacted_with() -> None:
    """A held-out (test) item scored above the target takes no top-K slot from it in ER@K; it still
    counts for Recall@K (the reference code's and APRec's exposure)."""
    from fedrec.evaluation.ranking import ranking_counts

    # Scores: item 3 (the user's test item) first, then the target 2, then 1; item 0 is a training item.
    scores = torch.tensor([[9.0, 1.0, 2.0, 3.0]])
    train = torch.tensor([[True, False, False, False]])
    test = torch.tensor([[False, False, False, True]])
    metrics = ranking_counts(scores, train, test, (1,), (2,)).metrics()
    assert metrics["recall@1"] == 1.0  # the test item is first once training items are masked
    assert metrics["er@1"] == 1.0  # and the target is first once train and test are masked
