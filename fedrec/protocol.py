"""The messages the ServerApp and the ClientApp exchange: every field name, and one builder and one parser each.

Nothing else in the project names a record or a key of a message; the ServerApp (strategies/, server_app/)
and the ClientApp (client_app/) translate messages only through this module. The exchange:

- describe (a query with no content) -> `NodeDescription`: which users a node hosts, the run's size and
  its target items as the node resolved them from the run config (`least-popular:k` over the whole
  dataset, which every node loads). No interaction count and no simulation ground truth: who is malicious
  the ServerApp derives from the run config (attacks/threat.py), and a curious server's scoring truth
  never leaves the node's machine (privacy/ground_truth.py).
- train (`TrainInstruction`: Θ, the epoch, the node's users of the round, the target items) ->
  `TrainReply`: the users' updates (`UserUpdates`, one CSR batch) and the benign users' summed loss.
- secure aggregation (`secure-aggregation = true`): a keys query (`SECAGG_KEYS`, no content) ->
  `NodePublicKey`, the node's X25519 public key; the train instruction then also carries the round number
  and the public keys of the round's nodes (`PEERS`), and a node answers `MaskedTrainReply`: one masked
  vector (privacy/secure_aggregation.py) and, only from colluding malicious clients, their own updates for
  the collusion channel. No per-user record and no loss in the clear.
- evaluate (`EvaluateInstruction`: Θ, the target items, the epoch evaluated and its last server round) ->
  `GroupedCounts`: the node's additive ranking counts under `counts`, and per user group under `counts/<group>`.
- activations (`ACTIVATIONS`, fine-pruning: Θ) -> `FeedforwardActivity`: per-unit activation sums.
- exposure (`EXPOSURE_QUERY`, the federated exposure scan: Θ, K) -> `ExposureStatistics`: per profile group, its
  number of users and per item how many of them have it in their top K and how many interacted with it.

Θ travels as an ArrayRecord with one array per parameter name. Arrays are copied in both directions, so a
parsed message shares no memory with the record it came from.
"""

from dataclasses import dataclass

import numpy as np
import torch
from flwr.app import Array, ArrayRecord, ConfigRecord, Message, MessageType, MetricRecord, RecordDict

from fedrec.evaluation.grouped import GroupedCounts
from fedrec.evaluation.metrics import EvalCounts
from fedrec.models.base import Theta
from fedrec.updates import UserUpdates

# Records of a message's content.
THETA = "theta"
CONFIG = "config"
UPDATES = "updates"
METRICS = "metrics"
COUNTS = "counts"  # all evaluated users; a user group's counts are under f"{COUNTS}/{group}"
USERS = "users"  # the describe reply's ArrayRecord (and a key of CONFIG and of COUNTS, below)
NODE = "node"
ACTIVITY = "activity"
ACTIVITY_POSITIONS = "activity-positions"

# Keys of the train and evaluate instructions' CONFIG.
EPOCH = "epoch"
TARGETS = "targets"

# Keys of a train reply's METRICS.
LOSS_SUM = "loss-sum"
LOSS_COUNT = "loss-count"

# Keys of the UPDATES record (one CSR batch of users, `fedrec.updates.UserUpdates`).
USER_IDS = "user-ids"
ITEM_INDPTR = "item-indptr"
ITEM_IDS = "item-ids"
ITEM_GRADS = "item-grads"
NUM_SAMPLES = "num-samples"
DENSE_GRAD_PREFIX = "grad:"  # followed by the dense parameter's name

# Keys of a COUNTS record (`EvalCounts` as sums; lists are flattened row-major).
RECALL = "recall"
PRECISION = "precision"
NDCG = "ndcg"
TARGET_HITS = "target-hits"
TARGET_ELIGIBLE = "target-eligible"
SAMPLED_HR = "sampled-hr"  # only in a record of counts with the sampled metrics
SAMPLED_NDCG = "sampled-ndcg"

# Keys of the describe reply: USERS holds USER_IDS, NODE the node's config and the run's TARGETS.
PARTITION_ID = "partition-id"
NUM_PARTITIONS = "num-partitions"
ROLE = "role"
NUM_CLIENTS = "num-clients"
NUM_ITEMS = "num-items"

# Fine-pruning's query (a QUERY message type of its own) and the keys of its reply.
MASKED = "masked"  # secure aggregation: the node's masked upload (MASKED_SUM) in a train reply
COLLUDERS = "colluders"  # secure aggregation: colluding malicious clients' own updates, for the collusion channel
PEERS = "peers"  # secure aggregation: the round's nodes and their public keys in a train instruction
KEYS = "keys"  # the keys reply's ConfigRecord

