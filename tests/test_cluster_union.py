"""ClusterAttack and UNION (Yu et al., AAAI 2023) by hand: the attack's pull, the client-side term, the filter."""

import numpy as np
import pytest
import torch

from app_config import make_config
from attacks import ATTACKS, AttackRound
from attacks.base import AttackerKnowledge, AttackSetup
from attacks.cluster_attack import cluster_pull, item_row_norm_stats, rescaled_rows
from fedrec.directory import UserDirectory
from fedrec.errors import ConfigError
from fedrec.models.base import ITEM_EMBEDDING
from fedrec.models.registry import MODELS
from fedrec.robust.union import two_means_1d, uniformity, union_flags
from fedrec.training.local import Objective, compute_user_updates, uniformity_loss
from fedrec.training.sampling import UNION_NEGATIVES, UserSamples, contrast_rows
from fedrec.updates import UserUpdates
from strategies import STRATEGIES

NUM_ITEMS = 40
DIM = 4


def _two_blobs() -> tuple[torch.Tensor, torch.Tensor]:
    """20 items around (5, 5, 0, 0) and 20 around (-5, -5, 0, 0), and their blob means."""
    generator = torch.Generator().manual_seed(0)
    noise = torch.randn(NUM_ITEMS, DIM, generator=generator)
    centres = torch.tensor([[5.0, 5.0, 0.0, 0.0]] * 20 + [[-5.0, -5.0, 0.0, 0.0]] * 20)
    items = centres + noise
    means = torch.cat([items[:20].mean(0).expand(20, DIM), items[20:].mean(0).expand(20, DIM)])
    return items, means


def test_cluster_pull_is_the_distance_gradient_and_pulls_items_to_their_centroid() -> None:
    items, means = _two_blobs()
    pull = cluster_pull(items, clusters=2, seed=3)
    torch.testing.assert_close(pull, 2 * (items - means) / 2, atol=1e-5, rtol=1e-5)
    stepped = items - 0.5 * pull  # a descent step of the server
    torch.testing.assert_close((stepped - means).norm(dim=1), 0.5 * (items - means).norm(dim=1), atol=1e-5, rtol=1e-5)


def test_rows_are_rescaled_to_the_honest_norm_range() -> None:
    items, _ = _two_blobs()
    rows = rescaled_rows(cluster_pull(items, 2, 3), 0.2, 0.05, 3.0, np.random.default_rng(0))
    norms = rows.norm(dim=1)
    assert bool((norms >= 0.2 - 1e-6).all()) and bool((norms <= 0.2 + 3 * 0.05 + 1e-6).all())
    assert norms.std() > 0  # a fresh U(0, 1) per item


def test_norm_stats_count_unsent_rows_as_zero() -> None:
    updates = UserUpdates.from_users([7], [torch.tensor([1])], [torch.tensor([[3.0, 4.0]])], [{}], [2])
    mean, std = item_row_norm_stats(updates, num_items=4)
    assert mean == 5.0 / 4 and abs(std - float(torch.tensor([0.0, 5.0, 0.0, 0.0]).std())) < 1e-12


def test_cluster_attack_uploads_every_item_pulled_to_its_centroid() -> None:
    config = make_config(attack="cluster-attack", model="mf", embedding_dim=DIM, loss="bpr", negatives=1)
    model = MODELS.get("mf")(config.embedding_dim, config.hidden_layers)
    items, means = _two_blobs()
    theta = {ITEM_EMBEDDING: items}
    attack = ATTACKS.get("cluster-attack")(AttackSetup(config, model, (0,), NUM_ITEMS, AttackerKnowledge()))
    own = [np.array([0, 3, 25]), np.array([1, 30])]
    result = attack.poison(
        AttackRound(theta, 0, np.array([4, 9]), torch.full((2, DIM), 0.1), [np.sort(o) for o in own])
    )
    updates = result.updates
    assert updates.item_indptr.tolist() == [0, NUM_ITEMS, 2 * NUM_ITEMS]
    assert updates.num_samples.tolist() == [6, 4]  # their own positives and negatives, as benign users report
    direction = torch.nn.functional.normalize(items - means, dim=1)
    for k in range(2):
        rows = updates.item_grads[k * NUM_ITEMS : (k + 1) * NUM_ITEMS]
        cosine = (torch.nn.functional.normalize(rows, dim=1) * direction).sum(1)
        assert bool((cosine > 0.999).all())
    assert not torch.equal(updates.item_grads[:NUM_ITEMS], updates.item_grads[NUM_ITEMS:])


