"""SignGuard (Xu, Huang, Jiang, Liu & Wang, "SignGuard: Byzantine-robust Federated Learning through Collaborative
Malicious Gradient Filtering", ICDCS 2022).

Two filters, and a user passes only if it passes both: by norm, an update whose L2 norm is outside
(lower, upper) times the median norm is dropped; by sign, on a random window of a `fraction` of the coordinates,
each update's shares of positive, zero and negative entries (each divided by its maximum over the users) are
clustered with mean shift (bandwidth estimated at quantile 0.5, as the authors' code does) and only the largest
cluster passes. The kept updates are clipped to the median norm and averaged.
"""

import numpy as np
import torch


def norm_filter(norms: torch.Tensor, lower: float, upper: float) -> tuple[torch.Tensor, float]:
    """(passes [U], the median norm): lower * median < norm < upper * median."""
    median = float(np.median(norms.double().numpy()))
    return (norms > lower * median) & (norms < upper * median), median


def sign_features(window: torch.Tensor) -> torch.Tensor:
    """[U, 3]: each row's shares of positive, zero and negative entries, each column divided by its maximum."""
    signs = torch.sign(window)
    shares = torch.stack([(signs == sign).double().mean(1) for sign in (1.0, 0.0, -1.0)], dim=1)
    return shares / (shares.max(0).values + 1e-8)


def largest_sign_cluster(features: torch.Tensor) -> torch.Tensor:
    """[U] bool: the members of the largest mean-shift cluster of the sign features (mean shift's outliers, which
    lie in no cluster, never pass); all users when the features do not spread (bandwidth 0)."""
    points = features.numpy()
    from sklearn.cluster import MeanShift, estimate_bandwidth  # here: sklearn costs ~0.8 s and ~100 MB to import

    bandwidth = estimate_bandwidth(points, quantile=0.5, n_samples=50, random_state=0)
    if bandwidth <= 0:
        return torch.ones(len(points), dtype=torch.bool)
    labels = MeanShift(bandwidth=bandwidth, bin_seeding=True, cluster_all=False).fit(points).labels_
    clustered = labels[labels >= 0]
    if not len(clustered):
        return torch.zeros(len(points), dtype=torch.bool)
    return torch.from_numpy(labels == np.bincount(clustered).argmax())


def signguard(
    matrix: torch.Tensor, lower: float, upper: float, fraction: float, generator: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    """(kept [U] bool, each user's clipping factor [U]) for the updates [U, D]."""
    norms = matrix.double().norm(dim=1)
    by_norm, median = norm_filter(norms, lower, upper)
    width = max(1, int(fraction * matrix.shape[1]))
    start = int(torch.randint(0, matrix.shape[1] - width + 1, (1,), generator=generator))
    by_sign = largest_sign_cluster(sign_features(matrix[:, start : start + width]))
    return by_norm & by_sign, torch.clamp(median / norms.clamp(min=1e-30), max=1.0)
