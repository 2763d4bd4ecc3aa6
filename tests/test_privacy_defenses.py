"""Client-side privacy defenses: the LDP noise has its stated scale and bounds, the accountant its closed
form, and pseudo items upload what the design says (hidden signs, p_u untouched, the stated bias)."""

import itertools
import math
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from fedrec.models.registry import MODELS
from fedrec.training.local import Objective, compute_user_updates
from fedrec.training.sampling import UserSamples, user_samples
from fedrec.updates import UserUpdates
from privacy.accounting import (
    gaussian_delta,
    gaussian_noise_multiplier,
    gaussian_rdp_epsilon,
    ldp_epsilon_over_run,
)
from privacy.defenses import NoDefense
from privacy.ldp import LocalDP, clip_rows, privatise
from privacy.pseudo_items import PseudoItems, pseudo_items, pseudo_upload, upload_samples

NUM_ITEMS, NEGATIVES, SEED = 80, 4, 7


def _config(**overrides: object) -> SimpleNamespace:
    values = {
        "loss": "bce",
        "negatives": NEGATIVES,
        "seed": SEED,
        "epochs": 5,
        "repeated_items": "summed",
        "loss_reduction": "mean",
        "l2_reg": 0.0,
        "l2_scope": "touched",
        "uniformity_reg": 0.0,
        "ldp_mechanism": "gaussian",
        "ldp_epsilon": 1.0,
        "ldp_delta": 1e-5,
        "ldp_clip_item": 0.01,
        "ldp_clip_dense": 0.5,
        "pseudo_items": 3,
        "pseudo_items_label": "positive",
        "resample_negatives": True,
        "negatives_avoid_held_out": False,
        "embedding_dropout": 0.0,
    }
    return SimpleNamespace(**{**values, **overrides})


def _users(model_name: str = "ncf", num_users: int = 4, epoch: int = 0, seed: int = SEED):
    """A model, its Θ, users with 4-9 positives each, their p_u and their samples of `epoch`."""
    model = MODELS.get(model_name)(8, (8, 8))
    theta = model.init_theta(NUM_ITEMS, seed)
    rng = np.random.default_rng(seed)
    user_ids = np.arange(num_users, dtype=np.int64)
    train = {int(u): np.sort(rng.choice(NUM_ITEMS, size=int(rng.integers(4, 10)), replace=False)) for u in user_ids}
    samples = [user_samples(u, train[u], NUM_ITEMS, NEGATIVES, seed, epoch) for u in train]
    return model, theta, user_ids, model.init_user_embeddings(user_ids, seed), samples


def _rows(updates: UserUpdates, position: int) -> dict[int, torch.Tensor]:
    start, end = int(updates.item_indptr[position]), int(updates.item_indptr[position + 1])
    return {int(i): row for i, row in zip(updates.item_ids[start:end], updates.item_grads[start:end])}


def _zero_updates(num_users: int, rows: int, dense_shape: tuple[int, ...] = (4, 3)) -> UserUpdates:
    return UserUpdates.from_users(
        user_ids=list(range(num_users)),
        item_ids=[torch.arange(rows)] * num_users,
        item_grads=[torch.zeros(rows, 8)] * num_users,
        dense_grads=[{"w": torch.zeros(dense_shape)}] * num_users,
        num_samples=[rows] * num_users,
    )


# --- calibration and accounting -------------------------------------------------------------------


def test_analytic_gaussian_meets_delta_exactly_and_beats_the_classic_formula() -> None:
    s = gaussian_noise_multiplier(1.0, 1e-5)
    # Balle & Wang's value for eps=1, delta=1e-5; dp-accounting's PLD of N(0, s^2) gives delta=1e-5 at eps=1 too.
    assert s == pytest.approx(3.73063, abs=1e-5)
    assert gaussian_delta(s, 1.0) == pytest.approx(1e-5, rel=1e-8)
    for epsilon in (0.1, 0.5, 0.9):
        classic = math.sqrt(2 * math.log(1.25 / 1e-5)) / epsilon
        assert gaussian_noise_multiplier(epsilon, 1e-5) < classic
    assert gaussian_noise_multiplier(10.0, 1e-5) == pytest.approx(0.49989, abs=1e-5)  # large eps: still solved