def test_uniformity_loss_by_hand() -> None:
    anchor, positive, negative = [1.0, 0.0], [1.0, 0.0], [0.0, 1.0]
    candidates = torch.tensor([[[anchor, positive, negative]]], requires_grad=True)
    loss = uniformity_loss(candidates, torch.ones(1, 1), "mean")
    torch.testing.assert_close(loss, torch.tensor([np.log(1 + np.exp(-1.0))], dtype=torch.float32))
    loss.sum().backward()
    weights = torch.softmax(torch.tensor([1.0, 0.0]), 0)  # of (positive, negative) given the anchor
    expected_anchor = weights[0] * torch.tensor(positive) + weights[1] * torch.tensor(negative) - torch.tensor(positive)
    torch.testing.assert_close(candidates.grad[0, 0, 0], expected_anchor)
    torch.testing.assert_close(candidates.grad[0, 0, 1], (weights[0] - 1) * torch.tensor(anchor))
    torch.testing.assert_close(candidates.grad[0, 0, 2], weights[1] * torch.tensor(anchor))


def test_contrast_rows_draw_another_positive_and_distinct_unseen_items() -> None:
    train = np.array([2, 5, 9])
    rows = contrast_rows(train, 60, np.random.default_rng(0))
    assert rows.shape == (3, 2 + UNION_NEGATIVES)
    assert rows[:, 0].tolist() == [2, 5, 9] and bool((rows[:, 1] != rows[:, 0]).all())
    assert bool(np.isin(rows[:, 1], train).all())
    negatives = rows[:, 2:]
    assert not np.isin(negatives, train).any() and all(len(set(r)) == UNION_NEGATIVES for r in negatives)


def test_the_uniformity_term_adds_its_gradient_to_the_uploaded_rows() -> None:
    model = MODELS.get("mf")(DIM, (8,))
    items, _ = _two_blobs()
    theta = {ITEM_EMBEDDING: items / 5}
    contrast = contrast_rows(np.array([2, 5, 9]), NUM_ITEMS, np.random.default_rng(1))
    samples = UserSamples(
        items=np.array([2, 5, 9, 11, 12, 13]),
        labels=np.array([1, 1, 1, 0, 0, 0], dtype=np.float32),
        partner=np.array([-1, -1, -1, 0, 1, 2]),
        contrast=contrast,
    )
    user = torch.full((1, DIM), 0.3)
    plain = compute_user_updates(model, theta, np.array([0]), user, [samples], Objective("bpr"))
    with_term = compute_user_updates(model, theta, np.array([0]), user, [samples], Objective("bpr", uniformity=0.5))
    dense = torch.zeros(2, NUM_ITEMS, DIM)
    dense[0, plain.updates.item_ids] = plain.updates.item_grads
    dense[1, with_term.updates.item_ids] = with_term.updates.item_grads
    table = theta[ITEM_EMBEDDING].clone().requires_grad_()
    term = uniformity_loss(table[torch.from_numpy(contrast)][None], torch.ones(1, 3), "mean")
    (expected,) = torch.autograd.grad(0.5 * term.sum(), table)
    torch.testing.assert_close(dense[1] - dense[0], expected, atol=1e-6, rtol=1e-5)
    assert set(with_term.updates.item_ids.tolist()) == set(contrast.ravel().tolist()) | {11, 12, 13}


def test_two_means_1d_is_the_best_split() -> None:
    inertia, split = two_means_1d(np.array([[5.1, 0.0, 5.0, 0.1]]))
    assert split.tolist() == [2] and abs(inertia[0] - 0.01) < 1e-12


def test_union_flags_a_separate_group_and_nothing_in_an_even_spread() -> None:
    rng = np.random.default_rng(0)
    benign = torch.linspace(0.98, 1.02, 10, dtype=torch.float64)
    clustered = torch.cat([benign, torch.tensor([0.1, 0.12], dtype=torch.float64)])
    assert union_flags(clustered, 0, 50, rng).tolist() == [False] * 10 + [True, True]
    assert not union_flags(benign, 0, 50, rng).any()
    assert union_flags(torch.cat([benign, torch.tensor([0.5], dtype=torch.float64)]), 1, 50, rng)[-1]


def test_uniformity_is_the_mean_pairwise_distance() -> None:
    rows = torch.tensor([[[0.0, 0.0], [3.0, 4.0], [0.0, 0.0]]])
    torch.testing.assert_close(uniformity(rows), torch.tensor([(5 + 5 + 0) * 2 / 6], dtype=torch.float64))


def _strategy(defense: str, **overrides: object):  # type: ignore[no-untyped-def]
    settings = {"model": "mf", "embedding_dim": DIM, "server_optimizer": "sgd", "lr": 1.0}
    config = make_config(defense=defense, union_sampled_items=200, tolerated_attackers=1, **{**settings, **overrides})
    items, _ = _two_blobs()
    theta = {ITEM_EMBEDDING: items.clone()}
    return STRATEGIES.get(defense)(config, UserDirectory.from_nodes({1: np.arange(10)}), theta, (0,)), items


