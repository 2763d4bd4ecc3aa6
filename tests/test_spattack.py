"""Spattack's mechanics on hand-built rounds: Spattack_O cancels the per-item mean, Spattack_L sends the
reference's fixed rows, the S variants sample by popularity."""

import numpy as np
import pytest
import torch

from app_config import make_config
from attacks import ATTACKS, AttackRound
from attacks.base import AttackerKnowledge, AttackSetup
from attacks.collusion import collude
from attacks.spattack import random_rows
from fedrec.errors import ConfigError
from fedrec.models.base import ITEM_EMBEDDING
from fedrec.models.registry import MODELS
from fedrec.updates import UserUpdates
from strategies.robust import item_groups

NUM_ITEMS = 6
DIM = 4
FAKE_USERS = np.array([10, 11], dtype=np.int64)
POPULARITY = np.array([5.0, 0.0, 3.0, 1.0, 8.0, 2.0])  # item 1 has no interaction


def _attack(name: str, knowledge: str, sampled: int = 0, seed: int = 0, popularity: np.ndarray | None = POPULARITY):  # type: ignore[no-untyped-def]
    config = make_config(
        attack=name,
        attacker_knowledge=knowledge,
        model="mf",
        embedding_dim=DIM,
        spattack_sampled_items=sampled,
        seed=seed,
    )
    model = MODELS.get("mf")(DIM, config.hidden_layers)
    theta = model.init_theta(NUM_ITEMS, seed=0)
    setup = AttackSetup(config, model, (), NUM_ITEMS, AttackerKnowledge(item_popularity=popularity))
    return ATTACKS.get(name)(setup), theta


def _round(theta, users: np.ndarray) -> AttackRound:  # type: ignore[no-untyped-def]
    return AttackRound(
        theta=theta,
        epoch=0,
        user_ids=users,
        user_emb=torch.zeros(len(users), DIM),
        own_items=[np.zeros(0, dtype=np.int64)] * len(users),
    )


def _benign_round() -> UserUpdates:
    """Three benign users; item 3 is sent by none of them, item 0 by all three."""
    generator = torch.Generator().manual_seed(1)
    items = [torch.tensor([0, 1, 2]), torch.tensor([0, 2, 4]), torch.tensor([0, 5])]
    return UserUpdates.from_users(
        [0, 1, 2], items, [torch.randn(len(ids), DIM, generator=generator) for ids in items], [{}] * 3, [3, 3, 2]
    )


def _per_item_mean(updates: UserUpdates) -> dict[int, torch.Tensor]:
    ids, counts, rows = item_groups(updates)
    return {int(i): rows[g, : int(counts[g])].mean(0) for g, i in enumerate(ids)}


def test_spattack_o_rows_cancel_the_per_item_mean_of_the_round() -> None:
    attack, theta = _attack("spattack-o", "full")
    malicious = attack.poison(_round(theta, FAKE_USERS)).updates
    assert torch.equal(malicious.item_ids, torch.arange(NUM_ITEMS).repeat(2)), "D variant: every item"
    benign = _benign_round()
    poisoned = collude(attack, UserUpdates.concat([benign, malicious]), FAKE_USERS, theta, server_round=1)
    benign_sum = torch.zeros(NUM_ITEMS, DIM).index_add_(0, benign.item_ids, benign.item_grads)
    fake = poisoned.select(torch.from_numpy(np.isin(poisoned.user_ids.numpy(), FAKE_USERS)))
    for k in range(2):  # each fake user sends -S_i / 2 for every item
        rows = fake.item_grads[int(fake.item_indptr[k]) : int(fake.item_indptr[k + 1])]
        torch.testing.assert_close(rows, -benign_sum / 2)
    for item, mean in _per_item_mean(poisoned).items():
        torch.testing.assert_close(mean, torch.zeros(DIM), atol=1e-6, rtol=0, msg=f"item {item}")
    torch.testing.assert_close(
        poisoned.select(~torch.from_numpy(np.isin(poisoned.user_ids.numpy(), FAKE_USERS))).item_grads, benign.item_grads
    )


