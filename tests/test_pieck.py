"""PIECK's mechanics by hand: popular-item mining, PIECKIPE's loss, PIECKUEA's approximation step, Regula's
terms and their gradients on tiny constructed cases."""

from dataclasses import replace

import numpy as np
import pytest
import torch

from app_config import make_config
from attacks import ATTACKS, AttackRound
from attacks.base import AttackerKnowledge, AttackSetup
from attacks.pieck import ipe_loss, uea_gradient
from client_defenses import CLIENT_DEFENSES
from client_defenses.regula import Regula, ipe_term, rank_weights, uea_term
from fedrec.errors import ConfigError
from fedrec.models.base import ITEM_EMBEDDING
from fedrec.models.registry import build_model
from fedrec.training.item_movement import ItemMovement, items_by_movement
from fedrec.training.local import Objective, compute_user_updates
from fedrec.training.sampling import UserSamples


def _pieck_config(**overrides):  # type: ignore[no-untyped-def]
    return make_config(model="mf", embedding_dim=2, loss="bce", malicious_fraction=0.05, **overrides)


def _attack(config, targets: tuple[int, ...], num_items: int):  # type: ignore[no-untyped-def]
    setup = AttackSetup(config, build_model(config), targets, num_items, AttackerKnowledge())
    return ATTACKS.selected(config)(setup)


# -- popular item mining ----------------------------------------------------------------------------


def test_mining_ranks_items_by_how_far_their_rows_moved_over_the_first_epoch() -> None:
    before = torch.zeros(6, 2)
    after = before.clone()
    after[4] = torch.tensor([3.0, 4.0])  # moved 5
    after[1] = torch.tensor([0.0, 2.0])  # moved 2
    after[3] = torch.tensor([-1.0, 0.0])  # moved 1
    assert items_by_movement(before, after).tolist() == [4, 1, 3, 0, 2, 5]  # ties by item id

    memory = ItemMovement()
    assert memory.most_moved(3, 6).tolist() == [0, 1, 2]  # nothing seen yet: by item id
    memory = memory.observe(before, epoch=0)
    memory = memory.observe(after * 100, epoch=0)  # a later round of epoch 1 keeps the first table
    assert memory.order is None
    memory = memory.observe(after, epoch=1)
    assert memory.first is None and memory.order.tolist() == [4, 1, 3, 0, 2, 5]
    assert memory.most_moved(2, 6, exclude=torch.tensor([4])).tolist() == [1, 3]  # the target left out
    assert memory.observe(torch.randn(6, 2), epoch=5) is memory  # fixed for the rest of the run


# -- PIECKIPE --------------------------------------------------------------------------------------


def test_ipe_loss_averages_the_weighted_cosines_of_each_sign_apart() -> None:
    target = torch.tensor([[1.0, 0.0]])
    popular = torch.tensor([[2.0, 0.0], [0.0, 1.0], [-1.0, 0.0]])  # cos 1, 0, -1; weights 3/6, 2/6, 1/6
    # positive group {1/2}, the rest {0, -1/6}: -0.9 * (1/2 / 1 + (-1/6) / 2)
    assert ipe_loss(target, popular, tau=0.9).item() == pytest.approx(-0.9 * (0.5 - 1 / 12))
    assert ipe_loss(target, popular[:1], tau=0.5).item() == pytest.approx(-0.5)  # one group only