def _round_with_a_clustering_upload(items: torch.Tensor) -> UserUpdates:
    """9 benign users with small random rows on every item, and user 9 whose upload collapses the items."""
    generator = torch.Generator().manual_seed(1)
    rows = [0.01 * torch.randn(NUM_ITEMS, DIM, generator=generator) for _ in range(9)]
    rows.append(0.9 * (items - items.mean(0)))
    all_items = [torch.arange(NUM_ITEMS)] * 10
    return UserUpdates.from_users(list(range(10)), all_items, rows, [{}] * 10, [10 + k for k in range(10)])


def test_union_rejects_the_clustering_upload_and_averages_the_rest_by_sample_count() -> None:
    strategy, items = _strategy("union")
    updates = _round_with_a_clustering_upload(items)
    decision = strategy.aggregate(updates)
    assert decision.flagged.tolist() == [False] * 9 + [True]
    benign = updates.select(torch.arange(10) < 9)
    weights = benign.num_samples.float() / benign.num_samples.sum()
    expected = (benign.item_grads.reshape(9, NUM_ITEMS, DIM) * weights[:, None, None]).sum(0)
    got = torch.zeros(NUM_ITEMS, DIM).index_add_(0, decision.gradient.item_ids, decision.gradient.item_rows)
    torch.testing.assert_close(got, expected)


def test_union_pairings_reject_or_bound_as_the_reference_does() -> None:
    strategy, items = _strategy("norm-bound-union", norm_bound=0.01)
    decision = strategy.aggregate(_round_with_a_clustering_upload(items))
    assert decision.flagged.tolist() == [False] * 9 + [True]
    got = torch.zeros(NUM_ITEMS, DIM).index_add_(0, decision.gradient.item_ids, decision.gradient.item_rows)
    assert float(got.norm()) <= 0.01 + 1e-6  # a weighted mean of updates bounded to 0.01
    strategy, items = _strategy("multi-krum-union", server_optimizer="adam", lr=0.01)
    decision = strategy.aggregate(_round_with_a_clustering_upload(items))
    assert bool(decision.flagged[9]) and int(decision.flagged.sum()) <= 2  # UNION's and Multi-Krum's f = 1


def test_norm_bound_union_bounds_each_users_update_with_its_l2_term_of_every_row_as_the_reference_does() -> None:
    """Under `l2-scope = "all"` a user's update is its upload plus l2 * Θ on every row (the server adds the term
    after the rule): NormBoundUNION bounds that whole vector, so the norm counts the term and the term is scaled
    with the user's factor, which gives the reference's Σ w_i c_i (d_i + l2 Θ)."""
    l2, bound = 0.5, 0.05
    strategy, items = _strategy("norm-bound-union", norm_bound=bound, l2_scope="all", l2_reg=l2)
    generator = torch.Generator().manual_seed(2)
    sent = [torch.arange(NUM_ITEMS // 2)] * 9 + [torch.arange(NUM_ITEMS)]  # benign users send half of the rows
    rows = [0.01 * torch.randn(NUM_ITEMS // 2, DIM, generator=generator) for _ in range(9)]
    rows.append(0.9 * (items - items.mean(0)))
    updates = UserUpdates.from_users(list(range(10)), sent, rows, [{}] * 10, [10 + k for k in range(10)])
    decision = strategy.aggregate(updates)
    assert bool(decision.flagged[9])
    kept = (~decision.flagged).nonzero().flatten().tolist()
    dense = torch.zeros(10, NUM_ITEMS, DIM, dtype=torch.float64)
    for user in range(10):
        dense[user, sent[user]] = rows[user].double()
    whole = dense[kept] + l2 * items.double()  # each kept user's dense gradient, its L2 on every row included
    factors = (bound / whole.flatten(1).norm(dim=1)).clamp(max=1.0)
    assert float(factors.max()) < 1.0  # every update is bounded, the L2 term counted in its norm
    weights = updates.num_samples[kept].double() / updates.num_samples[kept].sum()
    expected_step = (weights[:, None, None] * factors[:, None, None] * whole).sum(0)
    strategy.server_step(decision.gradient)  # SGD at lr 1.0: Θ' = Θ - the step
    torch.testing.assert_close(
        strategy.theta[ITEM_EMBEDDING].double(), items.double() - expected_step, rtol=1e-6, atol=1e-6
    )  # float32 Θ
    assert decision.gradient.l2_share == pytest.approx(float((weights * factors).sum()))


def test_union_keeps_the_whole_l2_term_and_norm_bounding_alone_still_refuses_it() -> None:
    strategy, items = _strategy("union", l2_scope="all", l2_reg=0.5)
    assert strategy.aggregate(_round_with_a_clustering_upload(items)).gradient.l2_share == 1.0
    with pytest.raises(ConfigError, match="equals each client's L2 only under a mean"):
        make_config(defense="norm-bound", norm_bound=0.1, l2_scope="all", l2_reg=0.5)
