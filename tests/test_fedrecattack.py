"""FedRecAttack on tiny MF and NCF models with hand-built public interactions."""

import numpy as np
import pytest
import scipy.sparse as sp
import torch

from app_config import make_config
from attacks import ATTACKS, AttackRound
from attacks.base import AttackerKnowledge, AttackSetup
from attacks.fedrecattack import TOP_K, FedRecAttack
from fedrec.errors import ConfigError
from fedrec.models.base import ITEM_EMBEDDING, dense_names
from fedrec.models.registry import MODELS
from fedrec.training.server_step import ThetaGradient, apply_gradient

NUM_ITEMS = 50
NUM_USERS = 35  # users 30..34 have no public interaction
TARGETS = (45, 46)  # nobody's public interaction
KAPPA = 12
FAKE_USERS = [300, 301, 302]


def _public() -> sp.csr_array:
    """30 users with 4 public items each among items 0..39, overlapping in shifted blocks."""
    rows = np.repeat(np.arange(30), 4)
    cols = (3 * rows + 5 * np.tile(np.arange(4), 30)) % 40
    return sp.csr_array((np.ones(len(rows)), (rows, cols)), shape=(NUM_USERS, NUM_ITEMS))


def _setup(model: str = "ncf", public: sp.csr_array | None = None, targets=TARGETS, **overrides: object):  # type: ignore[no-untyped-def]
    settings: dict[str, object] = {"embedding_dim": 8, "hidden_layers": "8,8", "fedrecattack_items": KAPPA}
    config = make_config(
        attack="fedrecattack", attacker_knowledge="public-interactions", model=model, **{**settings, **overrides}
    )
    rec_model = MODELS.get(model)(config.embedding_dim, config.hidden_layers)
    theta = rec_model.init_theta(NUM_ITEMS, seed=0)
    knowledge = AttackerKnowledge(public_interactions=_public() if public is None else public)
    attack = ATTACKS.get("fedrecattack")(AttackSetup(config, rec_model, targets, NUM_ITEMS, knowledge))
    return config, rec_model, theta, attack


def _round(theta, users, epoch: int = 0) -> AttackRound:  # type: ignore[no-untyped-def]
    users = np.asarray(users, dtype=np.int64)
    return AttackRound(
        theta=theta,
        epoch=epoch,
        user_ids=users,
        user_emb=torch.full((len(users), 8), 0.5),
        own_items=[np.zeros(0, dtype=np.int64)] * len(users),
    )


def _client(updates, k: int) -> tuple[torch.Tensor, torch.Tensor]:  # type: ignore[no-untyped-def]
    start, end = int(updates.item_indptr[k]), int(updates.item_indptr[k + 1])
    return updates.item_ids[start:end], updates.item_grads[start:end]


def _summed(updates) -> ThetaGradient:  # type: ignore[no-untyped-def]
    return ThetaGradient(updates.item_ids, updates.item_grads, {k: v.sum(0) for k, v in updates.dense_grads.items()})


def _uploaded_dense(updates) -> torch.Tensor:  # type: ignore[no-untyped-def]
    """Every item row the call uploaded, summed into a dense [M, d] matrix."""
    total = torch.zeros(NUM_ITEMS, updates.item_grads.shape[1])
    return total.index_add_(0, updates.item_ids, updates.item_grads)


def _target_stats(model, theta, users: torch.Tensor) -> tuple[float, float]:  # type: ignore[no-untyped-def]
    """Mean rank (0 = top) of the targets over `users`, and the share of (user, target) pairs in the top-10."""
    with torch.no_grad():
        scores = model.score_all_items(theta, users)
    ranks = torch.stack([(scores > scores[:, [t]]).sum(1) for t in TARGETS]).float()
    return float(ranks.mean()), float((ranks < 10).float().mean())


