"""Attribute inference on small synthetic users: an attribute planted in the items is found, one that is not is not;
and the features a server builds from recorded uploads."""

import types

import numpy as np
import pytest
import torch

from privacy.attribute_features import marked_items, true_items, user_histories
from privacy.attribute_inference import infer_attribute, one_vs_rest_auc, public_users
from privacy.observed import ObservedUpload, Truth
from privacy.recording import RecordedUpload
from privacy.recurrence import IdRecurrence

USERS, ITEMS, HISTORY = 600, 60, 8


def histories(labels: np.ndarray, planted: bool, seed: int = 0) -> np.ndarray:
    """A multi-hot of HISTORY items per user; if `planted`, each class draws mostly from its own slice of the items."""
    rng = np.random.default_rng(seed)
    classes = np.unique(labels)
    width = ITEMS // len(classes)
    features = np.zeros((len(labels), ITEMS), dtype=np.float32)
    for row, label in enumerate(labels):
        own = int(np.searchsorted(classes, label))
        pool = np.arange(own * width, (own + 1) * width) if planted else np.arange(ITEMS)
        mixed = np.concatenate([rng.choice(pool, HISTORY // 2 + 2, replace=False), rng.choice(ITEMS, 2, replace=False)])
        features[row, mixed] = 1.0
    return features


@pytest.mark.parametrize("values", [("F", "M"), ("<18", "18-24", "25-34")])
def test_an_attribute_planted_in_the_items_is_inferred(values: tuple[str, ...]) -> None:
    labels = np.random.default_rng(1).choice(
        values, USERS, p=np.linspace(1, 2, len(values)) / np.linspace(1, 2, len(values)).sum()
    )
    score = infer_attribute(histories(labels, planted=True), labels, public_users(USERS, 0.2, seed=3), seed=3)
    assert score.auc > 0.95
    assert score.accuracy > score.majority_accuracy + 0.2
    assert (score.public, score.predicted) == (120, 480)


@pytest.mark.parametrize("values", [("F", "M"), ("<18", "18-24", "25-34")])
def test_an_attribute_not_in_the_items_stays_at_the_baseline(values: tuple[str, ...]) -> None:
    labels = np.random.default_rng(2).choice(values, USERS)
    score = infer_attribute(histories(labels, planted=False), labels, public_users(USERS, 0.2, seed=4), seed=4)
    assert abs(score.auc - 0.5) < 0.07
    assert score.accuracy < score.majority_accuracy + 0.07


def test_the_majority_baseline_is_the_public_users_most_common_class() -> None:
    labels = np.array(["M"] * 70 + ["F"] * 30)
    public = public_users(100, 0.3, seed=0)
    score = infer_attribute(np.zeros((100, 3), dtype=np.float32), labels, public, seed=0)
    assert score.majority_accuracy == pytest.approx((labels[~public] == "M").mean())
    assert score.auc == pytest.approx(0.5)  # no feature: every user gets the same probability


def test_the_public_users_are_drawn_per_seed() -> None:
    first, again, other = public_users(50, 0.2, 7), public_users(50, 0.2, 7), public_users(50, 0.2, 8)
    assert first.sum() == 10 and np.array_equal(first, again) and not np.array_equal(first, other)
    with pytest.raises(ValueError, match="public fraction"):
        public_users(50, 1.0, 7)


def test_one_vs_rest_auc_skips_a_class_absent_from_the_labels() -> None:
    probabilities = np.array([[0.8, 0.1, 0.1], [0.1, 0.8, 0.1], [0.7, 0.2, 0.1]])
    # Class "c" has no member: the mean is over "a" and "b", both perfectly ranked.
    assert one_vs_rest_auc(np.array(["a", "b", "a"]), probabilities, np.array(["a", "b", "c"])) == 1.0


def test_one_class_among_the_public_users_is_refused() -> None:
    labels = np.array(["M"] * 10 + ["F"] * 10)
    public = np.arange(20) < 5
    with pytest.raises(ValueError, match="at least two classes"):
        infer_attribute(np.ones((20, 2)), labels, public, seed=0)


def recorded(epoch: int, user: int, items: list[int], positives: list[int]) -> RecordedUpload:
    ids = torch.tensor(items)
    observed = ObservedUpload({}, ids, torch.full((len(ids), 2), torch.nan), {}, len(positives) * 3)
    return RecordedUpload(epoch, user, observed, Truth(torch.isin(ids, torch.tensor(positives)), torch.zeros(2)))


def test_features_from_recorded_uploads_follow_the_users_and_the_recurring_ids() -> None:
    # User 4's positives 1 and 3 recur, its negatives do not; user 2 (first recorded in epoch 1) has positive 0.
    uploads = [
        recorded(2, 4, [1, 3, 5, 7, 8], [1, 3]),
        recorded(1, 2, [0, 6, 9], [0]),
        recorded(1, 4, [1, 2, 3, 6, 9], [1, 3]),
        recorded(2, 2, [0, 4, 7], [0]),
    ]
    found = user_histories(uploads, torch.ones(10, dtype=torch.int64))
    assert list(found) == [2, 4]
    attack = IdRecurrence(None, types.SimpleNamespace(negatives=2, privacy_defense="none"))
    expected = np.zeros((2, 10), dtype=np.float32)
    expected[0, 0] = expected[1, [1, 3]] = 1.0
    assert np.array_equal(marked_items(attack, found, 10), expected)
    assert np.array_equal(true_items(found, 10), expected)