# Keys of the train instruction's CONFIG (besides EPOCH, USERS, TARGETS), of PEERS, MASKED and KEYS.
SERVER_ROUND = "server-round"
NODE_IDS = "node-ids"
PUBLIC_KEYS = "public-keys"
MASKED_SUM = "sum"
PUBLIC_KEY = "public-key"

# Secure aggregation's key query (a QUERY message type of its own).
SECAGG_KEYS_ACTION = "secagg_keys"  # the ClientApp's `@app.query(SECAGG_KEYS_ACTION)`
SECAGG_KEYS = f"{MessageType.QUERY}.{SECAGG_KEYS_ACTION}"

ACTIVATIONS_ACTION = "activations"  # the ClientApp's `@app.query(ACTIVATIONS_ACTION)`
ACTIVATIONS = f"{MessageType.QUERY}.{ACTIVATIONS_ACTION}"
ACTIVITY_SUM = "sum"
POSITIONS = "positions"

# The exposure scan's query (a QUERY message type of its own): THETA and, in CONFIG, TOP_K. Its reply: under
# EXPOSURE the arrays f"{group}/{EXPOSED}" and f"{group}/{INTERACTIONS}", under EXPOSURE_USERS each group's users.
EXPOSURE_ACTION = "exposure"  # the ClientApp's `@app.query(EXPOSURE_ACTION)`
EXPOSURE_QUERY = f"{MessageType.QUERY}.{EXPOSURE_ACTION}"
TOP_K = "top-k"
EXPOSURE = "exposure"
EXPOSURE_USERS = "exposure-users"
EXPOSED = "exposed"
INTERACTIONS = "interactions"


def _to_array(tensor: torch.Tensor) -> Array:
    return Array(np.ascontiguousarray(tensor.detach().cpu().numpy()))


def _to_tensor(array: Array) -> torch.Tensor:
    # Array.numpy() decodes into a fresh array; copy only if it ever shares or locks its memory.
    return torch.from_numpy(np.require(array.numpy(), requirements=["WRITEABLE", "OWNDATA"]))


def theta_to_record(theta: Theta) -> ArrayRecord:
    return ArrayRecord({name: _to_array(tensor) for name, tensor in theta.items()})


def theta_from_record(record: ArrayRecord) -> Theta:
    return {name: _to_tensor(array) for name, array in record.items()}


def updates_to_record(updates: UserUpdates) -> ArrayRecord:
    record = ArrayRecord()
    for key, tensor in (
        (USER_IDS, updates.user_ids),
        (ITEM_INDPTR, updates.item_indptr),
        (ITEM_IDS, updates.item_ids),
        (ITEM_GRADS, updates.item_grads),
        (NUM_SAMPLES, updates.num_samples),
    ):
        record[key] = _to_array(tensor)
    for name, grad in updates.dense_grads.items():
        record[DENSE_GRAD_PREFIX + name] = _to_array(grad)
    return record


def updates_from_record(record: ArrayRecord) -> UserUpdates:
    return UserUpdates(
        user_ids=_to_tensor(record[USER_IDS]),
        item_indptr=_to_tensor(record[ITEM_INDPTR]),
        item_ids=_to_tensor(record[ITEM_IDS]),
        item_grads=_to_tensor(record[ITEM_GRADS]),
        dense_grads={
            key[len(DENSE_GRAD_PREFIX) :]: _to_tensor(record[key])
            for key in record
            if key.startswith(DENSE_GRAD_PREFIX)
        },
        num_samples=_to_tensor(record[NUM_SAMPLES]),
    )


def counts_to_record(counts: EvalCounts) -> MetricRecord:
    """A node's evaluation counts as a MetricRecord of sums (lists are flattened row-major)."""
    record = {
        USERS: counts.users,
        RECALL: counts.recall.tolist(),
        PRECISION: counts.precision.tolist(),
        NDCG: counts.ndcg.tolist(),
        TARGET_HITS: counts.target_hits.ravel().tolist(),
        TARGET_ELIGIBLE: counts.target_eligible.tolist(),
    }
    if counts.sampled:
        record.update({SAMPLED_HR: counts.sampled_hr.tolist(), SAMPLED_NDCG: counts.sampled_ndcg.tolist()})
    return MetricRecord(record)


