"""Running a stock Flower strategy's aggregation (`flwr.serverapp.strategy.<Name>`) on per-user updates.

Each user's update becomes one reply Message holding an ArrayRecord (named like Θ's parameters) and a
weight of 1 under the strategy's `weighted_by_key`, exactly what Flower's strategies aggregate after a
training round; the strategy's `aggregate_train` returns the aggregate, which comes back as a flat vector. Weights are
equal because the protocol's FedAvg is a plain sum over users, not a sample-weighted mean.
"""

import inspect

import numpy as np
import torch
from flwr.app import Array, ArrayRecord, ConfigRecord, Message, MessageType, MetricRecord, RecordDict
from flwr.serverapp import strategy as flower_strategies
from flwr.serverapp.strategy import FedAvg, Strategy

from fedrec.errors import ConfigError
from fedrec.models.base import ITEM_EMBEDDING
from fedrec.training.server_step import ThetaGradient
from fedrec.updates import UserUpdates
from strategies.base import Aggregate
from strategies.krum import TOLERATED_ATTACKERS
from strategies.robust import RobustStrategy
from strategies.trimmed_mean import TRIM_FRACTION

#: Flower strategies whose aggregation is a pure function of the replies. Server optimisers
#: (FedAdam, FedYogi, FedAdagrad, FedAvgM) also need the previous model, QFedAvg the clients' losses,
#: the DP wrappers a strategy to wrap: they are not rules over per-user updates.
FLOWER_AGGREGATORS = ("Bulyan", "FedAvg", "FedMedian", "FedProx", "FedTrimmedAvg", "Krum", "MultiKrum")

Layout = list[tuple[str, tuple[int, ...]]]
#: The name Flower's ClientApps give a train reply's MetricRecord (its strategies read the one there is).
_METRICS = "metrics"
_OPTION_SETTINGS = (("num_malicious_nodes", TOLERATED_ATTACKERS), ("beta", TRIM_FRACTION))


def make_flower_strategy(name: str, tolerated: int, trim_fraction: float) -> FedAvg:
    """Instantiate `flwr.serverapp.strategy.<name>`, passing f and β where its constructor takes them."""
    cls = getattr(flower_strategies, name, None)
    if name not in FLOWER_AGGREGATORS or not (inspect.isclass(cls) and issubclass(cls, FedAvg)):
        raise ConfigError(f"unsupported Flower strategy 'flwr:{name}'; valid: {', '.join(FLOWER_AGGREGATORS)}")
    accepted = inspect.signature(cls.__init__).parameters
    options = {"num_malicious_nodes": tolerated, "beta": trim_fraction, "num_nodes_to_select": 1}
    return cls(**{key: value for key, value in options.items() if key in accepted})


def _instruction() -> Message:
    message = Message(RecordDict(), dst_node_id=0, message_type=MessageType.TRAIN)
    message.metadata.__dict__["_message_id"] = "fedrec-arena"
    return message


def flower_aggregate(
    strategy: Strategy, updates: torch.Tensor, layout: Layout, inner: FedAvg | None = None
) -> torch.Tensor | None:
    """`strategy.aggregate_train` over one reply per row of `updates` [U, D]; None if it declines. The replies use
    the message keys of `inner`, the FedAvg that `strategy` wraps (Flower's DP wrappers), or of `strategy` itself."""
    keys = inner if inner is not None else strategy
    instruction = _instruction()
    sizes = [int(np.prod(shape)) for _, shape in layout]
    replies = []
    for row in updates.double().numpy():
        pieces = np.split(row, np.cumsum(sizes)[:-1])
        arrays = ArrayRecord({name: Array(piece.reshape(shape)) for (name, shape), piece in zip(layout, pieces)})
        content = RecordDict(
            {
                keys.arrayrecord_key: arrays,
                _METRICS: MetricRecord({keys.weighted_by_key: 1}),
                keys.configrecord_key: ConfigRecord(),
            }
        )
        replies.append(Message(content, reply_to=instruction))
    arrays, _ = strategy.aggregate_train(1, replies)
    if arrays is None:
        return None
    return torch.from_numpy(np.concatenate([arrays[name].numpy().ravel() for name, _ in layout])).to(updates.dtype)


class FlowerRule(RobustStrategy):
    """`defense=flwr:<Name>`: a stock Flower strategy aggregates the users' dense updates.

    Its output (a mean-like estimate) is scaled by the number of users, like the project's own
    robust rules; a round it declines (e.g. Bulyan with too few replies) leaves Θ unchanged.
    """

    flower_name = ""

    def __init__(self, *args, **kwargs) -> None:  # type: ignore[no-untyped-def]
        super().__init__(*args, **kwargs)
        self.flower = make_flower_strategy(self.flower_name, self.config.tolerated_attackers, self.config.trim_fraction)

    def aggregate(self, updates: UserUpdates) -> Aggregate:
        estimate = flower_aggregate(self.flower, self.dense_matrix(updates), self.layout())
        if estimate is None:
            nothing = ThetaGradient(
                torch.zeros(0, dtype=torch.int64), torch.zeros(0, self.theta[ITEM_EMBEDDING].shape[1]), {}
            )
            return Aggregate(nothing)
        return Aggregate(self.gradient_from_vector(estimate * updates.num_users))


def flower_rule_class(name: str) -> type[FlowerRule]:
    """A FlowerRule subclass bound to `flwr.serverapp.strategy.<name>` (one registry entry each); its
    settings are those its Flower constructor takes (f as `num_malicious_nodes`, β as `beta`)."""
    accepted = inspect.signature(getattr(flower_strategies, name).__init__).parameters
    settings = tuple(setting for option, setting in _OPTION_SETTINGS if option in accepted)
    attributes = {"flower_name": name, "settings": settings, "__doc__": f"flwr.serverapp.strategy.{name}"}
    return type(f"Flower{name}", (FlowerRule,), attributes)
