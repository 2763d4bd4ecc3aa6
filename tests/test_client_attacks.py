"""Malicious clients inside a node: same wire format, poisoned content, and no effect on evaluation."""

import numpy as np

from app_config import make_config
from client_app.app import app
from client_app.node import node_from_context
from fedrec.models.registry import MODELS
from fedrec.protocol import TrainReply, evaluation_counts, theta_to_record
from tests.conftest import evaluate_message, node_context, train_message

SETTINGS = {"synthetic_users": 30, "synthetic_items": 60, "attack": "a-ra", "malicious_fraction": 0.1}
TARGET = (5,)


def _theta_record():  # type: ignore[no-untyped-def]
    config = make_config(**SETTINGS)
    model = MODELS.get(config.model)(config.embedding_dim, config.hidden_layers)
    return theta_to_record(model.init_theta(60, config.seed))


def test_injected_fake_users_live_on_nodes_and_upload_poisoned_updates_in_the_same_format() -> None:
    context = node_context(partition=(1, 2), **SETTINGS)
    node = node_from_context(context)
    assert node.threat.malicious_ids.tolist() == [30, 31, 32]  # int(0.1 * 30) fake users after the real ones
    assert set(node.threat.malicious_ids) <= set(node.user_ids.tolist())
    real, fake = int(node.real_users()[0]), 31
    reply = app(train_message([real, fake], _theta_record(), targets=TARGET), context)
    received = TrainReply.parse(reply)
    updates = received.updates
    assert sorted(updates.user_ids.tolist()) == sorted([real, fake])
    position = updates.user_ids.tolist().index(fake)
    rows = slice(int(updates.item_indptr[position]), int(updates.item_indptr[position + 1]))
    assert updates.item_ids[rows].tolist() == [5], "A-ra uploads the target's row only"
    assert received.loss_count == 1, "the train loss is the benign users'"


def test_before_the_attack_starts_fake_users_stay_silent() -> None:
    context = node_context(partition=(1, 2), attack_start_epoch=3, **SETTINGS)
    real = int(node_from_context(context).real_users()[0])
    reply = app(train_message([real, 31], _theta_record(), epoch=1, targets=TARGET), context)
    assert TrainReply.parse(reply).updates.user_ids.tolist() == [real]


def test_evaluation_counts_real_users_only() -> None:
    context = node_context(partition=(1, 2), **SETTINGS)
    node = node_from_context(context)
    reply = app(evaluate_message(_theta_record(), targets=TARGET), context)
    counts = evaluation_counts(reply, node.config.top_k, TARGET).total
    real = node.real_users()
    assert counts.users == int(sum(len(node.dataset.test_items(u)) > 0 for u in real))
    eligible = sum(5 not in node.dataset.train_items(u) and 5 not in node.dataset.test_items(u) for u in real)
    assert counts.target_eligible.tolist() == [eligible]
    assert len(real) < len(node.user_ids)
    assert np.all(real < 30)


def _fedrecattack_uploads(item_sets: str) -> list[list[int]]:
    """The items fake user 31 uploads in epochs 0, 1 and 2 through one node's ClientApp (state kept between)."""
    settings = SETTINGS | {
        "attack": "fedrecattack",
        "attacker_knowledge": "public-interactions",
        "public_fraction": 0.5,
        "fedrecattack_items": 8,
        "fedrecattack_item_sets": item_sets,
    }
    context = node_context(partition=(1, 2), **settings)
    uploads = []
    for epoch in range(3):
        updates = TrainReply.parse(
            app(train_message([31], _theta_record(), epoch=epoch, targets=TARGET), context)
        ).updates
        assert updates.user_ids.tolist() == [31]
        uploads.append(updates.item_ids.tolist())
    return uploads


def test_fedrecattack_clients_keep_their_first_rounds_item_set_in_the_node_state_when_asked() -> None:
    """Through the ClientApp: the node keeps the attack's state in its Context.state between messages."""
    per_round, first_round = _fedrecattack_uploads("per-round"), _fedrecattack_uploads("first-round")
    assert all(len(items) == 8 and items[0] == TARGET[0] for items in per_round + first_round)
    assert first_round[0] == per_round[0], "the first round draws the same set either way"
    assert first_round[1] == first_round[2] == first_round[0]
    assert per_round[1] != per_round[0] or per_round[2] != per_round[0], "per-round redraws the set"