def test_rdp_accountant_matches_the_closed_form_and_a_grid_over_orders() -> None:
    # s = 1, T = 2, delta = e^-4: rho = 1, optimum at alpha = 3: 1*3 + 4/(3-1) = 5.
    assert gaussian_rdp_epsilon(1.0, 2, math.exp(-4)) == pytest.approx(5.0, rel=1e-12)
    s, epochs, delta = gaussian_noise_multiplier(1.0, 1e-5), 30, 1e-5
    orders = 1 + np.geomspace(1e-3, 1e4, 200_001)
    grid = float(np.min(epochs * orders / (2 * s**2) + math.log(1 / delta) / (orders - 1)))
    budget = ldp_epsilon_over_run("gaussian", 1.0, delta, epochs)
    assert budget.delta == delta
    assert budget.epsilon == pytest.approx(grid, rel=1e-6)
    assert budget.epsilon == pytest.approx(8.12285, abs=1e-4)


def test_run_epsilon_grows_with_epochs_and_laplace_composes_basically() -> None:
    gaussian = [ldp_epsilon_over_run("gaussian", 1.0, 1e-5, epochs).epsilon for epochs in range(1, 31)]
    assert all(later > earlier for earlier, later in itertools.pairwise(gaussian))
    assert gaussian[29] < 30 * 1.0  # RDP beats basic composition over 30 epochs
    laplace = ldp_epsilon_over_run("laplace", 0.5, 1e-5, 12)
    assert (laplace.epsilon, laplace.delta) == (6.0, 0.0)


# --- local DP ---------------------------------------------------------------------------------------


def test_gaussian_noise_has_the_calibrated_std() -> None:
    config = _config(ldp_epsilon=2.0, ldp_delta=1e-6, ldp_clip_item=0.1, ldp_clip_dense=0.3)
    noisy = privatise(_zero_updates(400, rows=5), config, epoch=3)  # zero updates: the output is the noise
    sigma = 2 * math.sqrt(5 * 0.1**2 + 0.3**2) * gaussian_noise_multiplier(2.0, 1e-6)
    values = torch.cat([noisy.item_grads.ravel(), noisy.dense_grads["w"].ravel()]).double()
    assert values.numel() == 400 * (5 * 8 + 12)
    assert float(values.std()) == pytest.approx(sigma, rel=0.03)
    assert abs(float(values.mean())) < 0.03 * sigma


def test_laplace_noise_has_scale_l1_sensitivity_over_epsilon() -> None:
    config = _config(ldp_mechanism="laplace", ldp_epsilon=4.0, ldp_clip_item=0.1, ldp_clip_dense=0.3)
    noisy = privatise(_zero_updates(400, rows=5), config, epoch=0)
    scale = 2 * (5 * math.sqrt(8) * 0.1 + math.sqrt(12) * 0.3) / 4.0  # b = Delta_1 / eps
    values = torch.cat([noisy.item_grads.ravel(), noisy.dense_grads["w"].ravel()]).double()
    assert float(values.abs().mean()) == pytest.approx(scale, rel=0.03)  # E|X| = b
    assert float(values.std()) == pytest.approx(math.sqrt(2) * scale, rel=0.03)