@pytest.mark.parametrize("model", ["ncf", "mf"])
@pytest.mark.parametrize("grad_limit", [1.0, 0.05])
def test_each_client_uploads_kappa_items_with_the_targets_and_clipped_rows(model: str, grad_limit: float) -> None:
    _, rec_model, theta, attack = _setup(model, fedrecattack_grad_limit=grad_limit)
    theta_before = {name: tensor.clone() for name, tensor in theta.items()}
    result = attack.poison(_round(theta, FAKE_USERS))
    updates = result.updates
    assert updates.user_ids.tolist() == FAKE_USERS
    assert updates.item_indptr.tolist() == [0, KAPPA, 2 * KAPPA, 3 * KAPPA]
    assert updates.num_samples.tolist() == [KAPPA] * 3
    for k in range(3):
        items, rows = _client(updates, k)
        assert len(set(items.tolist())) == KAPPA
        assert set(TARGETS) <= set(items.tolist())
        assert int(items.min()) >= 0 and int(items.max()) < NUM_ITEMS
        assert float(rows.norm(dim=1).max()) <= grad_limit + 1e-6
    # The center gradient of the targets is well above both limits, so the first client clips them.
    first_items, first_rows = _client(updates, 0)
    assert torch.allclose(first_rows[: len(TARGETS)].norm(dim=1), torch.full((len(TARGETS),), grad_limit), atol=1e-5)
    # Fake users do not train their own embedding; Θ as received is left untouched.
    assert torch.count_nonzero(result.user_emb_grad) == 0 and result.losses.shape == (3,)
    assert all(torch.equal(theta[name], theta_before[name]) for name in theta)
    assert set(updates.dense_grads) == set(dense_names(theta))


def test_dense_part_is_shared_evenly_and_sums_to_the_center_gradient() -> None:
    _, _, theta, attack = _setup("ncf")
    _, center_dense = attack.center_gradient(theta, epoch=0)
    updates = attack.poison(_round(theta, FAKE_USERS)).updates
    assert center_dense and set(updates.dense_grads) == set(center_dense)
    for name, grads in updates.dense_grads.items():
        assert grads.shape == (3, *theta[name].shape)
        assert torch.equal(grads[0], grads[1]) and torch.equal(grads[1], grads[2])
        assert torch.allclose(grads.sum(0), center_dense[name], atol=1e-6)
    assert any(float(grad.abs().max()) > 0 for grad in center_dense.values())


@pytest.mark.parametrize("model", ["ncf", "mf"])
def test_colluding_clients_cover_the_center_gradient_and_promote_the_targets(model: str) -> None:
    _, rec_model, theta, attack = _setup(model)
    center_items, _ = attack.center_gradient(theta, epoch=0)
    one = attack.poison(_round(theta, FAKE_USERS[:1])).updates
    two = attack.poison(_round(theta, FAKE_USERS[:2])).updates
    three = attack.poison(_round(theta, FAKE_USERS)).updates
    # The first client does not depend on who follows it.
    assert torch.equal(_client(two, 0)[0], _client(one, 0)[0])
    assert torch.allclose(_client(two, 0)[1], _client(one, 0)[1])
    # The second client covers what the first left: another item set or other rows.
    (items_a, rows_a), (items_b, rows_b) = _client(two, 0), _client(two, 1)
    assert not torch.equal(items_a, items_b) or not torch.allclose(rows_a, rows_b)
    # Target rows: the second client uploads the residual (center − first upload), clipped.
    residual = center_items[list(TARGETS)] - rows_a[: len(TARGETS)]
    expected = residual * torch.clamp(1.0 / residual.norm(dim=1, keepdim=True), max=1.0)
    assert torch.allclose(rows_b[: len(TARGETS)], expected, atol=1e-5)
    # Each extra client shrinks what is left of the center gradient.
    left = [float((center_items - _uploaded_dense(u)).norm()) for u in (one, two, three)]
    assert left[0] > left[1] > left[2]
    assert left[0] < float(center_items.norm())

    # The summed uploads push the targets up the rankings of the users the attacker approximates.
    surrogates = attack.surrogate_users(theta, epoch=0)
    rank_before, top_before = _target_stats(rec_model, theta, surrogates)
    poisoned = {name: tensor.clone() for name, tensor in theta.items()}
    apply_gradient(poisoned, _summed(three), lr=0.1)
    rank_after, top_after = _target_stats(rec_model, poisoned, surrogates)
    assert rank_after < rank_before - 5
    assert top_after > top_before


