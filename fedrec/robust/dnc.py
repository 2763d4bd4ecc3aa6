"""Divide-and-Conquer, DnC (Shejwalkar & Houmansadr, "Manipulating the Byzantine: Optimizing Model Poisoning Attacks
and Defenses for Federated Learning", NDSS 2021).

Each of `iterations` rounds samples b coordinates, centres the sampled updates on their mean, and scores each by
its squared projection on the top right singular vector of the centred matrix; the n - c·f lowest scores are
kept. A user passes if it is kept in every iteration (the paper's intersection).
"""

import torch


def dnc_scores(sampled: torch.Tensor) -> torch.Tensor:
    """[U]: squared projections of the centred rows of `sampled` [U, b] on their top right singular vector.

    With C = σ u vᵀ + ..., C v = σ u, so the scores are σ² u_i²: the top eigenpair of the small Gram matrix C Cᵀ
    [U, U] gives them without an SVD of C [U, b] (twenty times faster at U = 256, b = 10000)."""
    centred = sampled.double() - sampled.double().mean(0)
    eigenvalues, eigenvectors = torch.linalg.eigh(centred @ centred.T)
    return eigenvalues[-1].clamp(min=0.0) * eigenvectors[:, -1] ** 2


def dnc(
    matrix: torch.Tensor,
    tolerated: int,
    iterations: int,
    subsample: int,
    filter_fraction: float,
    generator: torch.Generator,
) -> torch.Tensor:
    """[U] bool: the users DnC keeps among the updates [U, D]."""
    num_users, dim = matrix.shape
    keep = max(1, num_users - int(filter_fraction * tolerated))
    kept = torch.ones(num_users, dtype=torch.bool)
    for _ in range(iterations):
        coordinates = torch.randperm(dim, generator=generator)[: min(subsample, dim)]
        good = torch.zeros(num_users, dtype=torch.bool)
        good[torch.argsort(dnc_scores(matrix[:, coordinates]), stable=True)[:keep]] = True
        kept &= good
    return kept
