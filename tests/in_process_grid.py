"""A Grid whose nodes answer in this process: fake nodes (functions from a message to a reply) for the
strategy's failure paths, or the real ClientApp (`client_app_nodes`), so that the ServerApp's `main`
runs in a unit test against nodes that load data and answer as in a simulation, without Flower's runtime.

For server-side paths (a defense's aggregation, the stop on a bad setting, node failures) whose messages
the e2e runs already carry through Flower.
"""

from collections.abc import Callable, Iterable

from flwr.app import Context, Message, RecordDict
from flwr.serverapp import Grid

from app_config import pyproject_defaults
from client_app.app import app as client_app
from server_app.app import main
from tests.conftest import fresh_run_id

#: A node: a function from a message to its reply, or to None for a node that never replies.
Node = Callable[[Message], Message | None]


class InProcessGrid(Grid):
    """Nodes that answer in this process as soon as a message is pushed; `online` is what the grid reports
    (a node taken out of it is neither listed nor messaged), `sent` every message pushed."""

    def __init__(self, nodes: dict[int, Node]) -> None:
        self.nodes = nodes
        self.online = set(nodes)
        self.sent: list[Message] = []
        self._mailbox: dict[str, Message] = {}
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
        return sorted(self.online)

    def push_messages(self, messages: Iterable[Message]) -> Iterable[str]:
        ids = []
        for message in messages:
            message.metadata.__dict__["_message_id"] = f"message-{len(self.sent)}"  # as the SuperLink assigns
            self.sent.append(message)
            ids.append(message.metadata.message_id)
            node = self.nodes.get(message.metadata.dst_node_id)
            reply = node(message) if node is not None and message.metadata.dst_node_id in self.online else None
            if reply is not None:
                self._mailbox[message.metadata.message_id] = reply
        return ids

    def pull_messages(self, message_ids: Iterable[str]) -> Iterable[Message]:
        return [self._mailbox.pop(key) for key in message_ids if key in self._mailbox]

    def send_and_receive(self, messages: Iterable[Message], *, timeout: float | None = None) -> Iterable[Message]:
        return self.pull_messages(self.push_messages(messages))

    def destinations(self, since: int) -> set[int]:
        """The nodes messaged since the `since`-th message."""
        return {message.metadata.dst_node_id for message in self.sent[since:]}


def client_app_nodes(run_config: dict[str, object], num_nodes: int = 2, run_id: int = 1) -> dict[int, Node]:
    """`num_nodes` nodes running the real ClientApp, node i holding partition i of `num_nodes`, each with
    its own Context (its state kept between messages)."""

    def node(partition: int) -> Node:
        context = Context(
            run_id=run_id,
            node_id=partition + 1,
            node_config={"partition-id": partition, "num-partitions": num_nodes},
            state=RecordDict(),
            run_config=dict(run_config),
        )
        return lambda message: client_app(message, context)

    return {partition + 1: node(partition) for partition in range(num_nodes)}


def run_server_app(overrides: dict[str, object], num_nodes: int = 2) -> None:
    """The ServerApp's `main` with the default run config and `overrides`, on `num_nodes` in-process nodes."""
    run_config, run_id = {**pyproject_defaults(), **overrides}, fresh_run_id()
    main(
        InProcessGrid(client_app_nodes(run_config, num_nodes, run_id)),
        Context(run_id=run_id, node_id=0, node_config={}, state=RecordDict(), run_config=run_config),
    )
