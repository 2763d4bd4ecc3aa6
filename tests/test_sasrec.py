"""SASRec core: causal masking, padding, per-user gradients, next-item instances, evaluation."""

import numpy as np
import pytest
import scipy.sparse as sp
import torch

from fedrec.models.base import ITEM_EMBEDDING
from fedrec.models.sasrec import SASRec, attention_allowed
from fedrec.sequential.batch import SequenceBatch, profile_codes
from fedrec.sequential.evaluation import evaluate_sequences
from fedrec.sequential.sequences import history_batch, left_padded, training_sequences
from fedrec.sequential.training import sequential_user_updates

NUM_ITEMS = 60


def _sequences(count: int, seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.choice(NUM_ITEMS, size=int(rng.integers(2, 25)), replace=False) for _ in range(count)]


@pytest.mark.parametrize("prompt", [False, True])
def test_a_later_item_never_changes_an_earlier_position(prompt: bool) -> None:
    model = SASRec(16, max_len=12, layers=2, heads=2, dropout=0.0, prompt=prompt)
    theta = model.init_theta(NUM_ITEMS, seed=1)
    batch = history_batch(_sequences(3), np.zeros((3, 3), dtype=np.int64), 12)
    before = model.hidden(theta, batch)
    for position in range(12):
        changed = SequenceBatch(batch.items.clone(), batch.real, batch.profile)
        changed.items[:, position] = (changed.items[:, position] + 7) % NUM_ITEMS
        after = model.hidden(theta, changed)
        assert torch.equal(before[:, :position], after[:, :position])
    real_rows = batch.real[:, -1]
    assert not torch.equal(before[real_rows, -1], model.hidden(theta, changed)[real_rows, -1] * 0)


def test_padding_gives_no_nan_and_does_not_leak_into_real_positions() -> None:
    model = SASRec(16, max_len=10, dropout=0.0, prompt=True)
    theta = model.init_theta(NUM_ITEMS, seed=2)
    batch = history_batch([np.array([3, 4]), np.array([5])], np.zeros((2, 3), dtype=np.int64), 10)
    hidden = model.hidden(theta, batch)
    assert not torch.isnan(hidden).any()
    # Changing what sits at a padding position changes no real position's output.
    moved = SequenceBatch(batch.items.clone(), batch.real, batch.profile)
    moved.items[~batch.real] = 9
    assert torch.equal(model.hidden(theta, moved)[batch.real], hidden[batch.real])


def test_attention_mask_rows_are_never_empty() -> None:
    real = torch.tensor([[False, False, True, True], [False, False, False, False]])
    allowed = attention_allowed(real)
    assert allowed.any(-1).all()
    assert not allowed[0, 3, 0] and allowed[0, 3, 2] and not allowed[0, 2, 3]


def test_profile_codes_hash_each_attribute_into_its_own_block() -> None:
    import pandas as pd

    profiles = pd.DataFrame({"gender": ["F", "M"], "age": ["18-24", "56+"], "occupation": ["student", "writer"]})
    codes = profile_codes(profiles, np.array([1, 0]))
    assert codes.shape == (2, 3)
    assert all(32 * a <= codes[r, a] < 32 * (a + 1) for r in range(2) for a in range(3))
    assert codes[0, 0] != codes[1, 0]


def test_instances_predict_the_next_item_with_negatives_outside_the_history() -> None:
    sequences = [np.array([5, 1, 9, 2]), np.array([7])]
    instances = training_sequences(
        np.array([10, 11]), sequences, np.zeros((2, 3), dtype=np.int64), NUM_ITEMS, 5, seed=0, epoch=0
    )
    assert instances.items[0].tolist() == [0, 0, 5, 1, 9]
    assert instances.labels[0].tolist() == [0, 0, 1, 9, 2]
    assert instances.real[0].tolist() == [False, False, True, True, True]
    assert not instances.real[1].any()  # one item: nothing to predict
    negatives = instances.negatives[0][instances.real[0]]
    assert not np.isin(negatives, sequences[0]).any()
    again = training_sequences(
        np.array([10, 11]), sequences, np.zeros((2, 3), dtype=np.int64), NUM_ITEMS, 5, seed=0, epoch=0
    )
    assert np.array_equal(again.negatives, instances.negatives)
    items, real = left_padded([np.arange(8)], 3)
    assert items.tolist() == [[5, 6, 7]] and real.all()


