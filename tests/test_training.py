"""Per-user gradients, the server step, and the wire format."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from fedrec.models.base import ITEM_EMBEDDING
from fedrec.models.mf import MatrixFactorization
from fedrec.models.ncf import NeuralCF
from fedrec.protocol import updates_from_record, updates_to_record
from fedrec.training.local import Objective, compute_user_updates
from fedrec.training.sampling import user_samples
from fedrec.training.server_step import ServerStep, ThetaGradient, apply_gradient
from fedrec.updates import UserUpdates


def _single_user_gradients(model, theta, user_emb, samples, loss):  # type: ignore[no-untyped-def]
    """Reference: one user at a time, plain autograd on shared parameters."""
    params = {k: v.clone().requires_grad_() for k, v in theta.items()}
    p = user_emb.clone().requires_grad_()
    items = torch.from_numpy(samples.items)
    logits = model.logits(params, p, params[ITEM_EMBEDDING][items])
    labels = torch.from_numpy(samples.labels)
    if loss == "bce":
        value = F.binary_cross_entropy_with_logits(logits, labels)
    else:
        partner = torch.from_numpy(samples.partner)
        paired = partner >= 0
        value = F.softplus(logits[paired] - logits[partner[paired]]).mean()
    value.backward()
    return p.grad, {k: v.grad for k, v in params.items()}


@pytest.mark.parametrize("model", [NeuralCF(4, (6, 3)), MatrixFactorization(4, ())])
@pytest.mark.parametrize("loss", ["bce", "bpr"])
def test_each_users_gradient_equals_its_own_autograd(model, loss) -> None:  # type: ignore[no-untyped-def]
    rng = np.random.default_rng(0)
    num_items = 40
    theta = model.init_theta(num_items, seed=0)
    theta[ITEM_EMBEDDING] *= 30  # larger than the paper's init so gradients are not all tiny
    users = np.array([3, 11, 12, 29, 30])
    user_emb = model.init_user_embeddings(users, seed=0) * 30
    samples = [
        user_samples(u, np.sort(rng.choice(num_items, size=n, replace=False)), num_items, 4, 0, 0)
        for u, n in zip(users, [2, 9, 5, 30, 1])
    ]
    result = compute_user_updates(model, theta, users, user_emb, samples, Objective(loss))
    updates = result.updates
    for k in range(len(users)):
        p_grad, grads = _single_user_gradients(model, theta, user_emb[k], samples[k], loss)
        assert torch.allclose(result.user_emb_grad[k], p_grad, atol=1e-7)
        rows = slice(int(updates.item_indptr[k]), int(updates.item_indptr[k + 1]))
        ids = updates.item_ids[rows]
        assert len(set(ids.tolist())) == len(ids), "a user's item ids must be unique"
        assert set(ids.tolist()) == set(samples[k].items.tolist())
        assert torch.allclose(updates.item_grads[rows], grads[ITEM_EMBEDDING][ids], atol=1e-7)
        untouched = torch.ones(num_items, dtype=torch.bool)
        untouched[ids] = False
        assert float(grads[ITEM_EMBEDDING][untouched].abs().sum()) == 0.0
        for name, grad in updates.dense_grads.items():
            assert torch.allclose(grad[k], grads[name], atol=1e-6)
        assert int(updates.num_samples[k]) == len(samples[k].items)


def test_server_step_accumulates_repeated_item_ids() -> None:
    theta = {ITEM_EMBEDDING: torch.zeros(3, 2), "w": torch.ones(2)}
    gradient = ThetaGradient(
        item_ids=torch.tensor([1, 1, 2, 1]),
        item_rows=torch.tensor([[1.0, 0.0], [2.0, 0.0], [0.0, 1.0], [4.0, 1.0]]),
        dense={"w": torch.tensor([10.0, -10.0])},
    )
    apply_gradient(theta, gradient, lr=0.5)
    # item 1 receives 1 + 2 + 4 (a `theta[idx] -= lr * g` would keep only the last row)
    assert theta[ITEM_EMBEDDING].tolist() == [[0.0, 0.0], [-3.5, -0.5], [0.0, -0.5]]
    assert theta["w"].tolist() == [-4.0, 6.0]


def test_adam_server_step_is_torch_adam_on_the_dense_gradient() -> None:
    theta = {ITEM_EMBEDDING: torch.zeros(3, 2), "w": torch.ones(2)}
    reference = {name: torch.nn.Parameter(value.clone()) for name, value in theta.items()}
    adam = torch.optim.Adam(reference.values(), lr=0.01)
    step = ServerStep(theta, "adam", lr=0.01)
    for scale in (1.0, -3.0, 0.5):
        gradient = ThetaGradient(
            item_ids=torch.tensor([1, 1]),
            item_rows=torch.tensor([[scale, 0.0], [scale, 2.0]]),
            dense={"w": torch.tensor([scale, 0.0])},
        )
        step(gradient)
        reference[ITEM_EMBEDDING].grad = torch.tensor([[0.0, 0.0], [2 * scale, 2.0], [0.0, 0.0]])
        reference["w"].grad = torch.tensor([scale, 0.0])
        adam.step()
    for name in theta:
        assert torch.equal(theta[name], reference[name].detach())
    # Item 1 moved by about lr per step (Adam's scale-free step); rows nobody sent stayed where they were.
    assert theta[ITEM_EMBEDDING][0].tolist() == [0.0, 0.0]
    assert 0.005 < float(theta[ITEM_EMBEDDING][1, 1].abs()) / 3 < 0.0101


def test_sgd_server_step_is_apply_gradient() -> None:
    gradient = ThetaGradient(item_ids=torch.tensor([0, 2]), item_rows=torch.ones(2, 2), dense={"w": torch.ones(2)})
    stepped, applied = ({ITEM_EMBEDDING: torch.zeros(3, 2), "w": torch.ones(2)} for _ in range(2))
    ServerStep(stepped, "sgd", lr=0.3)(gradient)
    apply_gradient(applied, gradient, lr=0.3)
    assert all(torch.equal(stepped[name], applied[name]) for name in stepped)


def test_user_updates_round_trip_through_flower_records_and_concat() -> None:
    model = NeuralCF(4, (4,))
    theta = model.init_theta(20, seed=1)

    def make(users: np.ndarray) -> UserUpdates:
        embeddings = model.init_user_embeddings(users, 1)
        samples = [user_samples(u, np.array([1, 5, 7]), 20, 2, 0, 0) for u in users]
        return compute_user_updates(model, theta, users, embeddings, samples, Objective("bce")).updates

    first, second = make(np.array([0, 1])), make(np.array([5]))
    decoded = [updates_from_record(updates_to_record(u)) for u in (first, second)]
    joined = UserUpdates.concat(decoded)
    assert joined.user_ids.tolist() == [0, 1, 5]
    assert joined.item_indptr.tolist()[0] == 0 and int(joined.item_indptr[-1]) == len(joined.item_ids)
    third = slice(int(joined.item_indptr[2]), int(joined.item_indptr[3]))
    assert torch.equal(joined.item_grads[third], second.item_grads)
    assert torch.equal(joined.item_owner(), torch.repeat_interleave(torch.arange(3), joined.item_indptr.diff()))
    for name in first.dense_grads:
        assert torch.equal(joined.dense_grads[name][:2], first.dense_grads[name])


def test_repeated_items_are_summed_or_the_last_sample_kept_as_the_reference_code_does() -> None:
    from fedrec.training.sampling import UserSamples

    model = NeuralCF(4, (6, 3))
    theta = model.init_theta(20, seed=1)
    theta[ITEM_EMBEDDING] *= 30
    user_emb = model.init_user_embeddings(np.array([0, 1]), seed=0) * 30
    # User 0: positive 2, negatives 7, 7, 9 (7 repeated); user 1: positive 7, negative 3.
    samples = [
        UserSamples(np.array([2, 7, 7, 9]), np.array([1, 0, 0, 0], dtype=np.float32), np.array([-1, 0, 0, 0])),
        UserSamples(np.array([7, 3]), np.array([1, 0], dtype=np.float32), np.array([-1, 0])),
    ]
    summed = compute_user_updates(model, theta, np.array([0, 1]), user_emb, samples, Objective("bce")).updates
    kept = compute_user_updates(
        model, theta, np.array([0, 1]), user_emb, samples, Objective("bce", repeated_items="last-kept")
    ).updates
    assert torch.equal(summed.item_ids, kept.item_ids) and summed.item_ids.tolist() == [2, 7, 9, 3, 7]
    # Both samples of item 7 have the same input, so each carries half of the summed row.
    torch.testing.assert_close(kept.item_grads[1], summed.item_grads[1] / 2)
    others = [0, 2, 3, 4]
    assert torch.equal(kept.item_grads[others], summed.item_grads[others])
    for name in summed.dense_grads:
        assert torch.equal(kept.dense_grads[name], summed.dense_grads[name])


def _one_bpr_user(objective):  # type: ignore[no-untyped-def]
    """User p = (1, 0); positive item 0 = (1, 0) and item 1 = (0, 2); negatives item 2 = (0, 0) (twice) and 3."""
    from fedrec.training.sampling import UserSamples

    theta = {ITEM_EMBEDDING: torch.tensor([[1.0, 0.0], [0.0, 2.0], [0.0, 0.0], [0.5, 0.0]])}
    user_emb = torch.tensor([[1.0, 0.0]])
    # Pairs: (0, 2), (1, 2), (1, 3); item 2 is a repeated negative.
    samples = [
        UserSamples(np.array([0, 1, 2, 2, 3]), np.array([1, 1, 0, 0, 0], dtype=np.float32), np.array([-1, -1, 0, 1, 1]))
    ]
    return compute_user_updates(MatrixFactorization(2, ()), theta, np.array([0]), user_emb, samples, objective)


def test_a_summed_loss_is_the_mean_times_the_pairs_and_so_is_its_gradient() -> None:
    mean, summed = _one_bpr_user(Objective("bpr")), _one_bpr_user(Objective("bpr", reduction="sum"))
    # Scores 1 (item 0), 0 (item 1), 0 (item 2), 0.5 (item 3): losses softplus(-1), softplus(0), softplus(0.5).
    expected_sum = float(F.softplus(torch.tensor([-1.0, 0.0, 0.5])).sum())
    assert float(summed.losses[0]) == pytest.approx(expected_sum)
    assert float(mean.losses[0]) == pytest.approx(expected_sum / 3)
    torch.testing.assert_close(summed.user_emb_grad, 3 * mean.user_emb_grad)
    torch.testing.assert_close(summed.updates.item_grads, 3 * mean.updates.item_grads)


def test_l2_adds_its_coefficient_times_each_row_to_the_uploaded_gradient_and_half_the_squares_to_the_loss() -> None:
    plain = _one_bpr_user(Objective("bpr", reduction="sum"))
    l2 = _one_bpr_user(Objective("bpr", reduction="sum", l2=0.1))
    # d/dp = 0.1 * p; each sample adds 0.1 * its row: item 2 twice (zero row), items 0, 1, 3 once.
    torch.testing.assert_close(l2.user_emb_grad - plain.user_emb_grad, torch.tensor([[0.1, 0.0]]))
    assert l2.updates.item_ids.tolist() == [0, 1, 2, 3]
    expected = 0.1 * torch.tensor([[1.0, 0.0], [0.0, 2.0], [0.0, 0.0], [0.5, 0.0]])
    torch.testing.assert_close(l2.updates.item_grads - plain.updates.item_grads, expected)
    # 0.1 / 2 * (|p|^2 = 1, + rows 1 + 4 + 0 + 0 + 0.25)
    assert float(l2.losses[0] - plain.losses[0]) == pytest.approx(0.05 * 6.25)
    # By hand, the positive item 0's row: d softplus(s_2 - s_0) / d q_0 = -sigmoid(-1) * p, plus 0.1 * q_0.
    sigma = float(torch.sigmoid(torch.tensor(-1.0)))
    torch.testing.assert_close(l2.updates.item_grads[0], torch.tensor([-sigma + 0.1, 0.0]))


def test_l2_on_all_leaves_the_uploaded_rows_to_the_server_and_keeps_the_users_own_term() -> None:
    plain = _one_bpr_user(Objective("bpr", reduction="sum"))
    on_all = _one_bpr_user(Objective("bpr", reduction="sum", l2=0.1, l2_items=False))
    torch.testing.assert_close(on_all.user_emb_grad - plain.user_emb_grad, torch.tensor([[0.1, 0.0]]))
    assert torch.equal(on_all.updates.item_grads, plain.updates.item_grads)
    assert float(on_all.losses[0] - plain.losses[0]) == pytest.approx(0.05 * 1.0)  # 0.1 / 2 * |p|^2


@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_server_l2_adds_its_coefficient_times_every_row_and_weight_but_no_bias(optimizer: str) -> None:
    """ClusterAttack-UNION's reference: every client's loss has l2/2 * |Θ|² (biases excluded), so the weighted
    mean of their gradients gains l2 * Θ on every item row, sent or not."""
    start = {
        ITEM_EMBEDDING: torch.tensor([[1.0, 2.0], [3.0, -1.0], [0.5, 0.5]]),
        "w": torch.ones(2),
        "b.bias": torch.ones(2),
    }
    theta = {name: value.clone() for name, value in start.items()}
    reference = {name: torch.nn.Parameter(value.clone()) for name, value in start.items()}
    step = ServerStep(theta, optimizer, lr=0.01, l2=0.1)
    by_hand = (
        torch.optim.Adam(reference.values(), lr=0.01)
        if optimizer == "adam"
        else torch.optim.SGD(reference.values(), lr=0.01)
    )
    for scale in (1.0, -3.0):
        step(ThetaGradient(torch.tensor([1]), torch.tensor([[scale, 0.0]]), {"w": torch.tensor([scale, 0.0])}))
        grads = {ITEM_EMBEDDING: torch.tensor([[0.0, 0.0], [scale, 0.0], [0.0, 0.0]]), "w": torch.tensor([scale, 0.0])}
        for name, parameter in reference.items():
            own = grads.get(name, torch.zeros_like(parameter))
            parameter.grad = own + (0.0 if "bias" in name else 0.1) * parameter.detach()
        by_hand.step()
    for name in theta:
        torch.testing.assert_close(theta[name], reference[name].detach(), rtol=1e-6, atol=1e-7)
    assert not torch.equal(theta[ITEM_EMBEDDING][0], start[ITEM_EMBEDDING][0])  # a row nobody sent decays too
    assert torch.equal(theta["b.bias"], start["b.bias"])  # the bias got no gradient and no decay


def test_l2_on_all_without_a_coefficient_is_one_line() -> None:
    from app_config import make_config
    from fedrec.errors import ConfigError

    with pytest.raises(ConfigError, match="l2-scope 'all' regularises with l2-reg, which is 0"):
        make_config(l2_scope="all")


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({}, "equals each client's L2 only under a mean"),  # the default fedavg sums
        ({"defense": "norm-bound"}, "equals each client's L2 only under a mean"),
        ({"fedavg_mode": "weighted", "privacy_defense": "ldp"}, "set privacy-defense to 'none'"),
    ],
)
def test_l2_on_all_is_refused_where_it_would_not_be_each_clients_term(overrides: dict, message: str) -> None:
    from app_config import make_config
    from fedrec.errors import ConfigError

    with pytest.raises(ConfigError, match=message):
        make_config(l2_scope="all", l2_reg=1e-5, **overrides)
    assert make_config(l2_scope="all", l2_reg=1e-5, fedavg_mode="weighted").l2_scope == "all"
