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


def test_exposure_with_train_items_masked_only_lets_the_test_item_compete_and_counts_its_holder() -> None:
    """`exposure-mask = "train"` (PIECK's reference code): the test item above the target takes the top slot,
    and a user whose test item is the target counts (and is hit when it ranks first)."""
    from fedrec.evaluation.ranking import ranking_counts

    # User 0 as above: the test item 3 outranks the target 2. User 1 holds the target 2 as its test item.
    scores = torch.tensor([[9.0, 1.0, 2.0, 3.0], [9.0, 1.0, 3.0, 2.0]])
    train = torch.tensor([[True, False, False, False], [True, False, False, False]])
    test = torch.tensor([[False, False, False, True], [False, False, True, False]])
    both = ranking_counts(scores, train, test, (1, 2), (2,))
    assert both.target_eligible.tolist() == [1] and both.metrics()["er@1"] == 1.0
    train_only = ranking_counts(scores, train, test, (1, 2), (2,), masks_test=False)
    assert train_only.target_eligible.tolist() == [2]
    assert train_only.metrics()["er@1"] == 0.5  # user 0 loses the slot to its test item, user 1 is hit
    assert train_only.metrics()["er@2"] == 1.0
    assert train_only.metrics()["recall@1"] == both.metrics()["recall@1"]  # utility is untouched


def test_exposure_mask_setting_picks_the_masking() -> None:
    from app_config import make_config
    from fedrec.errors import ConfigError
    from fedrec.evaluation.ranking import exposure_masks_test

    assert exposure_masks_test(make_config())  # the default: train and test masked, as the recorded runs
    assert not exposure_masks_test(make_config(exposure_mask="train"))
    with pytest.raises(ConfigError, match="exposure-mask"):
        make_config(exposure_mask="test")


# --- sampled HR@K / NDCG@K ------------------------------------------------------------------------


def _two_users() -> tuple:  # type: ignore[type-arg]
    """8 items. User 0: train {0}, test {1}. User 1: train {4}, test {5, 6}."""
    import scipy.sparse as sp

    train = sp.csr_array(([1.0, 1.0], ([0, 1], [0, 4])), shape=(2, 8))
    test = sp.csr_array(([1.0, 1.0, 1.0], ([0, 1, 1], [1, 5, 6])), shape=(2, 8))
    return train, test


def test_sampled_items_are_distinct_unseen_and_fixed_per_seed_and_user() -> None:
    from fedrec.evaluation.sampled import SampledRanking

    known = np.array([0, 1])
    drawn = SampledRanking(negatives=3, seed=5).sampled_items(0, known, 8)
    assert len(set(drawn.tolist())) == 3 and not set(drawn.tolist()) & {0, 1} and drawn.max() < 8
    assert np.array_equal(drawn, SampledRanking(negatives=3, seed=5).sampled_items(0, known, 8))
    draws = {tuple(SampledRanking(negatives=3, seed=seed).sampled_items(0, known, 8)) for seed in range(20)}
    assert len(draws) > 1
    # More than there are: every unseen item once.
    assert SampledRanking(negatives=50, seed=5).sampled_items(0, known, 8).tolist() == [2, 3, 4, 5, 6, 7]


def test_sampled_hr_and_ndcg_by_hand() -> None:
    from fedrec.evaluation.ranking import counts_in_batches
    from fedrec.evaluation.sampled import SampledRanking

    train, test = _two_users()
    # User 0 scores its test item 1 at 0.5 and only item 2 above it; user 1 scores 5 first, 6 last.
    scores = torch.tensor([[9.0, 0.5, 0.9, 0.1, 0.2, 0.3, 0.0, 0.4], [0.0, 0.3, 0.2, 0.1, 9.0, 0.8, -1.0, 0.5]])
    # All unseen items sampled: user 0 ranks [2, 1, ...] -> the test item at rank 2; user 1 ranks
    # [5, 7, 1, 2, 3, 0, 6] -> hits at ranks 1 and 7.
    counts = counts_in_batches(
        np.array([0, 1]), lambda part: scores[part], train, test, (1, 2), (), 8, SampledRanking(50, 0)
    )
    metrics = counts.metrics()
    assert metrics["sampled-hr@1"] == pytest.approx((0 + 1 / 2) / 2)
    assert metrics["sampled-hr@2"] == pytest.approx((1 + 1 / 2) / 2)
    ndcg_user0 = 1 / math.log2(3)
    ndcg_user1 = 1 / (1 + 1 / math.log2(3))  # one hit at rank 1 of two ideal
    assert metrics["sampled-ndcg@2"] == pytest.approx((ndcg_user0 + ndcg_user1) / 2)
    # The full ranking's metrics are those without sampling, and the sampled ones appear only when asked.
    plain = counts_in_batches(np.array([0, 1]), lambda part: scores[part], train, test, (1, 2), (), 8)
    assert {k: v for k, v in metrics.items() if not k.startswith("sampled")} == plain.metrics()
    assert not any(name.startswith("sampled") for name in plain.metrics())


def test_sampled_hr_with_one_sampled_item_is_a_coin_the_seed_decides() -> None:
    from fedrec.evaluation.ranking import counts_in_batches
    from fedrec.evaluation.sampled import SampledRanking

    train, test = _two_users()
    scores = torch.tensor([[9.0, 0.5, 0.9, 0.1, 0.2, 0.3, 0.0, 0.4]])
    for seed in range(10):
        sampled = SampledRanking(1, seed)
        (item,) = sampled.sampled_items(0, np.array([0, 1]), 8)
        counts = counts_in_batches(np.array([0]), lambda part: scores[part], train, test, (1,), (), 8, sampled)
        assert counts.metrics()["sampled-hr@1"] == (0.0 if item == 2 else 1.0)


def test_sampled_counts_cross_the_wire_and_add_up() -> None:
    from fedrec.protocol import counts_from_record, counts_to_record

    counts = EvalCounts(ks=(10,), targets=(), users=2, sampled=True, sampled_hr=np.array([1.0]))
    back = counts_from_record(counts_to_record(counts), (10,), ())
    assert back.sampled and back.sampled_hr.tolist() == [1.0]
    total = EvalCounts(ks=(10,), targets=())
    total += back
    assert total.metrics()["sampled-hr@10"] == 0.5
    plain = counts_from_record(counts_to_record(EvalCounts(ks=(10,), targets=())), (10,), ())
    assert not plain.sampled and "sampled-hr@10" not in plain.metrics()
