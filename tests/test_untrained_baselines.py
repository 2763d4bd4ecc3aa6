"""The utility of rankings that need no training (fedrec/evaluation/baselines.py): popularity by hand, chance
against the exact average over every ordering of a user's candidate items, through the evaluation's own counting."""

import itertools

import numpy as np
import pytest
import torch

from fedrec.data.dataset import binary_csr
from fedrec.evaluation.baselines import chance_metrics, popularity_metrics
from fedrec.evaluation.metrics import count_ranking_metrics


def _matrix(pairs: list[tuple[int, int]], shape: tuple[int, int]):  # noqa: ANN202 (csr)
    rows, cols = zip(*pairs)
    return binary_csr(np.array(rows), np.array(cols), shape)


def test_popularity_ranks_every_user_by_the_training_counts_with_its_own_items_masked() -> None:
    # 3 users, 5 items. Training counts: item 0: 3, item 1: 2, item 2: 1, items 3-4: 0.
    train = _matrix([(0, 0), (1, 0), (2, 0), (0, 1), (1, 1), (2, 2)], (3, 5))
    # User 0's ranking without 0 and 1 is 2, 3, 4: its test item 2 comes first. User 1's (without 0, 1): 2, 3, 4,
    # its test item 4 third. User 2's (without 0, 2): 1, 3, 4, its test item 1 first.
    test = _matrix([(0, 2), (1, 4), (2, 1)], (3, 5))
    metrics = popularity_metrics(train, test, (1, 3))
    assert metrics["recall@1"] == pytest.approx(2 / 3)
    assert metrics["recall@3"] == pytest.approx(1.0)
    assert metrics["ndcg@3"] == pytest.approx((1 + 1 / np.log2(4) + 1) / 3)


def test_chance_is_the_average_over_every_ordering_of_the_unmasked_items() -> None:
    # User 0: 2 of 6 items trained, 2 test items among its 4 candidates; user 1: 1 trained, 1 test item among 5;
    # user 2: no test item (not counted).
    train = _matrix([(0, 0), (0, 1), (1, 5), (2, 3)], (3, 6))
    test = _matrix([(0, 2), (0, 4), (1, 0)], (3, 6))
    ks = (1, 2, 3)
    exact = {f"{name}@{k}": 0.0 for name in ("recall", "ndcg") for k in ks}
    for user in (0, 1):
        candidates = np.setdiff1d(np.arange(6), train[[user]].indices)
        orderings = list(itertools.permutations(candidates))
        test_mask = torch.from_numpy(test[[user]].toarray() > 0)
        for ordering in orderings:
            top = torch.tensor([ordering[: max(ks)]])
            counts = count_ranking_metrics(top, test_mask, test_mask, ks, ())
            for j, k in enumerate(ks):
                exact[f"recall@{k}"] += counts.recall[j] / len(orderings) / 2
                exact[f"ndcg@{k}"] += counts.ndcg[j] / len(orderings) / 2
    assert chance_metrics(train, test, ks) == pytest.approx(exact)
