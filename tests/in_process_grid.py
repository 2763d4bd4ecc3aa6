"""A Grid that hands each message to the real ClientApp in this process: the ServerApp's `main` runs
in a unit test, against nodes that load data and answer as in a simulation, without Flower's runtime.

For server-side paths (a defense's aggregation, the stop on a bad setting) whose messages the e2e
runs already carry through Flower.
"""

from collections.abc import Iterable
from uuid import uuid4

from flwr.app import Context, Message, RecordDict
from flwr.serverapp import Grid

from app_config import pyproject_defaults
from client_app.app import app as client_app
from server_app.app import main
from tests.conftest import fresh_run_id


class InProcessGrid(Grid):
    """`num_nodes` simulated nodes, node i holding partition i of `num_nodes`, each with its own Context
    (its state kept between messages); a message is answered as soon as it is pushed."""

    def __init__(self, run_config: dict[str, object], num_nodes: int = 2, run_id: int = 1) -> None:
        self._contexts = {
            node: Context(
                run_id=run_id,
                node_id=node,
                node_config={"partition-id": node - 1, "num-partitions": num_nodes},
                state=RecordDict(),
                run_config=dict(run_config),
            )
            for node in range(1, num_nodes + 1)
        }
        self._replies: dict[str, Message] = {}
        self._run = None

    def set_run(self, run) -> None:  # type: ignore[no-untyped-def]
        self._run = run

    @property
    def run(self):  # type: ignore[no-untyped-def]
        return self._run

    def create_message(
        self, content: RecordDict, message_type: str, dst_node_id: int, group_id: str, ttl: float | None = None
    ) -> Message:
        return Message(content, dst_node_id, message_type, ttl=ttl, group_id=group_id)

    def get_node_ids(self) -> Iterable[int]:
        return list(self._contexts)

    def push_messages(self, messages: Iterable[Message]) -> Iterable[str]:
        pushed = []
        for message in messages:
            message.metadata.__dict__["_message_id"] = str(uuid4())  # as the runtime assigns on push
            self._replies[message.metadata.message_id] = client_app(
                message, self._contexts[message.metadata.dst_node_id]
            )
            pushed.append(message.metadata.message_id)
        return pushed

    def pull_messages(self, message_ids: Iterable[str]) -> Iterable[Message]:
        return [self._replies.pop(message_id) for message_id in message_ids if message_id in self._replies]

    def send_and_receive(self, messages: Iterable[Message], *, timeout: float | None = None) -> Iterable[Message]:
        return self.pull_messages(self.push_messages(messages))


def run_server_app(overrides: dict[str, object], num_nodes: int = 2) -> None:
    """The ServerApp's `main` with the default run config and `overrides`, on `num_nodes` in-process nodes."""
    run_config, run_id = {**pyproject_defaults(), **overrides}, fresh_run_id()
    main(
        InProcessGrid(run_config, num_nodes, run_id),
        Context(run_id=run_id, node_id=0, node_config={}, state=RecordDict(), run_config=run_config),
    )
