"""FLAME (Nguyen et al., "FLAME: Taming Backdoors in Federated Learning", USENIX Security 2022).

Three steps: HDBSCAN on the pairwise cosine distances of the updates, with a minimum cluster size of n/2 + 1
(min_samples 1, a single cluster allowed), admits the majority cluster and rejects the outliers; each admitted
update is clipped to S, the median L2 norm of all the updates; the mean of the clipped updates gets Gaussian noise of
std λ·S (the differential-privacy step that erases what clipping left of a backdoor).
"""

import numpy as np
import torch


def cosine_distances(updates: torch.Tensor) -> torch.Tensor:
    """[n, n]: 1 - cosine similarity of the rows (a zero row is at distance 1 from every other)."""
    unit = updates.double() / updates.double().norm(dim=1, keepdim=True).clamp(min=1e-30)
    return (1 - unit @ unit.T).clamp(min=0.0).fill_diagonal_(0.0)


def majority_cluster(updates: torch.Tensor) -> torch.Tensor:
    """[n] bool: the members of HDBSCAN's largest cluster on cosine distances, minimum size n // 2 + 1; every update
    when HDBSCAN finds no cluster (or n < 2, too few to cluster)."""
    n = updates.shape[0]
    if n < 2:
        return torch.ones(n, dtype=torch.bool)
    from sklearn.cluster import HDBSCAN  # here, not at the top: sklearn costs ~0.8 s and ~100 MB to import

    clustering = HDBSCAN(
        metric="precomputed", min_cluster_size=n // 2 + 1, min_samples=1, allow_single_cluster=True, copy=True
    )
    labels = clustering.fit(cosine_distances(updates).numpy()).labels_
    clustered = labels[labels >= 0]
    if not len(clustered):
        return torch.ones(n, dtype=torch.bool)
    return torch.from_numpy(labels == np.bincount(clustered).argmax())


def median_norm_clipping(updates: torch.Tensor) -> tuple[torch.Tensor, float]:
    """(each row's factor [n] that clips it to the median norm S, S)."""
    norms = updates.double().norm(dim=1)
    median = float(np.median(norms.numpy()))
    return torch.clamp(median / norms.clamp(min=1e-30), max=1.0), median