def test_clipping_bounds_each_row_and_the_dense_part() -> None:
    rows = torch.tensor([[3.0, 4.0], [0.3, 0.4], [0.0, 0.0]])
    clipped = clip_rows(rows, 1.0)
    assert torch.allclose(clipped, torch.tensor([[0.6, 0.8], [0.3, 0.4], [0.0, 0.0]]))
    model, theta, user_ids, user_emb, samples = _users()
    honest = compute_user_updates(model, theta, user_ids, user_emb, samples, Objective("bce"))
    # Bounds below most honest norms, and noise negligible (eps huge): rows above the bound land on it.
    config = _config(ldp_mechanism="laplace", ldp_epsilon=1e12, ldp_clip_item=1e-3, ldp_clip_dense=1e-2)
    private = privatise(honest.updates, config, epoch=0)
    before, after = honest.updates.item_grads.norm(dim=1), private.item_grads.norm(dim=1)
    above = before > 1e-3
    assert int(above.sum()) > 0.8 * len(before)
    assert torch.allclose(after[above], torch.full((int(above.sum()),), 1e-3), rtol=1e-4)
    assert torch.allclose(private.item_grads[~above], honest.updates.item_grads[~above], atol=1e-9)
    dense = torch.cat([g.reshape(len(user_ids), -1) for g in private.dense_grads.values()], dim=1)
    assert torch.allclose(dense.norm(dim=1), torch.full((len(user_ids),), 1e-2), rtol=1e-4)
    # Clipping scales, it does not turn: each row keeps its direction.
    cosine = torch.nn.functional.cosine_similarity(private.item_grads[above], honest.updates.item_grads[above], dim=1)
    assert torch.allclose(cosine, torch.ones_like(cosine), atol=1e-5)


def test_ldp_noise_is_reproducible_and_independent_of_the_node_layout() -> None:
    config = _config()
    together = privatise(_zero_updates(6, rows=3), config, epoch=2)
    again = privatise(_zero_updates(6, rows=3), config, epoch=2)
    assert torch.equal(together.item_grads, again.item_grads)
    alone = privatise(_zero_updates(6, rows=3).select(torch.arange(6) == 4), config, epoch=2)
    assert torch.equal(alone.item_grads, together.item_grads[12:15])
    assert torch.equal(alone.dense_grads["w"][0], together.dense_grads["w"][4])
    other_epoch = privatise(_zero_updates(6, rows=3), config, epoch=3)
    other_seed = privatise(_zero_updates(6, rows=3), _config(seed=SEED + 1), epoch=2)
    assert not torch.equal(other_epoch.item_grads, together.item_grads)
    assert not torch.equal(other_seed.item_grads, together.item_grads)


def test_local_dp_keeps_ids_counts_and_the_honest_user_step() -> None:
    model, theta, user_ids, user_emb, samples = _users()
    honest = NoDefense().local_update(model, theta, user_ids, user_emb, samples, _config(), epoch=1)
    private = LocalDP().local_update(model, theta, user_ids, user_emb, samples, _config(), epoch=1)
    for name in ("user_ids", "item_indptr", "item_ids", "num_samples"):
        assert torch.equal(getattr(private.updates, name), getattr(honest.updates, name))
    assert torch.equal(private.user_emb_grad, honest.user_emb_grad)
    assert torch.equal(private.losses, honest.losses)
    assert not torch.allclose(private.updates.item_grads, honest.updates.item_grads)


# --- pseudo items -----------------------------------------------------------------------------------


def test_pseudo_items_are_k_fresh_ids_uploaded_beside_every_real_one() -> None:
    k = 5
    config = _config(pseudo_items=k)
    model, theta, user_ids, user_emb, samples = _users()
    honest = compute_user_updates(model, theta, user_ids, user_emb, samples, Objective("bce"))
    result = PseudoItems().local_update(model, theta, user_ids, user_emb, samples, config, epoch=0)
    for position, own in enumerate(samples):
        user = int(user_ids[position])
        positives = set(own.items[own.labels == 1].tolist())
        pseudo = set(pseudo_items(own.items[own.labels == 1], NUM_ITEMS, k, SEED, user).tolist())
        upload = pseudo_upload(own, user, NUM_ITEMS, config, epoch=0)
        uploaded = set(_rows(result.updates, position))
        assert len(pseudo) == k and not pseudo & positives
        assert uploaded == set(upload.items.tolist())
        assert set(upload.items[upload.labels == 1].tolist()) == positives | pseudo
        assert not set(upload.items[upload.labels == 0].tolist()) & (positives | pseudo)  # no pseudo item is a negative
        assert uploaded >= set(_rows(honest.updates, position)) | pseudo
        assert int(result.updates.num_samples[position]) == (len(positives) + k) * (1 + NEGATIVES)


