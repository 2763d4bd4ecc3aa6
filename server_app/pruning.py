"""Fine-pruning's federated statistic: every node reports its users' feed-forward activity on Θ.

The server learns per-unit activation sums over all users' histories (no per-user values) and prunes
the least active units (pretrained/pruning.py) before the epoch-0 evaluation and fine-tuning.
"""

import torch
from flwr.app import Message, MessageType, RecordDict
from flwr.serverapp import Grid

from fedrec.directory import UserDirectory
from fedrec.models.base import Theta
from fedrec.wire import theta_to_record
from pretrained.pruning import dormant_units, prune_units

ACTIVATIONS = f"{MessageType.QUERY}.activations"


def fine_prune(
    grid: Grid, directory: UserDirectory, theta: Theta, fraction: float, timeout: float
) -> tuple[Theta, int]:
    """(Θ with each block's `fraction` least active units pruned, units pruned per block)."""
    record = theta_to_record(theta)
    messages = [
        Message(RecordDict({"theta": record}), dst_node_id=node, message_type=ACTIVATIONS) for node in directory.nodes
    ]
    replies = list(grid.send_and_receive(messages, timeout=timeout))
    good = [reply for reply in replies if not reply.has_error()]
    if len(good) < len(messages):
        reasons = "; ".join(reply.error.reason for reply in replies if reply.has_error()) or "no reply in time"
        raise RuntimeError(
            f"fine-pruning: {len(messages) - len(good)} node(s) sent no activation statistics ({reasons})"
        )
    activity = sum(torch.from_numpy(reply.content["activity"]["sum"].numpy().copy()) for reply in good)
    positions = sum(int(reply.content["activity-positions"]["positions"]) for reply in good)
    units = dormant_units(activity, positions, fraction)
    return prune_units(theta, units), len(units[0])
