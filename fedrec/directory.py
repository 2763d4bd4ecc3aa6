"""Which node hosts which user: clients are users, nodes host users.

A node (SuperNode) with node_config partition-id p of num-partitions n hosts the p-th contiguous
block of users. In simulation a few nodes host many users each (so a node computes its users'
gradients vectorised); in a deployment one user per node is the realistic case. The server learns
the mapping by asking each node once at start.
"""

from dataclasses import dataclass

import numpy as np


def users_of_partition(num_users: int, partition_id: int, num_partitions: int) -> np.ndarray:
    """The users hosted by partition `partition_id` of `num_partitions` (contiguous blocks)."""
    if not 0 <= partition_id < num_partitions:
        raise ValueError(f"partition-id {partition_id} is outside 0..{num_partitions - 1}")
    return np.array_split(np.arange(num_users, dtype=np.int64), num_partitions)[partition_id]


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

    def group_by_node(self, users: np.ndarray) -> dict[int, np.ndarray]:
        """The given users split by hosting node, each group in the given order."""
        index = self.node_index[np.searchsorted(self.user_ids, users)]
        return {self.node_ids[i]: users[index == i] for i in np.unique(index)}
