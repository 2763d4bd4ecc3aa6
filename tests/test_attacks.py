"""Mechanics of each attack on a tiny model, and how malicious clients enter the federation."""

import numpy as np
import pytest
import torch

from app_config import make_config
from attacks import ATTACKS, AttackRound, run_threat
from attacks.base import AttackerKnowledge, AttackSetup
from fedrec.errors import ConfigError
from fedrec.models.base import ITEM_EMBEDDING, dense_names
from fedrec.models.ncf import NeuralCF
from fedrec.reporting.update_stats import user_update_norms
from fedrec.training.local import Objective, compute_user_updates
from fedrec.training.sampling import user_samples
from fedrec.training.server_step import ThetaGradient, apply_gradient

NUM_ITEMS = 40
TARGETS = (7,)


def _setup(attack: str, knowledge: AttackerKnowledge | None = None, **overrides: object):  # type: ignore[no-untyped-def]
    config = make_config(attack=attack, **overrides)
    model = NeuralCF(config.embedding_dim, config.hidden_layers)
    theta = model.init_theta(NUM_ITEMS, seed=0)
    setup = AttackSetup(config, model, TARGETS, NUM_ITEMS, knowledge or AttackerKnowledge())
    instance = ATTACKS.get(attack)(setup)
    return config, model, theta, instance


def _round(theta, users, own_items=None, embeddings=None, epoch=0):  # type: ignore[no-untyped-def]
    users = np.asarray(users)
    if embeddings is None:
        embeddings = NeuralCF(8, (8, 8)).init_user_embeddings(users, seed=0)
    own = own_items if own_items is not None else [np.zeros(0, dtype=np.int64)] * len(users)
    return AttackRound(theta=theta, epoch=epoch, user_ids=users, user_emb=embeddings, own_items=own)


def _mean_target_logit(model, theta, users: torch.Tensor) -> float:  # type: ignore[no-untyped-def]
    with torch.no_grad():
        return float(model.score_all_items(theta, users)[:, TARGETS[0]].mean())


def _as_gradient(updates) -> ThetaGradient:  # type: ignore[no-untyped-def]
    return ThetaGradient(updates.item_ids, updates.item_grads, {k: v.sum(0) for k, v in updates.dense_grads.items()})


@pytest.mark.parametrize("attack", ["a-ra", "a-hum"])
def test_approximation_upload_touches_only_targets_and_raises_their_score(attack: str) -> None:
    _, model, theta, instance = _setup(attack)
    result = instance.poison(_round(theta, [100, 101]))
    updates = result.updates
    assert updates.item_ids.tolist() == [7, 7] and updates.item_indptr.tolist() == [0, 1, 2]
    assert set(updates.dense_grads) == set(dense_names(theta))
    assert torch.count_nonzero(result.user_emb_grad) == 0
    random_users = torch.randn(2000, 8, generator=torch.Generator().manual_seed(5)) * 0.01
    before = _mean_target_logit(model, theta, random_users)
    apply_gradient(theta, _as_gradient(updates), lr=0.1)
    assert _mean_target_logit(model, theta, random_users) > before + 1e-3


def test_hard_user_mining_finds_users_who_score_the_target_lower() -> None:
    _, model, theta, ara = _setup("a-ra", hum_steps=30, hum_lr=0.05)
    _, _, _, ahum = _setup("a-hum", hum_steps=30, hum_lr=0.05)
    attack_round = _round(theta, [100])
    target_emb = theta[ITEM_EMBEDDING][list(TARGETS)]
    unmined = ara.approximated_users(attack_round, 100, target_emb)
    mined = ahum.approximated_users(attack_round, 100, target_emb)
    dense = {k: v for k, v in theta.items() if k != ITEM_EMBEDDING}
    score = lambda users: float(model.logits(dense, users, target_emb.unsqueeze(1).expand_as(users)).mean())  # noqa: E731
    assert score(mined) < score(unmined) - 1e-3
    # With the paper's defaults (lr 0.001) mining still moves every sample the same way, just less.
    _, _, _, paper_ahum = _setup("a-hum")
    assert score(paper_ahum.approximated_users(attack_round, 100, target_emb)) < score(unmined)


def test_fedattack_samples_are_the_extreme_ranks_with_normal_counts() -> None:
    config, model, theta, instance = _setup("fedattack")
    own = np.array([1, 4, 9])
    embedding = model.init_user_embeddings(np.array([3]), seed=0) * 100
    attack_round = _round(theta, [3], own_items=[own], embeddings=embedding)
    samples = instance.samples(attack_round, 0)
    benign = user_samples(3, own, NUM_ITEMS, config.negatives, config.seed, 0)
    assert len(samples.items) == len(benign.items) and samples.labels.sum() == benign.labels.sum()
    assert np.array_equal(samples.partner, benign.partner)
    with torch.no_grad():
        scores = model.score_all_items(theta, embedding)[0].numpy()
    candidates = np.setdiff1d(np.arange(NUM_ITEMS), own)
    ranked = candidates[np.argsort(-scores[candidates], kind="stable")]
    negatives, positives = samples.items[samples.labels == 0], samples.items[samples.labels == 1]
    # Globally hardest: each positive is the farthest candidate, its r negatives the r most relevant.
    assert positives.tolist() == [ranked[-1]] * len(own)
    assert negatives.reshape(len(own), config.negatives).tolist() == [ranked[: config.negatives].tolist()] * len(own)
    assert not np.isin(samples.items, own).any()


