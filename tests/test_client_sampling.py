"""`client-sampling`: every user once per epoch, or each round's users drawn afresh (fedrec/training/schedule.py)."""

import numpy as np
import pytest

from app_config import make_config
from fedrec.errors import ConfigError
from fedrec.training.sampling import epoch_schedule, round_schedule
from fedrec.training.schedule import per_round_schedule


def test_per_round_keeps_the_epochs_round_count_with_full_rounds_of_distinct_users() -> None:
    users = np.arange(1000)
    rounds = per_round_schedule(users, 256, seed=0, epoch=0)
    assert len(rounds) == len(epoch_schedule(users, 256, seed=0, epoch=0)) == 4
    assert all(len(r) == 256 and len(np.unique(r)) == 256 and np.isin(r, users).all() for r in rounds)


def test_per_round_draws_rounds_independently_so_users_repeat_or_miss_an_epoch() -> None:
    users = np.arange(6040)
    counts = np.bincount(np.concatenate(per_round_schedule(users, 50, seed=0, epoch=0)), minlength=6040)
    # 121 independent draws of 50: a user's count is about Binomial(121, 50/6040), so about e^-1 of them miss
    assert (counts >= 2).any()
    assert 0.30 < np.mean(counts == 0) < 0.44


def test_per_round_is_reproducible_and_differs_by_seed_and_epoch() -> None:
    users = np.arange(500)
    first = per_round_schedule(users, 50, seed=1, epoch=2)
    assert all(np.array_equal(a, b) for a, b in zip(first, per_round_schedule(users, 50, seed=1, epoch=2)))
    assert not np.array_equal(first[0], per_round_schedule(users, 50, seed=2, epoch=2)[0])
    assert not np.array_equal(first[0], per_round_schedule(users, 50, seed=1, epoch=3)[0])


def test_per_round_with_fewer_users_than_a_round_takes_them_all() -> None:
    rounds = per_round_schedule(np.array([4, 9, 2]), 10, seed=0, epoch=0)
    assert len(rounds) == 1 and sorted(rounds[0]) == [2, 4, 9]


def test_round_schedule_follows_the_run_config() -> None:
    users = np.arange(300)
    epoch_mode = round_schedule(users, make_config({"clients-per-round": 50, "seed": 3}), 1)
    assert np.array_equal(np.sort(np.concatenate(epoch_mode)), users)
    config = make_config({"clients-per-round": 50, "seed": 3, "client-sampling": "per-round"})
    per_round = round_schedule(users, config, 1)
    assert all(np.array_equal(a, b) for a, b in zip(per_round, per_round_schedule(users, 50, seed=3, epoch=1)))


def test_an_unknown_client_sampling_is_one_clear_error() -> None:
    with pytest.raises(ConfigError, match="client-sampling"):
        make_config({"client-sampling": "poisson"})
