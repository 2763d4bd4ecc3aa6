"""`user-optimizer`: a client's SGD or Adam step on its private rows (fedrec/training/user_step.py). Adam must equal
the reference's server Adam on the whole user table, in which a row moves on its momentum in rounds its user sits
out."""

import numpy as np
import pytest
import torch

from app_config import make_config
from client_app.app import app
from client_app.node import load_user_embeddings, load_user_step, node_from_context
from fedrec.errors import ConfigError
from fedrec.models.registry import MODELS
from fedrec.protocol import theta_to_record
from fedrec.training.user_step import UserStep
from tests.conftest import node_context, train_message

USERS, DIM, LR = 20, 4, 0.01


def test_adam_on_each_clients_rows_equals_torch_adam_on_the_whole_table_every_round() -> None:
    generator = torch.Generator().manual_seed(0)
    start = torch.randn(USERS, DIM, generator=generator)
    table = torch.nn.Parameter(start.clone())  # the reference: one Adam over the table, zero rows for absent users
    server_adam = torch.optim.Adam([table], lr=LR)
    rows, step = start.clone(), UserStep("adam", LR)
    schedule = np.random.default_rng(0)
    never = set(range(USERS))
    for server_round in range(1, 41):
        chosen = schedule.choice(USERS - 2, size=5, replace=False)  # users 18 and 19 never train
        never -= set(chosen.tolist())
        grads = torch.randn(len(chosen), DIM, generator=generator)
        dense = torch.zeros(USERS, DIM)
        dense[chosen] = grads
        table.grad = dense
        server_adam.step()
        step.prepare(rows, chosen, server_round)
        step.apply(rows, chosen, grads, server_round)
        assert torch.equal(rows[chosen], table.detach()[chosen])  # the round's rows are current, bit for bit
    lagging = [user for user in range(USERS - 2) if int(step.state.advanced[user]) < 40]
    assert lagging, "some rows sat out the last round and are behind until settled"
    assert not torch.equal(rows, table.detach())
    step.settle(rows, 40)
    assert torch.equal(rows, table.detach())  # every row, momentum included, as the server's Adam left it
    assert never == {18, 19} and torch.equal(rows[[18, 19]], start[[18, 19]])  # no gradient ever: never moved


def test_sgd_moves_a_row_by_the_rate_times_its_gradient_only_when_its_user_trains() -> None:
    rows = torch.ones(4, 2)
    step = UserStep("sgd", 0.5)
    step.prepare(rows, np.array([1]), 7)
    step.apply(rows, np.array([1, 3]), torch.tensor([[2.0, 4.0], [-2.0, 0.0]]), 7)
    step.settle(rows, 9)
    assert rows.tolist() == [[1.0, 1.0], [0.0, -1.0], [1.0, 1.0], [2.0, 1.0]]
    assert step.state is None


def test_the_node_keeps_each_rows_adam_state_between_rounds() -> None:
    settings = {"synthetic_users": 30, "synthetic_items": 60, "model": "mf", "user_optimizer": "adam", "user_lr": LR}
    context = node_context(partition=(0, 2), **settings)
    node = node_from_context(context)
    config = make_config(**settings)
    theta = theta_to_record(MODELS.selected(config).from_config(config).init_theta(60, config.seed))
    user = int(node.user_ids[0])
    position = node.local_positions(np.array([user]))
    start = load_user_embeddings(context, node)[position]
    app(train_message([user], theta, server_round=3), context)
    state = load_user_step(context, node).state
    assert state is not None and int(state.advanced[position]) == 3
    moved = (load_user_embeddings(context, node)[position] - start).abs()
    # A first gradient at Adam's step 3 (the server round) moves each element by lr * (1 - b1) / (1 - b1^3) /
    # sqrt((1 - b2) / (1 - b2^3)) = 0.6388 lr, whatever the gradient's size (but for gradients near eps)
    first_step_at_3 = LR * (0.1 / (1 - 0.9**3)) / np.sqrt(0.001 / (1 - 0.999**3))
    assert torch.allclose(moved, torch.full_like(moved, first_step_at_3), rtol=1e-4)
    others = np.setdiff1d(node.local_positions(node.user_ids), position)
    assert int(state.advanced[others].max()) == 0  # untouched rows: no momentum yet, nothing to replay
    app(train_message([user], theta, server_round=6), context)
    assert int(load_user_step(context, node).state.advanced[position]) == 6


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        (
            {"model": "sasrec", "split": "leave-last-out", "user_optimizer": "adam"},
            "user-optimizer steps a private user embedding",
        ),
        ({"model": "mf", "defense": "fltrust", "public_fraction": 0.1, "user_optimizer": "adam"}, "root users"),
        (
            {
                "model": "mf",
                "user_optimizer": "adam",
                "secure_aggregation": True,
                "round_difference": "resent",
                "privacy_attack": "analytic",
            },
            "extra rounds past",
        ),
    ],
)
def test_adam_where_no_row_can_take_it_is_one_clear_line(settings: dict, message: str) -> None:
    from strategies import STRATEGIES

    with pytest.raises(ConfigError, match=message) as raised:
        config = make_config(**settings)
        STRATEGIES.get(config.defense).check_run(config)
    assert "\n" not in str(raised.value)
