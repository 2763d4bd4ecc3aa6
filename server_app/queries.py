"""A query every node must answer before the run goes on (fine-pruning's statistics, the exposure scan's counts)."""

from flwr.app import Message
from flwr.serverapp import Grid


def ask_every_node(grid: Grid, messages: list[Message], timeout: float, what: str) -> list[Message]:
    """The replies to `messages`, one per node; a node with an error or no reply in time stops the query with a
    RuntimeError naming `what` it did not send."""
    replies = list(grid.send_and_receive(messages, timeout=timeout))
    good = [reply for reply in replies if not reply.has_error()]
    if len(good) < len(messages):
        reasons = "; ".join(reply.error.reason for reply in replies if reply.has_error()) or "no reply in time"
        raise RuntimeError(f"{len(messages) - len(good)} node(s) sent no {what} ({reasons})")
    return good
