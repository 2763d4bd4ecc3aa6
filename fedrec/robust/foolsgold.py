"""FoolsGold (Fung, Yoon & Beschastnikh, "The Limitations of Federated Learning in Sybil Settings", RAID 2020).

Sybils pushing one goal send similar updates round after round. FoolsGold compares the clients' *histories* (the
sum of each client's updates so far) by cosine similarity; v_i = max_j cs_ij; "pardoning" scales cs_ij by v_i / v_j
where v_i < v_j (an honest client that merely resembles a sybil is not punished for the sybils' similarity); a
client's weight is 1 - max_j cs_ij, clipped to [0, 1], divided by the largest weight (a maximum of 1 is taken as
0.99), and passed through the logit ln(w / (1 - w)) + 0.5, clipped to [0, 1] (the authors' code, κ = 1).
"""

import torch


def foolsgold_weights(histories: torch.Tensor) -> torch.Tensor:
    """[U] weights in [0, 1] from the clients' histories [U, D]."""
    unit = histories.double() / histories.double().norm(dim=1, keepdim=True).clamp(min=1e-30)
    similarity = unit @ unit.T - torch.eye(len(unit), dtype=torch.float64)
    most = similarity.max(1).values
    pardon = torch.where(most[:, None] < most[None, :], most[:, None] / most[None, :], 1.0)
    pardoned = similarity * pardon
    weights = (1 - pardoned.max(1).values).clamp(0.0, 1.0)
    if weights.max() <= 0:  # every client equals another: all are sybils to FoolsGold
        return weights
    weights = weights / weights.max()
    weights[weights == 1] = 0.99
    return (torch.log(weights / (1 - weights)) + 0.5).nan_to_num(neginf=0.0).clamp(0.0, 1.0)
