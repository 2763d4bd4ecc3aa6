"""Fine-pruning (Liu et al., RAID 2018) for a pre-trained transformer: remove the feed-forward units
that stay dormant on clean data, where a backdoor can hide, before fine-tuning.

The deployer cannot see its users' data, so the statistic is gathered federatedly: every node sums
its users' ReLU activations per unit over their histories and the server adds the sums
(server_app/pruning.py). Per block, the `fraction` of units with the lowest mean activation is
pruned: their `linear1` rows and biases and their `linear2` columns are set to zero. A pruned unit
then outputs ReLU(0) = 0 and, since PyTorch's ReLU has zero slope at 0, receives zero gradient in
all three places, so fine-tuning (SGD or Adam) never revives it.
"""

import torch

from fedrec.models.base import Theta


def dormant_units(activity: torch.Tensor, positions: int, fraction: float) -> list[torch.Tensor]:
    """Per block (rows of `activity` [layers, d]), the indices of the `fraction` least active units."""
    mean = activity / max(positions, 1)
    count = int(round(fraction * activity.shape[1]))
    return [torch.argsort(row, stable=True)[:count] for row in mean]


def prune_units(theta: Theta, units: list[torch.Tensor]) -> Theta:
    """A copy of Θ with each block's `units` removed from its feed-forward layers."""
    pruned = dict(theta)
    for block, indices in enumerate(units):
        prefix = f"blocks.{block}."
        for name, dim in (("linear1.weight", 0), ("linear1.bias", 0), ("linear2.weight", 1)):
            value = theta[prefix + name].clone()
            value.index_fill_(dim, indices, 0.0)
            pruned[prefix + name] = value
    return pruned
