"""Shared test fixtures and helpers."""

import secrets
from pathlib import Path

import numpy as np
import pytest
from flwr.app import ArrayRecord, Context, Message, RecordDict

from app_config import make_config, pyproject_defaults  # noqa: F401  (make_config re-exported for tests)
from fedrec.protocol import evaluate_messages, theta_from_record, train_messages

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
#: A small synthetic run that still trains (lr 0.05): two epochs of 120 users, for whole runs in tests.
SMALL_RUN = {
    "synthetic-users": 120,
    "synthetic-items": 150,
    "synthetic-interactions": 20,
    "clients-per-round": 32,
    "epochs": 2,
    "seed": 7,
    "lr": 0.05,
    "user-lr": 0.05,
}


@pytest.fixture
def shared_data() -> Path:
    """The machine's real datasets beside the project; tests needing them skip where absent."""
    if not SHARED_DATA.exists():
        pytest.skip(f"real data not found at {SHARED_DATA}")
    return SHARED_DATA


@pytest.fixture(autouse=True)
def server_task_identity():  # type: ignore[no-untyped-def]
    """Messages built server-side take their run id from the process's task identity, as in a ServerApp."""
    from flwr.supercore.task_identity import TaskIdentity

    previous = (TaskIdentity._run_id, TaskIdentity._node_id, TaskIdentity._task_id)
    TaskIdentity.run_id, TaskIdentity.node_id, TaskIdentity.task_id = 1, 7, 1
    yield
    TaskIdentity._run_id, TaskIdentity._node_id, TaskIdentity._task_id = previous


def fresh_run_id() -> int:
    """A run id of its own, as Flower gives each run: what nodes leave on disk (privacy/ground_truth.py) is
    keyed by it, and other test processes on this machine must not meet it."""
    return secrets.randbits(62)


def node_context(partition: tuple[int, int] = (0, 3), **overrides: object) -> Context:
    """The Context a node gets from Flower: run config, node config and its private state."""
    run_config = {**pyproject_defaults(), **{k.replace("_", "-"): v for k, v in overrides.items()}}
    return Context(
        run_id=fresh_run_id(),
        node_id=7,
        node_config={"partition-id": partition[0], "num-partitions": partition[1]},
        state=RecordDict(),
        run_config=run_config,
    )


def train_message(
    users: list[int],
    theta_record: ArrayRecord,
    epoch: int = 0,
    targets: tuple[int, ...] = (0,),
    server_round: int = 1,
) -> Message:
    theta = theta_from_record(theta_record)
    (message,) = train_messages(theta, epoch, {7: np.asarray(users, dtype=np.int64)}, targets, server_round)
    message.metadata.__dict__["_message_id"] = "m1"  # as the runtime assigns on push
    return message


def evaluate_message(
    theta_record: ArrayRecord, targets: tuple[int, ...] = (0,), epoch: int = 1, server_round: int = 1
) -> Message:
    (message,) = evaluate_messages(theta_from_record(theta_record), [7], targets, epoch, server_round)
    message.metadata.__dict__["_message_id"] = "m2"
    return message