def counts_from_record(record: MetricRecord, ks: tuple[int, ...], targets: tuple[int, ...]) -> EvalCounts:
    shape = (len(targets), len(ks))
    sampled = SAMPLED_HR in record
    return EvalCounts(
        ks=ks,
        targets=targets,
        users=int(record[USERS]),
        recall=np.asarray(record[RECALL], dtype=np.float64),
        precision=np.asarray(record[PRECISION], dtype=np.float64),
        ndcg=np.asarray(record[NDCG], dtype=np.float64),
        target_hits=np.asarray(record[TARGET_HITS], dtype=np.float64).reshape(shape),
        target_eligible=np.asarray(record[TARGET_ELIGIBLE], dtype=np.float64),
        sampled=sampled,
        sampled_hr=np.asarray(record[SAMPLED_HR], dtype=np.float64) if sampled else None,
        sampled_ndcg=np.asarray(record[SAMPLED_NDCG], dtype=np.float64) if sampled else None,
    )


def describe_messages(nodes: list[int]) -> list[Message]:
    """The describe query to each of `nodes` (it carries nothing)."""
    return [Message(RecordDict(), dst_node_id=node, message_type=MessageType.QUERY) for node in nodes]


@dataclass(frozen=True)
class NodeDescription:
    """A node's answer to describe: the users it hosts and what it knows of the run, all public to the
    federation (no interaction count, no ground truth)."""

    users: np.ndarray  # the clients this node hosts (real users and, with injected attacks, fake ones)
    num_clients: int  # clients of the whole run
    num_items: int
    partition_id: int
    num_partitions: int
    role: str
    #: The run's target items, resolved by the node from the run config and the dataset every node loads
    #: (the attacker's public choice); the server checks that all nodes agree.
    targets: tuple[int, ...]

    def reply_to(self, query: Message) -> Message:
        content = RecordDict(
            {
                USERS: ArrayRecord({USER_IDS: Array(self.users)}),
                NODE: ConfigRecord(
                    {
                        PARTITION_ID: self.partition_id,
                        NUM_PARTITIONS: self.num_partitions,
                        ROLE: self.role,
                        NUM_CLIENTS: self.num_clients,
                        NUM_ITEMS: self.num_items,
                        TARGETS: list(self.targets),
                    }
                ),
            }
        )
        return Message(content, reply_to=query)

    @classmethod
    def parse(cls, reply: Message) -> "NodeDescription":
        users, node = reply.content[USERS], reply.content[NODE]
        return cls(
            users=np.asarray(users[USER_IDS].numpy(), dtype=np.int64),
            num_clients=int(node[NUM_CLIENTS]),
            num_items=int(node[NUM_ITEMS]),
            partition_id=int(node[PARTITION_ID]),
            num_partitions=int(node[NUM_PARTITIONS]),
            role=str(node[ROLE]),
            targets=tuple(int(t) for t in node[TARGETS]),
        )


def train_messages(
    theta: Theta,
    epoch: int,
    users_by_node: dict[int, np.ndarray],
    targets: tuple[int, ...],
    server_round: int,
    peers: dict[int, bytes] | None = None,
) -> list[Message]:
    """One train instruction per node: Θ (encoded once), the 0-based epoch, the node's users of the round,
    the round; under secure aggregation, `peers` (the round's nodes and their public keys)."""
    record = theta_to_record(theta)
    messages = []
    for node, users in users_by_node.items():
        content = RecordDict(
            {
                THETA: record,
                CONFIG: ConfigRecord(
                    {EPOCH: epoch, USERS: users.tolist(), TARGETS: list(targets), SERVER_ROUND: server_round}
                ),
            }
        )
        if peers is not None:
            content[PEERS] = ConfigRecord({NODE_IDS: list(peers), PUBLIC_KEYS: list(peers.values())})
        messages.append(Message(content, dst_node_id=node, message_type=MessageType.TRAIN))
    return messages


