"""`split = "leave-last-two-out"`: test = the latest item, validation = the one before, neither trained, the
validation item masked when ranking (ClusterAttack-UNION's reference split)."""

from dataclasses import replace

import numpy as np
import torch

from app_config import make_config
from fedrec.data.dataset import RecDataset, make_events
from fedrec.data.splits import leave_last_out, leave_last_two_out
from fedrec.models.base import ITEM_EMBEDDING
from fedrec.models.registry import build_model


def pairs_of(matrix) -> set[tuple[int, int]]:
    coo = matrix.tocoo()
    return set(zip(coo.row.tolist(), coo.col.tolist()))


# (user, item, time): user 0 has four interactions, user 1 two, user 2 one.
EVENTS = [(0, 4, 1), (0, 1, 2), (0, 3, 3), (0, 2, 4), (1, 0, 1), (1, 5, 2), (2, 6, 1)]


def dataset() -> RecDataset:
    users, items, times = (np.array(column) for column in zip(*EVENTS))
    loaded = RecDataset.from_split("tiny", (users, items), (np.zeros(0, np.int64), np.zeros(0, np.int64)))
    return replace(loaded, events=make_events(users, items, times))


def test_the_item_before_the_test_item_is_held_out_not_trained() -> None:
    split = leave_last_two_out(dataset())
    assert pairs_of(split.test) == {(0, 2), (1, 5)}
    assert pairs_of(split.held_out) == {(0, 3)}  # user 1 has two interactions: one train, one test
    assert pairs_of(split.train) == {(0, 4), (0, 1), (1, 0), (2, 6)}
    assert split.train_items(0).tolist() == [1, 4]


def test_ranking_masks_the_held_out_item_too_and_popularity_counts_it() -> None:
    split = leave_last_two_out(dataset())
    assert pairs_of(split.ranking_mask) == pairs_of(split.train) | {(0, 3)}
    assert split.item_popularity()[3] == 1
    plain = leave_last_out(dataset())
    assert plain.held_out is None and plain.ranking_mask is plain.train


def test_an_embedding_model_does_not_rank_the_held_out_item_above_the_test_item() -> None:
    split = leave_last_two_out(dataset())
    model = build_model(make_config({"model": "mf", "embedding-dim": 1}))
    scores = torch.tensor([[0.0], [0.1], [0.5], [0.9], [0.2], [0.0], [0.0]])  # the held-out item 3 scores highest
    theta = {ITEM_EMBEDDING: scores}
    counts = model.evaluate_counts(theta, split, np.array([0]), torch.ones(1, 1), (1,), ())
    assert counts.metrics()["recall@1"] == 1.0  # item 3 masked, so the test item 2 ranks first
    unmasked = replace(split, held_out=None, events=None)
    assert (
        model.evaluate_counts(theta, unmasked, np.array([0]), torch.ones(1, 1), (1,), ()).metrics()["recall@1"] == 0.0
    )


def test_a_user_subset_keeps_its_users_held_out_items() -> None:
    subset = leave_last_two_out(dataset()).subset_users(np.array([0, 2]))
    assert pairs_of(subset.held_out) == {(0, 3)}
    assert pairs_of(subset.ranking_mask) == {(0, 4), (0, 1), (0, 3), (1, 6)}