def test_a_negative_drawn_onto_a_pseudo_item_is_redrawn_outside_the_claimed_items() -> None:
    # 12 items, 3 positives, 3 pseudo items: 48 negatives drawn among 9 items cannot all miss the pseudo ones.
    positives = np.array([1, 5, 9])
    own = user_samples(0, positives, 12, 16, SEED, 0)
    pseudo = pseudo_items(positives, 12, 3, SEED, 0)
    assert np.isin(own.items[own.labels == 0], pseudo).any()
    upload = upload_samples(own, pseudo, 12, 16, "positive", np.random.default_rng(0))
    claimed = np.union1d(positives, pseudo)
    assert np.array_equal(np.sort(upload.items[upload.labels == 1]), claimed)
    assert not np.isin(upload.items[upload.labels == 0], claimed).any()
    assert (upload.labels == 0).sum() == 16 * len(claimed)
    # Every negative is paired with a positive of its own block (BPR).
    assert np.array_equal(upload.partner[upload.labels == 0], np.repeat(np.arange(len(claimed)), 16))


def test_pseudo_items_stay_fixed_over_epochs_and_do_not_depend_on_the_node_layout() -> None:
    """Fresh pseudo items each epoch would let the server intersect id sets over epochs and keep the positives."""
    config = _config(pseudo_items=4)
    claimed = []
    for epoch in (0, 5):
        *_, samples = _users(num_users=3, epoch=epoch)
        upload = pseudo_upload(samples[2], 2, NUM_ITEMS, config, epoch)
        claimed.append((set(upload.items[upload.labels == 1]), set(upload.items[upload.labels == 0])))
    assert claimed[0][0] == claimed[1][0]  # the same positives, real and pseudo, every epoch
    assert claimed[0][1] != claimed[1][1]  # while the negatives change
    positives = samples[2].items[samples[2].labels == 1]
    assert not np.array_equal(
        pseudo_items(positives, NUM_ITEMS, 4, SEED, 2), pseudo_items(positives, NUM_ITEMS, 4, SEED + 1, 2)
    )
    model, theta, user_ids, user_emb, samples = _users(num_users=3)
    together = PseudoItems().local_update(model, theta, user_ids, user_emb, samples, config, epoch=1)
    alone = PseudoItems().local_update(model, theta, user_ids[2:], user_emb[2:], samples[2:], config, epoch=1)
    assert set(_rows(alone.updates, 0)) == set(_rows(together.updates, 2))
    assert torch.equal(alone.updates.num_samples, together.updates.num_samples[2:])


@pytest.mark.parametrize("model_name", ["ncf", "mf"])
def test_pseudo_items_leave_the_users_own_step_honest(model_name: str) -> None:
    model, theta, user_ids, user_emb, samples = _users(model_name)
    honest = compute_user_updates(model, theta, user_ids, user_emb, samples, Objective("bce"))
    result = PseudoItems().local_update(model, theta, user_ids, user_emb, samples, _config(pseudo_items=6), epoch=0)
    assert torch.equal(result.user_emb_grad, honest.user_emb_grad)
    assert torch.equal(result.losses, honest.losses)
    assert not torch.equal(result.updates.num_samples, honest.updates.num_samples)


def test_zero_pseudo_items_upload_the_honest_update() -> None:
    model, theta, user_ids, user_emb, samples = _users()
    honest = compute_user_updates(model, theta, user_ids, user_emb, samples, Objective("bce"))
    result = PseudoItems().local_update(model, theta, user_ids, user_emb, samples, _config(pseudo_items=0), epoch=0)
    assert torch.equal(result.updates.item_ids, honest.updates.item_ids)
    assert torch.allclose(result.updates.item_grads, honest.updates.item_grads, atol=1e-9)


