"""What a node knows: its validated config, its users' data, who among them is malicious, and
their private embeddings.

The dataset is parsed once per process and cached (a simulation worker serves many messages and
possibly several nodes; a deployed SuperNode starts a process per message and parses again).
Private user embeddings live in `Context.state`, which Flower keeps per node across rounds, as do the
arrays an attack keeps across rounds (FedRecAttack's first-round item sets and kept surrogate users).
"""

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import torch
from flwr.app import Array, ArrayRecord, Context

from app_config import load_config
from attacks import ATTACKS, Attack, build_attack, run_threat
from attacks.threat import ThreatModel
from client_defenses import CLIENT_DEFENSES
from datasets import load_dataset
from fedrec.config import RunConfig
from fedrec.data.dataset import RecDataset
from fedrec.directory import clients_of_role, users_of_partition
from fedrec.errors import ConfigError
from fedrec.models.base import RecModel
from fedrec.models.registry import build_model
from fedrec.sequential.batch import profile_codes
from fedrec.training.item_movement import ItemMovement
from fedrec.training.user_step import UserAdamState, UserStep

_EMBEDDINGS = "user-embeddings"
_ITEM_MOVEMENT = "item-movement"
_ATTACK_STATE = "attack-state"  # what an attack keeps across rounds (Attack.keeps_state)
_USER_OPTIMIZER = "user-optimizer"  # the Adam state of the node's rows (`user-optimizer = "adam"`)
_EXP_AVG, _EXP_AVG_SQ, _ADVANCED = "exp-avg", "exp-avg-sq", "advanced"
_FIRST_TABLE, _FIRST_EPOCH, _ORDER = "first", "first-epoch", "order"


@dataclass(frozen=True)
class Node:
    config: RunConfig
    dataset: RecDataset
    model: RecModel
    threat: ThreatModel
    user_ids: np.ndarray  # hosted clients: real users and, with injected attacks, fake ones
    partition_id: int
    num_partitions: int
    role: str  # which clients the partitions split: all, benign or attacker (fedrec.directory)

    def local_positions(self, users: np.ndarray) -> np.ndarray:
        positions = np.searchsorted(self.user_ids, users)
        valid = positions < len(self.user_ids)
        if not valid.all() or np.any(self.user_ids[positions] != users):
            raise ConfigError(f"asked about users this node does not host: {users[:5].tolist()}")
        return positions

    def real_users(self) -> np.ndarray:
        return self.user_ids[self.user_ids < self.dataset.num_users]

    def own_items(self, user: int) -> np.ndarray:
        """A client's real training items (in time order for a sequential model); injected fake users have none."""
        if user >= self.dataset.num_users:
            return np.zeros(0, dtype=np.int64)
        return self.dataset.train_sequence(user) if self.model.sequential else self.dataset.train_items(user)

    def own_profile(self, users: np.ndarray) -> np.ndarray | None:
        """[n, 3] prompt codes of the clients' own profiles for a sequential model (None otherwise or for
        injected fake users, who have no profile)."""
        if not self.model.sequential or np.any(users >= self.dataset.num_users):
            return None
        return profile_codes(self.dataset.profiles, users)

    def attack(self, targets: tuple[int, ...]) -> Attack:
        return _attack(self.config, targets)

    def observes_item_movement(self) -> bool:
        """Whether the run's attack or client-side training defense reads how the item table moved."""
        return (
            ATTACKS.selected(self.config).observes_item_movement
            or CLIENT_DEFENSES.selected(self.config).observes_item_movement
        )


@lru_cache(maxsize=4)
def _dataset(config: RunConfig) -> RecDataset:
    return load_dataset(config)


@lru_cache(maxsize=4)
def _attack(config: RunConfig, targets: tuple[int, ...]) -> Attack:
    model = build_model(config)
    return build_attack(config, model, targets, _dataset(config))


def _partition(node_config: dict[str, object]) -> tuple[int, int, str]:
    try:
        partition = int(node_config["partition-id"]), int(node_config["num-partitions"])
    except KeyError:
        raise ConfigError(
            "node-config must set partition-id and num-partitions, e.g. --node-config 'partition-id=0 num-partitions=4'"
        ) from None
    return *partition, str(node_config.get("role", "all"))


