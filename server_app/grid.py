"""A Grid that collects replies as soon as they arrive.

Flower's grids pull replies on a fixed sleep (0.1 s in simulation, 3 s over the Runtime API), which
would add that much to every one of the hundreds of rounds an experiment has. This wrapper pushes
the same messages and polls sooner: every 2 ms in simulation, where a pull is an in-memory call,
and every 50 ms against a real SuperLink, where each pull is an HTTP request (a round there takes
seconds, so 50 ms costs little and spares the SuperLink). Everything else goes to the wrapped grid.

Every reply it hands on is logged at DEBUG (Flower's `FLWR_LOG_LEVEL=DEBUG`) as `RECEIVED` and one JSON
object: the message type and, per record, each key with an array's dtype and shape or a config or metric
value; so what the server receives can be audited from its log (tests/test_wire_audit.py does).
"""

import json
import time
from collections.abc import Iterable
from logging import DEBUG
from typing import Any

from flwr.app import ArrayRecord, Message
from flwr.common import log
from flwr.serverapp import Grid
from flwr.superlink.grid import InMemoryGrid

RECEIVED = "fedrec-arena received"


class _Received:
    """A reply's shape and small values, rendered only if a DEBUG log line is written."""

    def __init__(self, reply: Message) -> None:
        self._reply = reply

    def __str__(self) -> str:
        content: dict[str, Any] = {}
        if not self._reply.has_error():
            for name, record in self._reply.content.items():
                if isinstance(record, ArrayRecord):
                    content[name] = {key: f"{array.dtype}{list(array.shape)}" for key, array in record.items()}
                else:
                    content[name] = dict(record)
        return json.dumps({"type": self._reply.metadata.message_type, "content": content}, default=str)


IN_MEMORY_POLL_S = 0.002
REMOTE_POLL_S = 0.05


class PromptGrid(Grid):
    def __init__(self, grid: Grid) -> None:
        self._grid = grid
        self.poll_interval = IN_MEMORY_POLL_S if isinstance(grid, InMemoryGrid) else REMOTE_POLL_S

    def set_run(self, run) -> None:  # type: ignore[no-untyped-def]
        self._grid.set_run(run)

    @property
    def run(self):  # type: ignore[no-untyped-def]
        return self._grid.run

    def create_message(self, *args, **kwargs) -> Message:  # type: ignore[no-untyped-def]
        return self._grid.create_message(*args, **kwargs)

    def get_node_ids(self) -> Iterable[int]:
        return self._grid.get_node_ids()

    def push_messages(self, messages: Iterable[Message]) -> Iterable[str]:
        return self._grid.push_messages(messages)

    def pull_messages(self, message_ids: Iterable[str]) -> Iterable[Message]:
        replies = list(self._grid.pull_messages(message_ids))
        for reply in replies:
            log(DEBUG, "%s %s", RECEIVED, _Received(reply))
        return replies

    def send_and_receive(self, messages: Iterable[Message], *, timeout: float | None = None) -> Iterable[Message]:
        pending = set(self.push_messages(messages))
        deadline = None if timeout is None else time.monotonic() + timeout
        replies: list[Message] = []
        while pending and (deadline is None or time.monotonic() < deadline):
            arrived = list(self.pull_messages(pending))
            replies.extend(arrived)
            pending.difference_update(reply.metadata.reply_to_message_id for reply in arrived)
            if pending:
                time.sleep(self.poll_interval)
        return replies