def test_per_user_updates_equal_each_users_own_backward_pass() -> None:
    model = SASRec(16, max_len=12, dropout=0.0, prompt=True)
    theta = model.init_theta(NUM_ITEMS, seed=3)
    sequences = _sequences(5)
    instances = training_sequences(np.arange(5), sequences, np.zeros((5, 3), dtype=np.int64), NUM_ITEMS, 12, 0, 0)
    result = sequential_user_updates(model, theta, instances, lambda name: True, seed=0)
    batch = instances.batch()
    for user in range(5):
        leaves = {name: value.clone().requires_grad_() for name, value in theta.items()}
        one = batch.select(slice(user, user + 1))
        model.sequence_loss(leaves, one)[0].backward()
        for name in theta:
            if name != ITEM_EMBEDDING:
                torch.testing.assert_close(
                    result.updates.dense_grads[name][user], leaves[name].grad, atol=1e-6, rtol=1e-5
                )
        lo, hi = result.updates.item_indptr[user], result.updates.item_indptr[user + 1]
        sent = result.updates.item_ids[lo:hi]
        full = leaves[ITEM_EMBEDDING].grad
        torch.testing.assert_close(result.updates.item_grads[lo:hi], full[sent], atol=1e-6, rtol=1e-5)
        unsent = torch.ones(NUM_ITEMS, dtype=torch.bool)
        unsent[sent] = False
        assert torch.count_nonzero(full[unsent]) == 0


def test_dropout_masks_follow_the_seed() -> None:
    model = SASRec(16, max_len=12, dropout=0.5)
    theta = model.init_theta(NUM_ITEMS, seed=4)
    instances = training_sequences(np.arange(4), _sequences(4), np.zeros((4, 3), dtype=np.int64), NUM_ITEMS, 12, 0, 0)
    first, again, other = (sequential_user_updates(model, theta, instances, lambda n: True, seed=s) for s in (7, 7, 8))
    assert torch.equal(first.updates.item_grads, again.updates.item_grads)
    assert not torch.equal(first.updates.item_grads, other.updates.item_grads)


def test_evaluation_masks_history_for_utility_and_train_plus_test_for_exposure(monkeypatch: pytest.MonkeyPatch) -> None:
    model = SASRec(8, max_len=5, dropout=0.0)
    theta = model.init_theta(6, seed=0)
    # Item 5 scores best for everyone, then 4, 3, ...: the masks alone decide the rankings.
    monkeypatch.setattr(model, "score_sequences", lambda theta, batch: torch.arange(6.0).repeat(len(batch), 1))
    users = np.array([0, 1])
    train = sp.csr_array(np.array([[1, 1, 0, 0, 0, 0], [1, 0, 1, 0, 0, 0]]))
    test = sp.csr_array(np.array([[0, 0, 0, 0, 0, 1], [0, 0, 0, 1, 0, 0]]))
    sequences = [np.array([0, 1]), np.array([0, 2])]
    counts = evaluate_sequences(
        model, theta, users, sequences, np.zeros((2, 3), dtype=np.int64), train, test, (1,), (4,)
    )
    metrics = counts.metrics()
    assert metrics["recall@1"] == 0.5  # user 0's test item 5 is ranked first; user 1's item 3 is not
    # Exposure of target 4: user 0 (test item 5 masked too) sees 4 first; user 1 sees 5 first.
    assert metrics["er@1"] == 0.5