@dataclass(frozen=True)
class TrainInstruction:
    """What a node is asked to train: Θ, the 0-based epoch, its users of the round, the target items."""

    theta: Theta
    epoch: int
    users: np.ndarray
    targets: tuple[int, ...]
    server_round: int
    #: Secure aggregation: the round's nodes and their public keys (None in the clear).
    peers: dict[int, bytes] | None = None

    @classmethod
    def parse(cls, message: Message) -> "TrainInstruction":
        config = message.content[CONFIG]
        peers = None
        if PEERS in message.content:
            record = message.content[PEERS]
            peers = dict(zip((int(node) for node in record[NODE_IDS]), record[PUBLIC_KEYS], strict=True))
        return cls(
            theta=theta_from_record(message.content[THETA]),
            epoch=int(config[EPOCH]),
            users=np.asarray(config[USERS], dtype=np.int64),
            targets=tuple(int(t) for t in config[TARGETS]),
            server_round=int(config[SERVER_ROUND]),
            peers=peers,
        )


@dataclass(frozen=True)
class TrainReply:
    """A node's answer to train: its users' updates, the benign users' summed loss and their number."""

    updates: UserUpdates
    loss_sum: float
    loss_count: int

    def reply_to(self, instruction: Message) -> Message:
        content = RecordDict(
            {
                UPDATES: updates_to_record(self.updates),
                METRICS: MetricRecord({LOSS_SUM: self.loss_sum, LOSS_COUNT: self.loss_count}),
            }
        )
        return Message(content, reply_to=instruction)

    @classmethod
    def parse(cls, reply: Message) -> "TrainReply":
        metrics = reply.content[METRICS]
        return cls(
            updates=updates_from_record(reply.content[UPDATES]),
            loss_sum=float(metrics[LOSS_SUM]),
            loss_count=int(metrics[LOSS_COUNT]),
        )


@dataclass(frozen=True)
class MaskedTrainReply:
    """A node's answer to train under secure aggregation: its masked upload (uint64, privacy/secure_aggregation.py)
    and, only when it hosts colluding malicious clients of the round, their own honest updates for the
    collusion channel (attacks/collusion.py); nothing per benign user."""

    masked: np.ndarray
    colluders: UserUpdates | None = None

    def reply_to(self, instruction: Message) -> Message:
        content = RecordDict({MASKED: ArrayRecord({MASKED_SUM: Array(np.ascontiguousarray(self.masked))})})
        if self.colluders is not None:
            content[COLLUDERS] = updates_to_record(self.colluders)
        return Message(content, reply_to=instruction)

    @classmethod
    def parse(cls, reply: Message) -> "MaskedTrainReply":
        colluders = updates_from_record(reply.content[COLLUDERS]) if COLLUDERS in reply.content else None
        return cls(masked=np.array(reply.content[MASKED][MASKED_SUM].numpy(), copy=True), colluders=colluders)


def public_key_messages(nodes: list[int]) -> list[Message]:
    """Secure aggregation's key query to each of `nodes` (it carries nothing)."""
    return [Message(RecordDict(), dst_node_id=node, message_type=SECAGG_KEYS) for node in nodes]


@dataclass(frozen=True)
class NodePublicKey:
    """A node's answer to the key query: its X25519 public key (raw, 32 bytes)."""

    public_key: bytes

    def reply_to(self, query: Message) -> Message:
        return Message(RecordDict({KEYS: ConfigRecord({PUBLIC_KEY: self.public_key})}), reply_to=query)

    @classmethod
    def parse(cls, reply: Message) -> "NodePublicKey":
        return cls(public_key=bytes(reply.content[KEYS][PUBLIC_KEY]))


def evaluate_messages(
    theta: Theta, nodes: list[int], targets: tuple[int, ...], epoch: int, server_round: int
) -> list[Message]:
    """One evaluate instruction per node: Θ (encoded once), the target items, the epoch evaluated (1-based: the
    model after that epoch; 0: the starting model) and the last server round of that model (0: none)."""
    record = theta_to_record(theta)
    config = {TARGETS: list(targets), EPOCH: epoch, SERVER_ROUND: server_round}
    return [
        Message(
            RecordDict({THETA: record, CONFIG: ConfigRecord(config)}),
            dst_node_id=node,
            message_type=MessageType.EVALUATE,
        )
        for node in nodes
    ]


@dataclass(frozen=True)
class EvaluateInstruction:
    """What a node is asked to evaluate: Θ, the target items whose exposure it counts, and the epoch it is the
    model of (1-based; 0 = the starting model), which keys the sampled candidates of `sampled-candidates =
    "per-evaluation"`."""

    theta: Theta
    targets: tuple[int, ...]
    epoch: int
    server_round: int  # the model's last server round (0: the starting model): users' rows are taken after it

    @classmethod
    def parse(cls, message: Message) -> "EvaluateInstruction":
        config = message.content[CONFIG]
        return cls(
            theta=theta_from_record(message.content[THETA]),
            targets=tuple(int(t) for t in config[TARGETS]),
            epoch=int(config[EPOCH]),
            server_round=int(config[SERVER_ROUND]),
        )


