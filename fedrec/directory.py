"""Which node hosts which user: clients are users, nodes host users.

A node (SuperNode) with node_config partition-id p of num-partitions n hosts the p-th contiguous
block of the clients its role covers (node_config `role`: all, benign or attacker; default all).
In simulation a few nodes host many users each (so a node computes its users' gradients
vectorised); in a deployment one user per node is the realistic case. The server learns the
mapping by asking the nodes at start, and asks again when a node comes back under a new id.
"""

from dataclasses import dataclass

import numpy as np

NODE_ROLES = ("all", "benign", "attacker")


def users_of_partition(clients: np.ndarray, partition_id: int, num_partitions: int) -> np.ndarray:
    """The `partition_id`-th of `num_partitions` contiguous blocks of `clients` (sorted ids)."""
    if not 0 <= partition_id < num_partitions:
        raise ValueError(f"partition-id {partition_id} is outside 0..{num_partitions - 1}")
    return np.array_split(np.asarray(clients, dtype=np.int64), num_partitions)[partition_id]


def clients_of_role(num_clients: int, malicious_ids: np.ndarray, role: str) -> np.ndarray:
    """The clients a node's role covers: `all` of them (simulation, where any node may host attackers),
    the `benign` ones, or the malicious ones (`attacker`: a node run by the attacker, as in a deployment
    where the attacker controls its own machines)."""
    clients = np.arange(num_clients, dtype=np.int64)
    if role == "all":
        return clients
    is_malicious = np.isin(clients, malicious_ids)
    if role == "benign":
        return clients[~is_malicious]
    if role == "attacker":
        return clients[is_malicious]
    raise ValueError(f"unknown node role {role!r}; valid roles: {', '.join(NODE_ROLES)}")


@dataclass(frozen=True)
class UserDirectory:
    """Users known to the server and the node that hosts each of them.

    Flower node ids are unsigned 64-bit integers, so users map to a position in `node_ids`.
    """

    user_ids: np.ndarray  # sorted global user ids
    node_ids: tuple[int, ...]
    node_index: np.ndarray  # per entry of user_ids, its node's position in node_ids

    @classmethod
    def from_nodes(cls, hosted: dict[int, np.ndarray]) -> "UserDirectory":
        node_ids = tuple(sorted(hosted))
        if not node_ids:
            raise ValueError("no node hosts any user")
        users = np.concatenate([hosted[node] for node in node_ids])
        index = np.concatenate([np.full(len(hosted[node]), i, dtype=np.int64) for i, node in enumerate(node_ids)])
        if len(np.unique(users)) != len(users):
            raise ValueError("two nodes claim the same user; check the nodes' partition-id/num-partitions")
        order = np.argsort(users, kind="stable")
        return cls(user_ids=users[order], node_ids=node_ids, node_index=index[order])

    @property
    def nodes(self) -> list[int]:
        return list(self.node_ids)

    def reassign(self, node: int, users: np.ndarray) -> "UserDirectory":
        """The directory with `users` (all already known) now hosted by `node`, e.g. a restarted
        SuperNode that came back under a new node id. Nodes left without users are dropped."""
        hosted = {n: self.users_of(n) for n in self.node_ids}
        hosted = {n: own[~np.isin(own, users)] for n, own in hosted.items()}
        hosted[node] = np.concatenate([hosted.get(node, np.zeros(0, dtype=np.int64)), users])
        return UserDirectory.from_nodes({n: own for n, own in hosted.items() if len(own)})

    def knows(self, users: np.ndarray) -> bool:
        return bool(np.isin(users, self.user_ids).all())

    def users_of(self, node: int) -> np.ndarray:
        return self.user_ids[self.node_index == self.node_ids.index(node)]

    def group_by_node(self, users: np.ndarray) -> dict[int, np.ndarray]:
        """The given users split by hosting node, each group in the given order."""
        index = self.node_index[np.searchsorted(self.user_ids, users)]
        return {self.node_ids[i]: users[index == i] for i in np.unique(index)}
