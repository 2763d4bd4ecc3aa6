"""Running a stock Flower strategy's aggregation (`flwr.serverapp.strategy.<Name>`) on per-user updates.

Each user's update becomes one reply Message holding an ArrayRecord (named like Θ's parameters)
and `num-examples = 1`, exactly what Flower's strategies aggregate after a training round; the
strategy's `aggregate_train` returns the aggregate, which comes back as a flat vector. Weights are
equal because the protocol's FedAvg is a plain sum over users, not a sample-weighted mean.
"""

import inspect

import numpy as np
import torch
from flwr.app import Array, ArrayRecord, ConfigRecord, Message, MessageType, MetricRecord, RecordDict
from flwr.serverapp import strategy as flower_strategies
from flwr.serverapp.strategy import Strategy

from fedrec.errors import ConfigError

Layout = list[tuple[str, tuple[int, ...]]]


def flower_strategy_names() -> list[str]:
    return sorted(
        name
        for name, value in vars(flower_strategies).items()
        if inspect.isclass(value) and issubclass(value, Strategy) and value is not Strategy
    )


def make_flower_strategy(name: str, tolerated: int, trim_fraction: float) -> Strategy:
    """Instantiate `flwr.serverapp.strategy.<name>`, passing f and β where its constructor takes them."""
    cls = getattr(flower_strategies, name, None)
    if cls is None or not (inspect.isclass(cls) and issubclass(cls, Strategy)):
        raise ConfigError(f"unknown Flower strategy 'flwr:{name}'; valid: {', '.join(flower_strategy_names())}")
    accepted = inspect.signature(cls.__init__).parameters
    options = {"num_malicious_nodes": tolerated, "beta": trim_fraction, "num_nodes_to_select": 1}
    return cls(**{key: value for key, value in options.items() if key in accepted})


def _instruction() -> Message:
    message = Message(RecordDict(), dst_node_id=0, message_type=MessageType.TRAIN)
    message.metadata.__dict__["_message_id"] = "fedrec-arena"
    return message


def flower_aggregate(strategy: Strategy, updates: torch.Tensor, layout: Layout) -> torch.Tensor | None:
    """`strategy.aggregate_train` over one reply per row of `updates` [U, D]; None if it declines."""
    instruction = _instruction()
    sizes = [int(np.prod(shape)) for _, shape in layout]
    replies = []
    for row in updates.double().numpy():
        pieces = np.split(row, np.cumsum(sizes)[:-1])
        arrays = ArrayRecord({name: Array(piece.reshape(shape)) for (name, shape), piece in zip(layout, pieces)})
        content = RecordDict({"arrays": arrays, "metrics": MetricRecord({"num-examples": 1}), "config": ConfigRecord()})
        replies.append(Message(content, reply_to=instruction))
    arrays, _ = strategy.aggregate_train(1, replies)
    if arrays is None:
        return None
    return torch.from_numpy(np.concatenate([arrays[name].numpy().ravel() for name, _ in layout])).to(updates.dtype)
