"""Secure aggregation, simulated: the server's view is the round's sum as one dense pseudo-user, it steps Θ
as FedAvg's sum does, it names nobody and no touched item, and rules that need per-user updates are refused."""

import copy

import numpy as np
import pytest
import torch

from app_config import make_config
from fedrec.directory import UserDirectory
from fedrec.errors import ConfigError
from fedrec.models.base import ITEM_EMBEDDING, Theta
from fedrec.models.ncf import NeuralCF
from fedrec.robust.dense import to_dense
from fedrec.updates import UserUpdates
from privacy.secure_aggregation import COMPATIBLE_DEFENSES, SUM_USER_ID, check_defense, secure_sum
from strategies import STRATEGIES

NUM_ITEMS, DIM = 7, 2


def _theta() -> Theta:
    return NeuralCF(DIM, (3,)).init_theta(NUM_ITEMS, seed=0)


def _round(seed: int, num_users: int = 5) -> UserUpdates:
    """Users with random sparse uploads (random item subsets, so rows overlap) and random MLP gradients."""
    generator = torch.Generator().manual_seed(seed)
    theta = _theta()
    items = [torch.nonzero(torch.rand(NUM_ITEMS, generator=generator) < 0.4).flatten() for _ in range(num_users)]
    items = [ids if len(ids) else torch.tensor([0]) for ids in items]
    return UserUpdates.from_users(
        list(range(seed * 10, seed * 10 + num_users)),
        items,
        [torch.randn(len(ids), DIM, generator=generator) for ids in items],
        [
            {name: torch.randn(p.shape, generator=generator) for name, p in theta.items() if name != ITEM_EMBEDDING}
            for _ in items
        ],
        [int(n) for n in torch.randint(5, 50, (num_users,), generator=generator)],
    )


def _stepped_theta(defense: str, updates: UserUpdates, **overrides: object) -> Theta:
    """Θ after one server step of `defense` on `updates`, from the same initial Θ every time."""
    theta = copy.deepcopy(_theta())
    config = make_config(defense=defense, embedding_dim=DIM, hidden_layers="3", **overrides)
    strategy = STRATEGIES.get(defense)(config, UserDirectory.from_nodes({1: np.arange(50)}), theta, (0,))
    strategy.server_step(strategy.aggregate(updates).gradient)
    return theta


def test_the_sum_is_every_users_sparse_update_added_densely() -> None:
    updates, theta = _round(1), _theta()
    observed = secure_sum(updates, theta)
    assert observed.num_users == 1
    assert torch.allclose(to_dense(observed, theta)[0], to_dense(updates, theta).sum(0), atol=1e-6)
    for name, grads in updates.dense_grads.items():
        assert observed.dense_grads[name].shape == (1, *theta[name].shape)
        assert torch.allclose(observed.dense_grads[name][0], grads.sum(0), atol=1e-6)
    assert observed.num_samples.tolist() == [int(updates.num_samples.sum())]


@pytest.mark.parametrize("server_optimizer", ["sgd", "adam"])
@pytest.mark.parametrize("defense", COMPATIBLE_DEFENSES)
def test_a_compatible_defense_on_the_sum_steps_theta_as_fedavg_sum_on_the_users(
    defense: str, server_optimizer: str
) -> None:
    updates = _round(2)
    expected = _stepped_theta("fedavg", updates, fedavg_mode="sum", server_optimizer=server_optimizer)
    got = _stepped_theta(defense, secure_sum(updates, _theta()), fedavg_mode="sum", server_optimizer=server_optimizer)
    for name in expected:
        assert torch.allclose(got[name], expected[name], atol=1e-6), name


def test_the_observed_upload_names_no_user_and_no_touched_item() -> None:
    theta = _theta()
    first, second = secure_sum(_round(3, num_users=2), theta), secure_sum(_round(4, num_users=6), theta)
    for observed in (first, second):  # the same shape whoever took part and whatever they touched
        assert observed.user_ids.tolist() == [SUM_USER_ID]
        assert observed.item_indptr.tolist() == [0, NUM_ITEMS]
        assert observed.item_ids.tolist() == list(range(NUM_ITEMS))
        assert observed.item_grads.shape == (NUM_ITEMS, DIM)
    untouched = sorted(set(range(NUM_ITEMS)) - set(_round(3, num_users=2).item_ids.tolist()))
    assert untouched and not first.item_grads[untouched].any()  # sent as zero rows, like every other row


def test_a_round_without_updates_reveals_nothing_and_stays_empty() -> None:
    empty = UserUpdates.empty(_theta())
    assert secure_sum(empty, _theta()) is empty


@pytest.mark.parametrize("defense", [name for name in STRATEGIES.names() if name not in COMPATIBLE_DEFENSES])
def test_a_defense_needing_per_user_updates_is_refused_in_one_line(defense: str) -> None:
    with pytest.raises(ConfigError) as error:
        check_defense(defense)
    message = str(error.value)
    assert "\n" not in message
    assert f"defense {defense!r} needs per-user updates, which secure aggregation hides" in message
    assert "compatible: fedavg" in message


def test_fedavg_mean_is_refused_and_the_compatible_ones_pass() -> None:
    with pytest.raises(ConfigError, match="fedavg-mode 'mean'.*use fedavg-mode 'sum'"):
        check_defense("fedavg", "mean")
    assert set(COMPATIBLE_DEFENSES) <= set(STRATEGIES.names())
    for defense in COMPATIBLE_DEFENSES:
        check_defense(defense, "sum")
