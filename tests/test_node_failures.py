"""Node failures during a run: error replies, nodes that never answer, nodes lost for good, and a node that
comes back under a new node id.

The strategy runs its rounds against tests/in_process_grid.py's Grid (real Flower messages, built and
answered through fedrec/protocol.py); each fake node is a function from an instruction to its reply, or
to None for a node that never replies.
"""

import numpy as np
import pytest
import torch
from flwr.app import ArrayRecord, ConfigRecord, Error, Message, MessageType

from app_config import make_config
from fedrec.directory import UserDirectory
from fedrec.evaluation.grouped import GroupedCounts
from fedrec.evaluation.metrics import EvalCounts
from fedrec.models.base import ITEM_EMBEDDING
from fedrec.models.ncf import NeuralCF
from fedrec.protocol import NodeDescription, TrainInstruction, TrainReply, evaluate_reply
from fedrec.updates import UserUpdates
from server_app.discovery import rejoin
from strategies import STRATEGIES
from strategies.base import Rediscover, StrategyHooks
from tests.in_process_grid import InProcessGrid, Node

NUM_ITEMS, DIM, TARGETS, KS = 6, 2, (0,), (10,)
HOSTED = {11: np.array([0, 1]), 12: np.array([2, 3]), 13: np.array([4, 5])}


def healthy(users: np.ndarray) -> Node:
    """A node hosting `users`: it describes itself, trains (one item row per user) and evaluates."""

    def answer(message: Message) -> Message:
        if message.metadata.message_type == MessageType.QUERY:
            description = NodeDescription(
                users=users,
                num_clients=6,
                num_items=NUM_ITEMS,
                partition_id=0,
                num_partitions=1,
                role="all",
                targets=TARGETS,
            )
            return description.reply_to(message)
        if message.metadata.message_type == MessageType.TRAIN:
            instruction = TrainInstruction.parse(message)
            asked = instruction.users.tolist()
            dense = {
                name: torch.zeros_like(value) for name, value in instruction.theta.items() if name != ITEM_EMBEDDING
            }
            updates = UserUpdates.from_users(
                asked,
                [torch.tensor([1])] * len(asked),
                [torch.ones(1, DIM)] * len(asked),
                [dense] * len(asked),
                [1] * len(asked),
            )
            return TrainReply(updates, loss_sum=float(len(asked)), loss_count=len(asked)).reply_to(message)
        return evaluate_reply(message, GroupedCounts(EvalCounts(ks=KS, targets=TARGETS)))

    return answer


def failing(message: Message) -> Message:
    return Message(Error(code=1, reason="the node's ClientApp raised"), reply_to=message)


def silent(message: Message) -> None:
    return None


class Run:
    """A FedAvg strategy over HOSTED (one round per epoch: all six users), its grid, and what its hooks saw."""

    def __init__(self, grid: InProcessGrid, rediscover: Rediscover | None = None) -> None:
        self.grid = grid
        self.metrics: list[dict[str, float]] = []
        self.trained: list[list[int]] = []
        hooks = StrategyHooks(
            on_epoch=lambda epoch, metrics: self.metrics.append(metrics),
            on_updates=lambda epoch, updates, flagged: self.trained.append(updates.user_ids.tolist()),
            rediscover=rediscover,
        )
        config = make_config(
            defense="fedavg",
            embedding_dim=DIM,
            hidden_layers="3",
            clients_per_round=6,
            epochs=3,
            eval_every=1,
            top_k="10",
        )
        theta = NeuralCF(DIM, (3,)).init_theta(NUM_ITEMS, seed=0)
        self.strategy = STRATEGIES.get("fedavg")(config, UserDirectory.from_nodes(HOSTED), theta, TARGETS, hooks)

    def epoch(self, server_round: int) -> set[int]:
        """One epoch (train, then evaluate), as Flower's loop drives it; the nodes it messaged."""
        start = len(self.grid.sent)
        strategy, grid = self.strategy, self.grid
        replies = grid.send_and_receive(strategy.configure_train(server_round, ArrayRecord(), ConfigRecord(), grid))
        strategy.aggregate_train(server_round, replies)
        replies = grid.send_and_receive(strategy.configure_evaluate(server_round, ArrayRecord(), ConfigRecord(), grid))
        strategy.aggregate_evaluate(server_round, replies)
        return grid.destinations(start)


def test_error_replies_and_silent_nodes_are_failed_replies_and_missed_users() -> None:
    run = Run(InProcessGrid({11: healthy(HOSTED[11]), 12: failing, 13: silent}))
    assert run.epoch(1) == {11, 12, 13}
    assert [sorted(users) for users in run.trained] == [[0, 1]], "the round goes on with the node that answered"
    # Train and evaluate both fail on nodes 12 and 13; only training misses users (2 each).
    assert (run.metrics[0]["failed-replies"], run.metrics[0]["missed-users"]) == (4.0, 4.0)
    assert run.metrics[0]["train-loss"] == pytest.approx(1.0)


def test_a_lost_node_is_skipped_once_the_grid_reports_it_offline_and_still_counts_as_failed() -> None:
    grid = InProcessGrid({11: healthy(HOSTED[11]), 12: healthy(HOSTED[12]), 13: silent})
    run = Run(grid)
    assert run.epoch(1) == {11, 12, 13}
    grid.online.discard(13)
    assert run.epoch(2) == {11, 12}, "no message to a lost node the grid reports offline"
    assert (run.metrics[1]["failed-replies"], run.metrics[1]["missed-users"]) == (2.0, 2.0)
    assert [sorted(users) for users in run.trained] == [[0, 1, 2, 3]] * 2


def test_a_node_back_under_a_new_id_takes_over_its_users() -> None:
    grid = InProcessGrid({11: healthy(HOSTED[11]), 12: healthy(HOSTED[12]), 13: silent})
    ignored: set[int] = set()
    run = Run(grid, rediscover=lambda grid, directory: rejoin(grid, directory, timeout=1.0, ignored=ignored))
    run.epoch(1)
    assert (run.metrics[0]["failed-replies"], run.metrics[0]["missed-users"]) == (2.0, 2.0)
    # Node 13 restarts: it registers as node 23 with the same node-config, hence the same users.
    grid.online.discard(13)
    grid.nodes[23] = healthy(HOSTED[13])
    grid.online.add(23)
    assert run.epoch(2) == {11, 12, 23}
    assert run.strategy.directory.users_of(23).tolist() == [4, 5] and 13 not in run.strategy.directory.nodes
    assert sorted(run.trained[-1]) == [0, 1, 2, 3, 4, 5]
    assert (run.metrics[1]["failed-replies"], run.metrics[1]["missed-users"]) == (0.0, 0.0)
    # While node 12 is lost, a new node that hosts nobody is described once and then ignored.
    grid.nodes[31] = healthy(np.zeros(0, dtype=np.int64))
    grid.online.add(31)
    grid.online.discard(12)
    run.epoch(3)
    assert ignored == {31} and 12 in run.strategy.directory.nodes
    described = [m.metadata.dst_node_id for m in grid.sent if m.metadata.message_type == MessageType.QUERY]
    assert described == [23, 31]
