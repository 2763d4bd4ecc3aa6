"""Who hosts whom: node roles, partitions, and moving users to a node that rejoined."""

import numpy as np
import pytest

from deploy.federation import node_configs
from fedrec.directory import UserDirectory, clients_of_role, users_of_partition

MALICIOUS = np.array([10, 11])


def test_roles_split_the_clients_into_benign_and_attacker_sets() -> None:
    assert clients_of_role(12, MALICIOUS, "all").tolist() == list(range(12))
    assert clients_of_role(12, MALICIOUS, "benign").tolist() == list(range(10))
    assert clients_of_role(12, MALICIOUS, "attacker").tolist() == [10, 11]
    with pytest.raises(ValueError, match="valid roles: all, benign, attacker"):
        clients_of_role(12, MALICIOUS, "spy")


def test_benign_partitions_and_attacker_nodes_cover_every_client_exactly_once() -> None:
    hosted = []
    for role, config in node_configs(supernodes=3, attackers=1):
        fields = dict(item.split("=") for item in config.split())
        assert fields["role"].strip('"') == role
        clients = clients_of_role(12, MALICIOUS, role)
        hosted.append(users_of_partition(clients, int(fields["partition-id"]), int(fields["num-partitions"])))
    assert [len(h) for h in hosted] == [5, 5, 2]
    assert sorted(np.concatenate(hosted).tolist()) == list(range(12))


def test_node_configs_need_a_benign_node() -> None:
    assert [role for role, _ in node_configs(2, 0)] == ["all", "all"]
    with pytest.raises(ValueError, match="at least one benign SuperNode"):
        node_configs(2, 2)


def test_a_rejoined_node_takes_over_its_users_and_the_dead_node_is_dropped() -> None:
    directory = UserDirectory.from_nodes({101: np.array([0, 1, 2]), 202: np.array([3, 4])})
    rejoined = directory.reassign(303, np.array([3, 4]))
    assert rejoined.node_ids == (101, 303)
    assert rejoined.users_of(303).tolist() == [3, 4]
    assert {node: users.tolist() for node, users in rejoined.group_by_node(np.array([4, 0])).items()} == {
        303: [4],
        101: [0],
    }
    assert directory.knows(np.array([0, 4])) and not directory.knows(np.array([5]))
