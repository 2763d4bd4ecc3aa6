"""Asking the nodes which users they host: at start, until every client is hosted, and again when a
node comes back under a new node id (a restarted SuperNode)."""

import time
from dataclasses import dataclass
from logging import WARNING

from flwr.common import log
from flwr.serverapp import Grid

from fedrec.directory import UserDirectory
from fedrec.protocol import NodeDescription, describe_messages


@dataclass
class Federation:
    """What the nodes told the server at start: who hosts whom, the run's size and its target items."""

    directory: UserDirectory
    num_clients: int
    num_items: int
    targets: tuple[int, ...]  # as every node resolved them from the run config
    idle_nodes: set[int]  # nodes that answered but host no client (left out of the directory)


def describe(grid: Grid, nodes: list[int], timeout: float) -> tuple[dict[int, NodeDescription], list[str]]:
    """Ask `nodes` which users they host; the descriptions that came back (by node), and why others did not."""
    descriptions, problems = {}, []
    for reply in grid.send_and_receive(describe_messages(nodes), timeout=timeout):
        node = reply.metadata.src_node_id
        if reply.has_error():
            problems.append(f"node {node} failed to describe itself: {reply.error.reason}")
            continue
        descriptions[node] = NodeDescription.parse(reply)
    return descriptions, problems


def discover(grid: Grid, timeout: float) -> Federation:
    """Query nodes as they register until the users they host cover every client of the run.

    Nodes hosting no client (an attacker node in a run without attack) are left out.
    """
    described: dict[int, NodeDescription] = {}
    expected: int | None = None
    hosted = 0
    deadline = time.monotonic() + timeout
    while expected is None or hosted < expected:
        if time.monotonic() > deadline:
            raise TimeoutError(
                f"after {timeout:.0f}s the {len(described)} node(s) that answered host {hosted} of "
                f"{expected if expected is not None else '?'} clients; start every SuperNode with its node-config "
                "(partition-id, num-partitions, role) and check that they reach the SuperLink"
            )
        new_nodes = [node for node in grid.get_node_ids() if node not in described]
        if not new_nodes:
            time.sleep(0.1)
            continue
        descriptions, problems = describe(grid, new_nodes, max(deadline - time.monotonic(), 1.0))
        if problems:
            raise RuntimeError(problems[0])
        for node, description in descriptions.items():
            described[node] = description
            expected = description.num_clients
            hosted += len(description.users)
    first = next(iter(described.values()))
    disagreeing = [
        node for node, d in described.items() if (d.targets, d.num_items) != (first.targets, first.num_items)
    ]
    if disagreeing:
        raise RuntimeError(
            f"node {disagreeing[0]} resolves the target items or the number of items differently from the others: "
            "every SuperNode must load the same dataset"
        )
    hosting = {node: d.users for node, d in described.items() if len(d.users)}
    return Federation(
        directory=UserDirectory.from_nodes(hosting),
        num_clients=first.num_clients,
        num_items=first.num_items,
        targets=first.targets,
        idle_nodes=set(described) - set(hosting),
    )


def rejoin(grid: Grid, directory: UserDirectory, timeout: float, ignored: set[int]) -> UserDirectory:
    """The directory with the users of nodes that registered since it was made moved to them.

    A restarted SuperNode registers under a new node id and hosts the same users as before (same
    node-config); its users' private state restarts from initialisation (Context.state is per
    SuperNode process). Nodes that host nobody or users nobody hosted before are added to `ignored`
    (with a warning for the latter) and not asked again.
    """
    new_nodes = [node for node in grid.get_node_ids() if node not in directory.node_ids and node not in ignored]
    if not new_nodes:
        return directory
    descriptions, problems = describe(grid, new_nodes, timeout)
    for problem in problems:
        log(WARNING, "rejoin: %s", problem)
    for node, description in descriptions.items():
        if not len(description.users):
            ignored.add(node)
            continue
        if not directory.knows(description.users):
            ignored.add(node)
            log(WARNING, "rejoin: node %s hosts users this run does not know; ignored", node)
            continue
        directory = directory.reassign(node, description.users)
        log(WARNING, "rejoin: node %s now hosts %d user(s)", node, len(description.users))
    return directory