def test_attack_loss_ranks_against_the_kth_item_outside_public_and_targets() -> None:
    _, rec_model, theta, attack = _setup("mf")
    users = attack.surrogate_users(theta, epoch=0)
    kth = attack._kth_items(theta, users)
    scores = rec_model.score_all_items(theta, users)
    public = _public()[:30].toarray() > 0
    for u in range(len(users)):
        candidates = [i for i in range(NUM_ITEMS) if not public[u, i] and i not in TARGETS]
        ranked = sorted(candidates, key=lambda i: -float(scores[u, i]))
        assert int(kth[u]) == ranked[TOP_K - 1]


def test_surrogates_are_the_users_with_public_data_and_fit_it() -> None:
    _, rec_model, theta, attack = _setup("mf")
    assert attack.num_surrogates == 30
    fitted = attack.surrogate_users(theta, epoch=0)
    scores = rec_model.score_all_items(theta, fitted)
    public = torch.from_numpy(_public()[:30].toarray() > 0)
    # After the BPR fit, public positives outscore the other items on average for every user.
    assert bool((scores[public].view(30, 4).mean(1) > scores.masked_fill(public, 0).sum(1) / (NUM_ITEMS - 4)).all())


def test_more_surrogate_steps_fit_the_public_data_further() -> None:
    def public_margin(steps: int) -> float:
        _, rec_model, theta, attack = _setup("mf", fedrecattack_surrogate_steps=steps)
        scores = rec_model.score_all_items(theta, attack.surrogate_users(theta, epoch=0))
        public = torch.from_numpy(_public()[:30].toarray() > 0)
        return float(scores[public].mean() - scores[~public].mean())

    assert 0 < public_margin(5) < public_margin(30) < public_margin(120)


def test_updates_are_deterministic_per_seed_and_epoch() -> None:
    _, _, theta, attack = _setup("ncf")
    _, _, _, again = _setup("ncf")
    first = attack.poison(_round(theta, FAKE_USERS, epoch=3)).updates
    second = again.poison(_round(theta, FAKE_USERS, epoch=3)).updates
    assert torch.equal(first.item_ids, second.item_ids) and torch.equal(first.item_grads, second.item_grads)
    assert all(torch.equal(first.dense_grads[name], second.dense_grads[name]) for name in first.dense_grads)
    later = attack.poison(_round(theta, FAKE_USERS, epoch=4)).updates
    assert not torch.equal(first.item_ids, later.item_ids) or not torch.allclose(first.item_grads, later.item_grads)
    _, _, _, reseeded = _setup("ncf", seed=7)
    other_seed = reseeded.poison(_round(theta, FAKE_USERS, epoch=3)).updates
    assert not torch.equal(first.item_ids, other_seed.item_ids) or not torch.allclose(
        first.item_grads, other_seed.item_grads
    )


def test_edge_cases_kappa_and_missing_public_data() -> None:
    # kappa below the number of targets: the targets only; above the item count: every item.
    _, _, theta, attack = _setup("mf", fedrecattack_items=1)
    assert sorted(attack.poison(_round(theta, [300])).updates.item_ids.tolist()) == list(TARGETS)
    _, _, theta, attack = _setup("mf", fedrecattack_items=500)
    assert sorted(attack.poison(_round(theta, [300])).updates.item_ids.tolist()) == list(range(NUM_ITEMS))
    # No public interaction at all: no surrogate users, nothing but noise to upload.
    empty = sp.csr_array((NUM_USERS, NUM_ITEMS))
    _, _, theta, attack = _setup("ncf", public=empty)
    updates = attack.poison(_round(theta, [300, 301])).updates
    assert attack.num_surrogates == 0 and updates.item_indptr.tolist() == [0, KAPPA, 2 * KAPPA]
    assert float(updates.item_grads.abs().max()) < 1e-4
    assert all(float(grad.abs().max()) == 0 for grad in updates.dense_grads.values())


