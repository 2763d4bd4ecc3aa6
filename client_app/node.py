"""What a node knows: its validated config, its users' data, and their private embeddings.

The dataset is parsed once per process and cached (a simulation worker serves many messages and
possibly several nodes; a deployed SuperNode starts a process per message and parses again).
Private user embeddings live in `Context.state`, which Flower keeps per node across rounds.
"""

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import torch
from flwr.app import Array, ArrayRecord, Context

from datasets import load_dataset
from fedrec.config import RunConfig
from fedrec.data import RecDataset
from fedrec.directory import users_of_partition
from fedrec.errors import ConfigError
from fedrec.models import MODELS, RecModel

_EMBEDDINGS = "user-embeddings"


@dataclass(frozen=True)
class Node:
    config: RunConfig
    dataset: RecDataset
    model: RecModel
    user_ids: np.ndarray
    partition_id: int
    num_partitions: int

    def local_positions(self, users: np.ndarray) -> np.ndarray:
        positions = np.searchsorted(self.user_ids, users)
        if np.any(positions >= len(self.user_ids)) or np.any(self.user_ids[positions.clip(max=len(self.user_ids) - 1)] != users):
            raise ConfigError(f"asked to train users this node does not host: {users[:5].tolist()}...")
        return positions


@lru_cache(maxsize=4)
def _dataset(config: RunConfig) -> RecDataset:
    return load_dataset(config)


def _partition(context: Context) -> tuple[int, int]:
    try:
        return int(context.node_config["partition-id"]), int(context.node_config["num-partitions"])
    except KeyError:
        raise ConfigError(
            "node-config must set partition-id and num-partitions, e.g. --node-config 'partition-id=0 num-partitions=4'"
        ) from None


def node_from_context(context: Context) -> Node:
    config = RunConfig.from_mapping(context.run_config)
    dataset = _dataset(config)
    partition_id, num_partitions = _partition(context)
    if num_partitions > dataset.num_users:
        raise ConfigError(f"num-partitions {num_partitions} exceeds the {dataset.num_users} users of {dataset.name}")
    return Node(
        config=config,
        dataset=dataset,
        model=MODELS.get(config.model)(config.embedding_dim, config.hidden_layers),
        user_ids=users_of_partition(dataset.num_users, partition_id, num_partitions),
        partition_id=partition_id,
        num_partitions=num_partitions,
    )


def load_user_embeddings(context: Context, node: Node) -> torch.Tensor:
    if _EMBEDDINGS not in context.state:
        return node.model.init_user_embeddings(node.user_ids, node.config.seed)
    return torch.from_numpy(np.array(context.state[_EMBEDDINGS]["embeddings"].numpy(), copy=True))


def save_user_embeddings(context: Context, embeddings: torch.Tensor) -> None:
    context.state[_EMBEDDINGS] = ArrayRecord({"embeddings": Array(embeddings.numpy())})