def test_pieck_ipe_clients_upload_the_target_row_only_and_descending_it_raises_the_similarity() -> None:
    config = _pieck_config(attack="pieck-ipe", pieck_popular_items=3, target_items="5")
    attack = _attack(config, (5,), 8)
    torch.manual_seed(0)
    theta = {ITEM_EMBEDDING: torch.randn(8, 2)}
    moved = theta[ITEM_EMBEDDING].clone()
    moved[[6, 5, 2, 0]] += torch.tensor([[4.0, 0.0], [9.0, 0.0], [3.0, 0.0], [2.0, 0.0]])
    memory = ItemMovement().observe(theta[ITEM_EMBEDDING], 0).observe(moved, 1)
    users = np.array([20, 21])
    result = attack.poison(AttackRound({ITEM_EMBEDDING: moved}, 1, users, torch.zeros(2, 2), [], item_movement=memory))
    assert result.updates.item_ids.tolist() == [5, 5] and result.updates.item_indptr.tolist() == [0, 1, 2]
    rows = result.updates.item_grads
    assert torch.equal(rows[0], rows[1])
    popular = moved[[6, 2, 0]]  # the most moved, the target 5 left out
    target = moved[[5]].clone().requires_grad_()
    (expected,) = torch.autograd.grad(ipe_loss(target, popular, tau=0.9), [target])
    assert torch.allclose(rows[0], expected[0])
    assert ipe_loss(moved[[5]] - 0.1 * rows[:1], popular, 0.9) < ipe_loss(moved[[5]], popular, 0.9)


# -- PIECKUEA --------------------------------------------------------------------------------------


def _bce_gradient(users: np.ndarray, target: np.ndarray) -> np.ndarray:
    """d/dt mean_u -log sigmoid(<u, t>) = -mean_u (1 - sigmoid(<u, t>)) u, by hand."""
    sigmoid = 1 / (1 + np.exp(-(users @ target)))
    return -((1 - sigmoid)[:, None] * users).mean(0)


def test_uea_takes_each_batch_of_popular_rows_as_users_and_accumulates_like_the_reference() -> None:
    rng = np.random.default_rng(0)
    popular = rng.normal(size=(11, 3))  # 11 // 5 = 2 rows a batch, the last row unused
    target = rng.normal(size=(1, 3))
    per_batch = [_bce_gradient(popular[2 * b : 2 * b + 2], target[0]) / 5 for b in range(5)]

    def logits(users, items):
        return (users * items).sum(-1)

    as_tensors = torch.from_numpy(target), torch.from_numpy(popular)
    plain = uea_gradient(logits, *as_tensors, batches=5, repeats=3, accumulate=False)
    assert np.allclose(plain.numpy()[0], sum(per_batch))
    # Never zeroed: the k-th of the 15 taken gradients is the sum of the first k; batch b weighs 14 - 3b.
    accumulated = uea_gradient(logits, *as_tensors, batches=5, repeats=3, accumulate=True)
    assert np.allclose(accumulated.numpy()[0], sum((14 - 3 * b) * g for b, g in enumerate(per_batch)))


def test_uea_needs_a_popular_item_per_batch() -> None:
    config = _pieck_config(attack="pieck-uea", pieck_popular_items=4, pieck_uea_batches=5, target_items="1")
    with pytest.raises(ConfigError, match="pieck-uea-batches 5 exceeds pieck-popular-items 4"):
        _attack(config, (1,), 8)


# -- Regula ----------------------------------------------------------------------------------------


def _cosine_gradient(a: np.ndarray, v: np.ndarray) -> np.ndarray:
    """d cos(a, v) / dv, by hand."""
    cosine = a @ v / (np.linalg.norm(a) * np.linalg.norm(v))
    return a / (np.linalg.norm(a) * np.linalg.norm(v)) - cosine * v / (v @ v)


def test_regula_weights_fall_with_the_square_of_the_rank() -> None:
    assert rank_weights(3).tolist() == pytest.approx([9 / 14, 4 / 14, 1 / 14])


def test_regula_ipe_gradient_reaches_only_the_users_non_popular_items() -> None:
    popular_ids = torch.tensor([7, 3])
    popular_rows = torch.tensor([[1.0, 0.0], [1.0, 1.0]])
    weights = rank_weights(2)  # 4/5, 1/5
    items = torch.tensor([[3, 0, 5, 0]])  # a popular item, two others, a padding slot
    mask = torch.tensor([[True, True, True, False]])
    rows = torch.tensor([[[2.0, 1.0], [0.0, 3.0], [1.0, -1.0], [5.0, 5.0]]], requires_grad=True)
    (gradient,) = torch.autograd.grad(ipe_term(rows, items, mask, popular_ids, popular_rows, weights).sum(), [rows])
    for slot in (1, 2):
        v = rows[0, slot].detach().numpy()
        expected = -sum(w * _cosine_gradient(a, v) / 2 for w, a in zip(weights.numpy(), popular_rows.numpy()))
        assert np.allclose(gradient[0, slot].numpy(), expected, atol=1e-6)
    assert torch.all(gradient[0, [0, 3]] == 0)