def test_needs_public_interactions() -> None:
    with pytest.raises(ConfigError, match="attacker-knowledge='public-interactions'"):
        make_config(attack="fedrecattack")
    config = make_config(attack="fedrecattack", attacker_knowledge="public-interactions")
    assert config.attack == "fedrecattack" and ATTACKS.get("fedrecattack") is FedRecAttack
    assert FedRecAttack.default_mode == "injected"
    model = MODELS.get(config.model)(config.embedding_dim, config.hidden_layers)
    with pytest.raises(ConfigError, match="attacker-knowledge='public-interactions'"):
        FedRecAttack(AttackSetup(config, model, TARGETS, NUM_ITEMS, AttackerKnowledge()))
    assert model.init_theta(NUM_ITEMS, seed=0)[ITEM_EMBEDDING].shape == (NUM_ITEMS, 8)


def test_first_round_item_sets_are_kept_in_the_state_and_uploaded_again() -> None:
    config, _, theta, attack = _setup("mf", fedrecattack_item_sets="first-round")
    assert FedRecAttack.keeps_state(config) and not FedRecAttack.keeps_state(_setup("mf")[0])
    state: dict[str, np.ndarray] = {}
    first_round = _round(theta, FAKE_USERS[:2])
    first_round.state = state
    first = attack.poison(first_round).updates
    assert sorted(state) == [f"item-set/{user}" for user in FAKE_USERS[:2]]
    assert _client(first, 0)[0].tolist() == state["item-set/300"].tolist()
    # A later round: the kept client uploads its set again, from this round's residual; a new one draws.
    moved = {name: tensor + 0.05 for name, tensor in theta.items()}
    later_round = _round(moved, [300, 302], epoch=2)
    later_round.state = state
    later = attack.poison(later_round).updates
    items, rows = _client(later, 0)
    assert items.tolist() == state["item-set/300"].tolist()
    item_grad, _ = attack.center_gradient(moved, epoch=2)
    expected = item_grad[items] * (1.0 / item_grad[items].norm(dim=1, keepdim=True)).clamp(max=1.0)
    assert torch.allclose(rows, expected, atol=1e-5), "the kept items' rows of this round's residual, clipped"
    assert "item-set/302" in state and _client(later, 1)[0].tolist() == state["item-set/302"].tolist()
    # The default redraws: the same client in the same later round picks another set.
    _, _, _, redrawing = _setup("mf")
    assert redrawing.poison(_round(moved, [300, 302], epoch=2)).updates.item_ids[:KAPPA].tolist() != items.tolist()


def test_kept_surrogates_train_on_from_the_state_one_pass_of_batches_per_round() -> None:
    config, _, theta, attack = _setup("mf", fedrecattack_surrogates="kept")
    assert FedRecAttack.keeps_state(config)
    state: dict[str, np.ndarray] = {}
    first = attack.surrogate_users(theta, epoch=0, state=state)
    batches = -(-attack.num_surrogates // 256)
    assert int(state["adam-steps"][0]) == batches and state["surrogates"].shape == (attack.num_surrogates, 8)
    again = attack.surrogate_users(theta, epoch=0, state=state)
    assert int(state["adam-steps"][0]) == 2 * batches
    assert torch.equal(torch.from_numpy(state["surrogates"]), again) and not torch.equal(first, again)
    # Deterministic: the same state gives the same next pass.
    replay: dict[str, np.ndarray] = {}
    attack.surrogate_users(theta, epoch=0, state=replay)
    assert torch.equal(attack.surrogate_users(theta, epoch=0, state=replay), again)
    # Kept surrogates fit the public data further with every pass.
    _, rec_model, _, _ = _setup("mf")

    def public_margin(users: torch.Tensor) -> float:
        scores = rec_model.score_all_items(theta, users)
        public = torch.from_numpy(attack.public.toarray()).bool()
        return float(scores[public].mean() - scores[~public].mean())

    for _ in range(20):
        later = attack.surrogate_users(theta, epoch=0, state=state)
    assert public_margin(first) < public_margin(again) < public_margin(later)
