"""What a node builds from its Context: once per (run config, node config) in a process, not per message."""

from client_app.node import node_from_context
from tests.conftest import node_context

SETTINGS = {"synthetic_users": 30, "synthetic_items": 60}


def test_a_node_is_built_once_per_run_and_node_config_and_anew_when_either_changes() -> None:
    first = node_from_context(node_context(partition=(0, 2), **SETTINGS))
    assert node_from_context(node_context(partition=(0, 2), **SETTINGS)) is first  # another message, same node
    other_partition = node_from_context(node_context(partition=(1, 2), **SETTINGS))
    other_seed = node_from_context(node_context(partition=(0, 2), seed=7, **SETTINGS))
    assert other_partition is not first and set(other_partition.user_ids).isdisjoint(first.user_ids)
    assert other_seed is not first and other_seed.config.seed == 7