def evaluate_reply(instruction: Message, counts: GroupedCounts) -> Message:
    records = {COUNTS: counts_to_record(counts.total)}
    records.update({f"{COUNTS}/{group}": counts_to_record(value) for group, value in counts.groups.items()})
    return Message(RecordDict(records), reply_to=instruction)


def evaluation_counts(reply: Message, ks: tuple[int, ...], targets: tuple[int, ...]) -> GroupedCounts:
    """The counts of an evaluate reply (a reply without any counts all zero)."""
    counts = GroupedCounts(EvalCounts(ks=ks, targets=targets))
    group_prefix = f"{COUNTS}/"
    for key in reply.content.metric_records:
        if key == COUNTS:
            counts.total = counts_from_record(reply.content[key], ks, targets)
        elif key.startswith(group_prefix):
            counts.groups[key[len(group_prefix) :]] = counts_from_record(reply.content[key], ks, targets)
    return counts


def activations_messages(theta: Theta, nodes: list[int]) -> list[Message]:
    """Fine-pruning's query to each node: Θ (encoded once)."""
    record = theta_to_record(theta)
    return [Message(RecordDict({THETA: record}), dst_node_id=node, message_type=ACTIVATIONS) for node in nodes]


def activations_theta(query: Message) -> Theta:
    """The Θ of fine-pruning's query."""
    return theta_from_record(query.content[THETA])


@dataclass(frozen=True)
class FeedforwardActivity:
    """A node's answer to fine-pruning's query: its users' summed feed-forward activity on Θ
    ([layers, units]) and the number of item positions summed over (no per-user values)."""

    activity: torch.Tensor
    positions: int

    def reply_to(self, query: Message) -> Message:
        content = RecordDict(
            {
                ACTIVITY: ArrayRecord({ACTIVITY_SUM: Array(self.activity.numpy())}),
                ACTIVITY_POSITIONS: MetricRecord({POSITIONS: self.positions}),
            }
        )
        return Message(content, reply_to=query)

    @classmethod
    def parse(cls, reply: Message) -> "FeedforwardActivity":
        return cls(
            activity=_to_tensor(reply.content[ACTIVITY][ACTIVITY_SUM]),
            positions=int(reply.content[ACTIVITY_POSITIONS][POSITIONS]),
        )


def exposure_messages(theta: Theta, k: int, nodes: list[int]) -> list[Message]:
    """The exposure scan's query to each node: Θ (encoded once) and K."""
    record = theta_to_record(theta)
    return [
        Message(
            RecordDict({THETA: record, CONFIG: ConfigRecord({TOP_K: k})}), dst_node_id=node, message_type=EXPOSURE_QUERY
        )
        for node in nodes
    ]


def exposure_query(query: Message) -> tuple[Theta, int]:
    """(Θ, K) of the exposure scan's query."""
    return theta_from_record(query.content[THETA]), int(query.content[CONFIG][TOP_K])


@dataclass(frozen=True)
class ExposureStatistics:
    """A node's answer to the exposure scan's query, per profile group: its users, and per item [M] how many of
    them have the item in their top K (`exposed`) and how many interacted with it (`interactions`). Sums only."""

    users: dict[str, int]
    exposed: dict[str, np.ndarray]
    interactions: dict[str, np.ndarray]

    def reply_to(self, query: Message) -> Message:
        arrays = ArrayRecord()
        for group in self.users:
            arrays[f"{group}/{EXPOSED}"] = Array(np.ascontiguousarray(self.exposed[group]))
            arrays[f"{group}/{INTERACTIONS}"] = Array(np.ascontiguousarray(self.interactions[group]))
        content = RecordDict({EXPOSURE: arrays, EXPOSURE_USERS: MetricRecord(dict(self.users))})
        return Message(content, reply_to=query)

    @classmethod
    def parse(cls, reply: Message) -> "ExposureStatistics":
        users = {group: int(count) for group, count in reply.content[EXPOSURE_USERS].items()}
        arrays = reply.content[EXPOSURE]
        return cls(
            users=users,
            exposed={group: arrays[f"{group}/{EXPOSED}"].numpy() for group in users},
            interactions={group: arrays[f"{group}/{INTERACTIONS}"].numpy() for group in users},
        )
