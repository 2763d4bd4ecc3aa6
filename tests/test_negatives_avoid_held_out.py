"""`negatives-avoid-held-out`: a user's negatives drawn outside its test and validation items as well as its training
items, as ClusterAttack-UNION's reference code draws them (`Code/train.py:162-166`); off, the draws are unchanged."""

from dataclasses import replace

import numpy as np
import pytest

from app_config import make_config
from fedrec.data.dataset import RecDataset, make_events
from fedrec.data.splits import leave_last_two_out
from fedrec.errors import ConfigError
from fedrec.training.sampling import dataset_samples, epoch_samples, user_samples

# (user, item, time) over 8 items: user 0 trains on 0 and 1, holds out 2 (validation), is tested on 3; user 1 has one.
EVENTS = [(0, 0, 1), (0, 1, 2), (0, 2, 3), (0, 3, 4), (1, 7, 1)]


def split() -> RecDataset:
    users, items, times = (np.array(column) for column in zip(*EVENTS))
    loaded = RecDataset.from_split("tiny", (users, items), (np.zeros(0, np.int64), np.zeros(0, np.int64)))
    return leave_last_two_out(replace(loaded, events=make_events(users, items, times)))


def negatives_of(samples) -> set[int]:
    return set(samples.items[samples.labels == 0].tolist())


def test_the_held_out_items_are_the_test_and_validation_items() -> None:
    data = split()
    assert data.held_out_items(0).tolist() == [2, 3]
    assert data.held_out_items(1).tolist() == []


def test_avoided_items_are_never_drawn_and_the_rest_all_are() -> None:
    train, avoided = np.array([0, 1]), np.array([2, 3])
    drawn = negatives_of(user_samples(0, train, 8, 500, seed=0, epoch=0, avoided=avoided))
    assert drawn == {4, 5, 6, 7}
    assert negatives_of(user_samples(0, train, 8, 500, seed=0, epoch=0)) == {2, 3, 4, 5, 6, 7}


def test_the_switch_draws_outside_the_held_out_items_and_off_leaves_the_draws_as_they_were() -> None:
    data = split()
    on = make_config(negatives=500, resample_negatives=False, negatives_avoid_held_out=True)
    off = make_config(negatives=500, resample_negatives=False)
    assert negatives_of(dataset_samples(data, np.array([0]), on, 0)[0]) == {4, 5, 6, 7}
    unchanged = dataset_samples(data, np.array([0, 1]), off, 0)
    for user, samples in zip((0, 1), unchanged):
        before = epoch_samples(user, data.train_items(user), data.num_items, off, 0)
        assert np.array_equal(samples.items, before.items)
    assert {2, 3} <= negatives_of(unchanged[0])


def test_a_sequential_model_refuses_the_switch() -> None:
    with pytest.raises(ConfigError, match="negatives-avoid-held-out"):
        make_config(model="sasrec", split="leave-last-out", negatives_avoid_held_out=True)