def test_regula_uea_gradient_pushes_the_user_away_from_the_popular_items_distribution() -> None:
    popular_rows = torch.tensor([[1.0, -1.0, 0.5], [0.0, 2.0, -1.0]])
    weights = rank_weights(2)
    user = torch.tensor([[0.3, -0.2, 0.1]], requires_grad=True)
    (gradient,) = torch.autograd.grad(uea_term(user, popular_rows, weights).sum(), [user])
    q = torch.softmax(user.detach(), -1)[0].numpy()
    expected = np.zeros(3)
    for w, row in zip(weights.numpy(), popular_rows.numpy()):
        log_r = row - np.log(np.exp(row).sum())
        kl = (q * (np.log(q) - log_r)).sum()
        expected -= w * q * (np.log(q) - log_r - kl) / 3  # d KL(softmax(z) || r) / dz, over d = 3
    assert np.allclose(gradient[0].numpy(), expected, atol=1e-6)


def test_regula_adds_its_terms_to_the_benign_objective_and_the_ipe_term_waits_for_the_ranking() -> None:
    config = _pieck_config(client_defense="regula", regula_size=2, negatives=1)
    model = build_model(config)
    torch.manual_seed(1)
    theta = {ITEM_EMBEDDING: torch.randn(6, 2)}
    moved = theta[ITEM_EMBEDDING].clone()
    moved[[4, 1]] += 3.0
    user_emb = torch.tensor([[0.2, -0.4]])
    samples = [UserSamples(np.array([1, 2, 3]), np.array([1.0, 0.0, 1.0], dtype=np.float32), np.full(3, -1))]
    objective = Objective.of(config)
    received = {ITEM_EMBEDDING: moved}
    honest = compute_user_updates(model, received, np.array([0]), user_emb, samples, objective)
    defense = CLIENT_DEFENSES.selected(config)(config)

    def regularised_by(memory: ItemMovement, epoch: int):  # type: ignore[no-untyped-def]
        extra = defense.loss_term(received, epoch, memory)
        return compute_user_updates(model, received, np.array([0]), user_emb, samples, replace(objective, extra=extra))

    first_epoch = regularised_by(ItemMovement().observe(theta[ITEM_EMBEDDING], 0), 0)  # no ranking yet: UEA only
    assert torch.allclose(first_epoch.updates.item_grads, honest.updates.item_grads)  # UEA reaches only p_u
    assert not torch.allclose(first_epoch.user_emb_grad, honest.user_emb_grad)
    regularised = regularised_by(ItemMovement().observe(theta[ITEM_EMBEDDING], 0).observe(moved, 1), 1)
    popular_ids, popular_rows = torch.tensor([1, 4]), moved[[1, 4]]
    rows = moved[[1, 2, 3]].unsqueeze(0).clone().requires_grad_()
    mask = torch.ones(1, 3, dtype=torch.bool)
    ipe = ipe_term(rows, torch.tensor([[1, 2, 3]]), mask, popular_ids, popular_rows, rank_weights(2))
    (ipe_gradient,) = torch.autograd.grad(ipe.sum(), [rows])
    assert torch.allclose(regularised.updates.item_grads - honest.updates.item_grads, ipe_gradient[0], atol=1e-6)
    assert isinstance(defense, Regula)
    user = user_emb.clone().requires_grad_()
    (uea_gradient_of_user,) = torch.autograd.grad(uea_term(user, popular_rows, rank_weights(2)).sum(), [user])
    assert torch.allclose(regularised.user_emb_grad - honest.user_emb_grad, uea_gradient_of_user, atol=1e-6)


def test_regula_refuses_a_privacy_defense_in_one_line() -> None:
    with pytest.raises(ConfigError, match="client-defense 'regula' does not combine with privacy-defense 'ldp'"):
        make_config(client_defense="regula", privacy_defense="ldp")
