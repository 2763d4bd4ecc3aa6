"""Negative sampling and the epoch schedule."""

import numpy as np

from fedrec.training.sampling import epoch_schedule, sample_negatives, user_samples


def test_negatives_avoid_interacted_items_and_cover_the_rest_uniformly() -> None:
    train = np.array([0, 3, 4, 9])
    draws = sample_negatives(train, 10, 60_000, np.random.default_rng(0))
    assert not np.isin(draws, train).any()
    counts = np.bincount(draws, minlength=10)[[1, 2, 5, 6, 7, 8]]
    assert counts.min() > 0.9 * 10_000 and counts.max() < 1.1 * 10_000


def test_heavy_user_still_gets_r_negatives_per_positive() -> None:
    train = np.arange(90)  # 90 of 100 items interacted: only 10 candidates, drawn with replacement
    samples = user_samples(5, train, 100, 4, seed=0, epoch=0)
    negatives = samples.items[samples.labels == 0]
    assert len(negatives) == 360 and set(negatives) <= set(range(90, 100))
    assert samples.labels.sum() == 90
    assert (samples.partner[90:] == np.repeat(np.arange(90), 4)).all()
    assert (samples.partner[:90] == -1).all()


def test_negatives_are_resampled_per_epoch_and_reproducible() -> None:
    train = np.array([1, 2, 3])
    a0 = user_samples(7, train, 500, 4, seed=1, epoch=0).items
    assert np.array_equal(a0, user_samples(7, train, 500, 4, seed=1, epoch=0).items)
    assert not np.array_equal(a0, user_samples(7, train, 500, 4, seed=1, epoch=1).items)
    assert not np.array_equal(a0, user_samples(8, train, 500, 4, seed=1, epoch=0).items)


def test_schedule_trains_every_user_exactly_once_per_epoch() -> None:
    users = np.arange(1000)
    rounds = epoch_schedule(users, 256, seed=0, epoch=3)
    assert [len(r) for r in rounds] == [256, 256, 256, 232]
    assert np.array_equal(np.sort(np.concatenate(rounds)), users)
    other_epoch = epoch_schedule(users, 256, seed=0, epoch=4)
    assert not np.array_equal(rounds[0], other_epoch[0])
    assert all(np.array_equal(a, b) for a, b in zip(rounds, epoch_schedule(users[::-1], 256, seed=0, epoch=3)))