@pytest.mark.parametrize("loss", ["bce", "bpr"])
def test_the_upload_is_the_honest_one_plus_exactly_the_pseudo_samples_gradient(loss: str) -> None:
    """The bias as stated: N'·U' = N·U + k(1+r)·U_S, i.e. U' = n/(n+k)·U + k/(n+k)·U_S, with U the gradient
    of the real samples (negatives that hit a pseudo item redrawn) and U_S that of the pseudo samples alone."""
    k = 4
    model, theta, user_ids, user_emb, samples = _users()
    config = _config(loss=loss, pseudo_items=k)
    result = PseudoItems().local_update(model, theta, user_ids, user_emb, samples, config, epoch=0)
    for position, own in enumerate(samples):
        user = int(user_ids[position])
        pseudo = pseudo_items(own.items[own.labels == 1], NUM_ITEMS, k, SEED, user)
        upload = pseudo_upload(own, user, NUM_ITEMS, config, epoch=0)
        # Upload layout: positives, pseudo items, real negatives (any that hit a pseudo item redrawn), pseudo negatives.
        n, num_neg = int((own.labels == 1).sum()), int((own.labels == 0).sum())
        assert np.array_equal(upload.items[n : n + k], pseudo)
        real_negatives = upload.items[n + k : n + k + num_neg]
        kept = ~np.isin(own.items[n:], pseudo)
        assert np.array_equal(real_negatives[kept], own.items[n:][kept])
        real_items = np.concatenate([own.items[:n], real_negatives])
        real = UserSamples(items=real_items, labels=own.labels, partner=own.partner)
        alone = UserSamples(
            items=np.concatenate([pseudo, upload.items[n + k + num_neg :]]),
            labels=np.concatenate([np.ones(k), np.zeros(k * NEGATIVES)]).astype(np.float32),
            partner=np.concatenate([np.full(k, -1), np.repeat(np.arange(k), NEGATIVES)]),
        )
        one = (user_ids[[position]], user_emb[[position]])
        real_part = compute_user_updates(model, theta, *one, [real], Objective(loss))
        pseudo_part = compute_user_updates(model, theta, *one, [alone], Objective(loss))
        expected: dict[int, torch.Tensor] = {}
        for weight, updates, at in ((n / (n + k), real_part.updates, 0), (k / (n + k), pseudo_part.updates, 0)):
            for item, row in _rows(updates, at).items():
                expected[item] = expected.get(item, torch.zeros(8)) + weight * row
        got = _rows(result.updates, position)
        assert set(got) == set(expected)
        for item in got:
            assert torch.allclose(got[item], expected[item], atol=1e-8, rtol=1e-4)
        for name, grad in result.updates.dense_grads.items():
            real_grad, pseudo_grad = real_part.updates.dense_grads[name][0], pseudo_part.updates.dense_grads[name][0]
            mixed = n / (n + k) * real_grad + k / (n + k) * pseudo_grad
            assert torch.allclose(grad[position], mixed, atol=1e-7, rtol=1e-4)  # BPR's last bias: 0 up to rounding


@pytest.mark.parametrize("label", ["positive", "negative"])
def test_only_positive_pseudo_items_hide_the_signs_of_mf_rows(label: str) -> None:
    """MF rows are (σ(s) − y)/N · p_u: the sign attack calls an item a positive when its row points against p_u."""
    model, theta, user_ids, user_emb, samples = _users("mf")
    result = PseudoItems().local_update(
        model, theta, user_ids, user_emb, samples, _config(pseudo_items=5, pseudo_items_label=label), epoch=0
    )
    for position, own in enumerate(samples):
        positives = set(own.items[own.labels == 1].tolist())
        pseudo = set(pseudo_items(own.items[own.labels == 1], NUM_ITEMS, 5, SEED, int(user_ids[position])).tolist())
        rows = _rows(result.updates, position)
        called_positive = {item for item, row in rows.items() if float(row @ user_emb[position]) < 0}
        assert called_positive == (positives | pseudo if label == "positive" else positives)
    expected_samples = [(len(s.items) // (1 + NEGATIVES) + 5) * (1 + NEGATIVES) for s in samples]
    if label == "positive":
        assert result.updates.num_samples.tolist() == expected_samples  # the count prior counts them as positives
    else:
        assert result.updates.num_samples.tolist() == [len(s.items) + 5 for s in samples]
