"""Bulyan (El Mhamdi et al., ICML 2018).

Selection: θ = n - 2f updates chosen by applying Krum repeatedly, removing the chosen update each
time (the paper's procedure; Flower's Bulyan selects the θ best Multi-Krum scores in one shot, which
can differ when removing an update changes the others' neighbourhoods). Aggregation: per
coordinate, the mean of the β = θ - 2f selected values closest to their median.
"""

import torch

from fedrec.robust.coordinate import coordinate_median
from fedrec.robust.krum import pairwise_squared_distances, scores_from_distances


def bulyan(updates: torch.Tensor, tolerated: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The Bulyan aggregate and the indices of the θ selected rows. Needs n >= 4f + 3."""
    n = updates.shape[0]
    if n < 4 * tolerated + 3:
        raise ValueError(f"Bulyan needs at least 4f + 3 = {4 * tolerated + 3} updates, got {n}")
    theta, beta = n - 2 * tolerated, n - 4 * tolerated
    distances = pairwise_squared_distances(updates)  # once; each Krum round uses a sub-block
    remaining = torch.arange(n)
    chosen = []
    for _ in range(theta):
        block = distances[remaining][:, remaining]
        pick = int(torch.argmin(scores_from_distances(block, tolerated))) if len(remaining) > 1 else 0
        chosen.append(int(remaining[pick]))
        remaining = torch.cat([remaining[:pick], remaining[pick + 1 :]])
    selected = updates[chosen].double()
    median = coordinate_median(selected)
    closest = torch.topk((selected - median).abs(), beta, dim=0, largest=False).indices
    return selected.gather(0, closest).mean(0).to(updates.dtype), torch.tensor(chosen)