def test_spattack_o_sampled_items_share_each_item_among_its_malicious_senders() -> None:
    attack, theta = _attack("spattack-o", "full", sampled=3, seed=1)  # seed 1: items sent by one and by both
    malicious = attack.poison(_round(theta, FAKE_USERS)).updates
    poisoned = collude(attack, UserUpdates.concat([_benign_round(), malicious]), FAKE_USERS, theta, server_round=1)
    benign = _benign_round()
    attacked = set(malicious.item_ids.tolist())
    senders = torch.bincount(malicious.item_ids, minlength=NUM_ITEMS)
    assert senders.max() == 2 and senders[senders > 0].min() == 1, "items held by one and by both fake users"
    benign_mean = _per_item_mean(benign)
    for item, mean in _per_item_mean(poisoned).items():
        if item in attacked:
            torch.testing.assert_close(mean, torch.zeros(DIM), atol=1e-6, rtol=0, msg=f"item {item}")
        else:
            torch.testing.assert_close(mean, benign_mean[item], msg=f"item {item} is left alone")


def test_spattack_l_rows_are_the_references_fixed_normal_rows_for_every_client_and_seed() -> None:
    with torch.random.fork_rng():
        torch.manual_seed(0)  # the reference: torch.manual_seed(0); torch.normal(0, 1, size=(m_item, dim))
        reference = torch.normal(0, 1, size=(NUM_ITEMS, DIM))
    torch.testing.assert_close(random_rows(NUM_ITEMS, DIM), reference, atol=0, rtol=0)
    for seed in (0, 7):
        attack, theta = _attack("spattack-l", "none", seed=seed)
        updates = attack.poison(_round(theta, FAKE_USERS)).updates
        assert torch.equal(updates.item_ids, torch.arange(NUM_ITEMS).repeat(2))
        torch.testing.assert_close(updates.item_grads, reference.repeat(2, 1), atol=0, rtol=0)
        assert not any(grads.abs().sum() for grads in updates.dense_grads.values())


def test_sampled_items_follow_popularity_per_client_and_seed() -> None:
    attack, theta = _attack("spattack-l", "popularity", sampled=3)
    updates = attack.poison(_round(theta, FAKE_USERS)).updates
    assert updates.item_indptr.tolist() == [0, 3, 6]
    sets = [updates.item_ids[3 * k : 3 * k + 3].tolist() for k in range(2)]
    assert all(len(set(s)) == 3 and 1 not in s for s in sets), "distinct, never an item without interactions"
    torch.testing.assert_close(updates.item_grads, random_rows(NUM_ITEMS, DIM)[updates.item_ids], atol=0, rtol=0)
    again = _attack("spattack-l", "popularity", sampled=3)[0].poison(_round(theta, FAKE_USERS)).updates
    assert torch.equal(again.item_ids, updates.item_ids), "the same items for the same seed"
    counts = np.zeros(NUM_ITEMS)
    for user in range(2000):
        counts[attack._items.items_of(attack.config, user)] += 1
    assert counts[1] == 0 and counts[4] > counts[0] > counts[2] > counts[5] > counts[3]


def test_spattack_config_needs_its_knowledge_and_a_feasible_sample() -> None:
    with pytest.raises(ConfigError, match="attacker-knowledge='full'"):
        make_config(attack="spattack-o")
    with pytest.raises(ConfigError, match="attacker-knowledge='popularity'"):
        make_config(attack="spattack-l", spattack_sampled_items=2)
    make_config(attack="spattack-l")  # the D variant needs nothing
    with pytest.raises(ConfigError, match="only 5 items have interactions"):
        _attack("spattack-l", "popularity", sampled=6)


def test_spattack_o_poisons_nothing_but_the_item_rows() -> None:
    attack, theta = _attack("spattack-o", "full")
    result = attack.poison(_round(theta, FAKE_USERS))
    assert torch.equal(result.user_emb_grad, torch.zeros(2, DIM))
    assert result.updates.item_grads.abs().sum() == 0, "placeholders until the channel writes them"
    assert theta[ITEM_EMBEDDING].shape == (NUM_ITEMS, DIM)