def test_fedattack_upload_narrows_the_gap_between_the_users_top_and_bottom_items() -> None:
    _, model, theta, instance = _setup("fedattack")
    own = np.array([1, 4, 9])
    embedding = model.init_user_embeddings(np.array([3]), seed=0) * 100
    attack_round = _round(theta, [3], own_items=[own], embeddings=embedding)
    with torch.no_grad():
        before = model.score_all_items(theta, embedding)[0]
    candidates = np.setdiff1d(np.arange(NUM_ITEMS), own)
    top, bottom = (int(candidates[pick(before[candidates]).item()]) for pick in (torch.argmax, torch.argmin))
    apply_gradient(theta, _as_gradient(instance.poison(attack_round).updates), lr=0.1)
    with torch.no_grad():
        after = model.score_all_items(theta, embedding)[0]
    assert after[top] - after[bottom] < before[top] - before[bottom] - 1e-3


def test_fedattack_honest_norm_scales_each_upload_to_its_honest_updates_norm() -> None:
    config, model, theta, free = _setup("fedattack")
    _, _, _, honest = _setup("fedattack", fedattack_norm="honest")
    own = [np.array([1, 4, 9]), np.array([2, 3, 5, 8, 13, 21])]
    users = np.array([3, 5])
    attack_round = _round(theta, users, own_items=own)
    free_updates, honest_updates = free.poison(attack_round).updates, honest.poison(attack_round).updates
    benign = [user_samples(int(u), o, NUM_ITEMS, config.negatives, config.seed, 0) for u, o in zip(users, own)]
    benign_updates = compute_user_updates(
        model, theta, users, attack_round.user_emb, benign, Objective.of(config)
    ).updates
    assert torch.allclose(user_update_norms(honest_updates), user_update_norms(benign_updates), rtol=1e-5)
    # Same items and direction as the free upload, only the size differs (one factor per user).
    assert torch.equal(honest_updates.item_ids, free_updates.item_ids)
    factor = (user_update_norms(honest_updates) / user_update_norms(free_updates)).float()
    expected = free_updates.item_grads * factor[free_updates.item_owner()][:, None]
    assert torch.allclose(honest_updates.item_grads, expected, atol=1e-7)
    assert factor.min() < 0.99 or factor.max() > 1.01  # the sizes did differ


def test_random_samples_control_keeps_normal_counts() -> None:
    config, _, theta, instance = _setup("random-samples")
    own = np.array([1, 4, 9, 11])
    samples = instance.samples(_round(theta, [3], own_items=[own]), 0)
    assert len(samples.items) == len(own) * (1 + config.negatives) and samples.labels.sum() == len(own)


def test_fake_profiles() -> None:
    _, _, theta, eb = _setup("eb")
    assert eb.profile(100).tolist() == [7]
    samples = eb.samples(_round(theta, [100]), 0)
    assert samples.items[samples.labels == 1].tolist() == [7] and (samples.labels == 0).sum() == 4
    _, _, _, ra = _setup("random", fake_profile_size=12)
    profile = ra.profile(100)
    assert len(profile) == 12 and 7 in profile and not np.array_equal(profile, ra.profile(101))
    popularity = np.arange(NUM_ITEMS)  # item 39 is the most popular
    _, _, _, bandwagon = _setup(
        "bandwagon", AttackerKnowledge(item_popularity=popularity), attacker_knowledge="popularity", fake_profile_size=3
    )
    profile = bandwagon.profile(100)  # targets + filler from the top 10% popular items (36..39)
    assert 7 in profile and len(profile) == 3 and set(profile) - {7} <= {36, 37, 38, 39}


def test_threat_models() -> None:
    injected = run_threat(make_config(attack="a-ra", malicious_fraction=0.005), 6040)
    assert injected.mode == "injected" and injected.malicious_ids.tolist() == list(range(6040, 6070))
    assert injected.num_users == 6070
    compromised = run_threat(make_config(attack="fedattack", malicious_fraction=0.05), 1000)
    assert compromised.mode == "compromised" and len(compromised.malicious_ids) == 50
    assert compromised.num_users == 1000 and compromised.malicious_ids.max() < 1000
    assert len(run_threat(make_config(attack="none"), 1000).malicious_ids) == 0


def test_attack_needs_are_checked_when_the_config_is_validated() -> None:
    with pytest.raises(ConfigError, match="attacker-knowledge='popularity'"):
        make_config(attack="bandwagon")
    with pytest.raises(ConfigError, match="malicious-mode='compromised'"):
        make_config(attack="fedattack", malicious_mode="injected")
    assert make_config(attack="a-ra", malicious_mode="compromised").malicious_mode == "compromised"
