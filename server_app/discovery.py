"""Asking the nodes which users they host, until every partition has answered."""

import time
from dataclasses import dataclass

import numpy as np
from flwr.app import Message, MessageType, RecordDict
from flwr.serverapp import Grid

from fedrec.directory import UserDirectory


@dataclass
class Federation:
    directory: UserDirectory
    num_items: int
    item_popularity: np.ndarray  # train + test interactions per item, summed over nodes
    malicious_ids: np.ndarray  # simulation ground truth, for reporting only (never given to strategies)


def discover(grid: Grid, timeout: float) -> Federation:
    """Query nodes as they register until the partitions they report cover 0..num-partitions-1."""
    hosted: dict[int, np.ndarray] = {}
    partitions: dict[int, int] = {}
    popularity, num_items, expected = None, 0, None
    malicious: list[np.ndarray] = []
    deadline = time.monotonic() + timeout
    while expected is None or len(partitions) < expected:
        if time.monotonic() > deadline:
            raise TimeoutError(
                f"only partitions {sorted(partitions)} of {expected} answered within {timeout:.0f}s"
            )
        new_nodes = [node for node in grid.get_node_ids() if node not in hosted]
        if not new_nodes:
            time.sleep(0.1)
            continue
        messages = [Message(RecordDict(), dst_node_id=node, message_type=MessageType.QUERY) for node in new_nodes]
        for reply in grid.send_and_receive(messages, timeout=timeout):
            if reply.has_error():
                raise RuntimeError(f"node {reply.metadata.src_node_id} failed to describe itself: {reply.error.reason}")
            info = reply.content["node"]
            node = reply.metadata.src_node_id
            hosted[node] = np.asarray(reply.content["users"]["user-ids"].numpy(), dtype=np.int64)
            partitions[int(info["partition-id"])] = node
            expected = int(info["num-partitions"])
            num_items = int(info["num-items"])
            malicious.append(np.asarray(reply.content["users"]["malicious-ids"].numpy(), dtype=np.int64))
            counts = reply.content["users"]["item-popularity"].numpy()
            popularity = counts if popularity is None else popularity + counts
    return Federation(
        UserDirectory.from_nodes(hosted), num_items, np.asarray(popularity), np.sort(np.concatenate(malicious))
    )