def node_from_context(context: Context) -> Node:
    """The node a message is for. Built once per (run config, node config) and process: validating the config
    and splitting the users cost milliseconds, which every one of a run's messages would pay again."""
    return _node(tuple(sorted(context.run_config.items())), tuple(sorted(context.node_config.items())))


@lru_cache(maxsize=4)
def _node(run_config: tuple[tuple[str, object], ...], node_config: tuple[tuple[str, object], ...]) -> Node:
    config = load_config(dict(run_config))
    dataset = _dataset(config)
    threat = run_threat(config, dataset.num_users)
    partition_id, num_partitions, role = _partition(dict(node_config))
    try:
        clients = clients_of_role(threat.num_users, threat.malicious_ids, role)
        user_ids = users_of_partition(clients, partition_id, num_partitions)
    except ValueError as error:
        raise ConfigError(f"node-config: {error}") from None
    if num_partitions > max(len(clients), 1):
        raise ConfigError(f"num-partitions {num_partitions} exceeds the {len(clients)} {role} clients of this run")
    return Node(
        config=config,
        dataset=dataset,
        model=build_model(config),
        threat=threat,
        user_ids=user_ids,
        partition_id=partition_id,
        num_partitions=num_partitions,
        role=role,
    )


def load_user_embeddings(context: Context, node: Node) -> torch.Tensor:
    if _EMBEDDINGS not in context.state:
        return node.model.init_user_embeddings(node.user_ids, node.config.seed, node.threat.num_users)
    return torch.from_numpy(np.array(context.state[_EMBEDDINGS]["embeddings"].numpy(), copy=True))


def save_user_embeddings(context: Context, embeddings: torch.Tensor) -> None:
    context.state[_EMBEDDINGS] = ArrayRecord({"embeddings": Array(embeddings.numpy())})


def load_user_step(context: Context, node: Node) -> UserStep:
    """The run's `user-optimizer` over the node's rows, with the state it kept from the node's earlier rounds."""
    config, state = node.config, None
    if _USER_OPTIMIZER in context.state:
        record = context.state[_USER_OPTIMIZER]
        state = UserAdamState(
            *(torch.from_numpy(record[name].numpy().copy()) for name in (_EXP_AVG, _EXP_AVG_SQ, _ADVANCED))
        )
    return UserStep(config.user_optimizer, config.user_lr, state)


def save_user_step(context: Context, step: UserStep) -> None:
    if step.state is not None:
        state = step.state
        context.state[_USER_OPTIMIZER] = ArrayRecord(
            {
                _EXP_AVG: Array(state.exp_avg.numpy()),
                _EXP_AVG_SQ: Array(state.exp_avg_sq.numpy()),
                _ADVANCED: Array(state.advanced.numpy()),
            }
        )


def load_item_movement(context: Context) -> ItemMovement:
    """The node's memory of how the item table moved (PIECK's popular items), empty before its first round."""
    if _ITEM_MOVEMENT not in context.state:
        return ItemMovement()
    record = context.state[_ITEM_MOVEMENT]
    if _ORDER in record:
        return ItemMovement(order=torch.from_numpy(record[_ORDER].numpy().copy()))
    first = torch.from_numpy(record[_FIRST_TABLE].numpy().copy())
    return ItemMovement(first=first, first_epoch=int(record[_FIRST_EPOCH].numpy()[0]))


def save_item_movement(context: Context, movement: ItemMovement) -> None:
    if movement.order is not None:
        arrays = {_ORDER: Array(movement.order.numpy())}
    else:
        arrays = {_FIRST_TABLE: Array(movement.first.numpy()), _FIRST_EPOCH: Array(np.array([movement.first_epoch]))}
    context.state[_ITEM_MOVEMENT] = ArrayRecord(arrays)


def load_attack_state(context: Context) -> dict[str, np.ndarray]:
    """The arrays the node's attack kept from its earlier rounds (empty before its first)."""
    kept = context.state.get(_ATTACK_STATE, ArrayRecord())
    return {key: np.array(array.numpy(), copy=True) for key, array in kept.items()}


def save_attack_state(context: Context, state: dict[str, np.ndarray]) -> None:
    context.state[_ATTACK_STATE] = ArrayRecord(
        {key: Array(np.ascontiguousarray(value)) for key, value in state.items()}
    )
