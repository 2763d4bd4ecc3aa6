"""Fine-pruning's federated statistic: every node reports its users' feed-forward activity on Θ.

The server learns per-unit activation sums over all users' histories (no per-user values) and prunes
the least active units (pretrained/pruning.py) before the epoch-0 evaluation and fine-tuning.
"""

from flwr.serverapp import Grid

from fedrec.directory import UserDirectory
from fedrec.models.base import Theta
from fedrec.protocol import FeedforwardActivity, activations_messages
from pretrained.pruning import dormant_units, prune_units
from server_app.queries import ask_every_node


def fine_prune(
    grid: Grid, directory: UserDirectory, theta: Theta, fraction: float, timeout: float
) -> tuple[Theta, int]:
    """(Θ with each block's `fraction` least active units pruned, units pruned per block)."""
    messages = activations_messages(theta, list(directory.nodes))
    replies = ask_every_node(grid, messages, timeout, "activation statistics for fine-pruning")
    statistics = [FeedforwardActivity.parse(reply) for reply in replies]
    activity = sum(node.activity for node in statistics)
    positions = sum(node.positions for node in statistics)
    units = dormant_units(activity, positions, fraction)
    return prune_units(theta, units), len(units[0])
