"""Geometric median by the smoothed Weiszfeld algorithm (Pillutla, Kakade & Harchaoui, "Robust Aggregation for
Federated Learning", IEEE TSP 2022: RFA).

The geometric median v minimises Σ_i α_i ||v - x_i||. Weiszfeld's iteration re-weights each point by α_i over its
distance to the current estimate, floored at ν (the smoothing that keeps a point sitting on the estimate from
dividing by zero): β_i = α_i / max(ν, ||v - x_i||), v <- Σ β_i x_i / Σ β_i. As in the paper's code, it starts from
the weighted mean and stops after `iterations` steps or once the objective changes by less than a relative
`tolerance`. Points come in groups padded with NaN ([G, W, D], per item) or as one group ([W, D], dense), with
equal weights α_i (the project's server sums users' gradients unweighted).
"""

import torch

#: Relative change of the objective below which the iteration stops (the paper code's ftol).
TOLERANCE = 1e-6


def geometric_median(points: torch.Tensor, iterations: int, smoothing: float) -> tuple[torch.Tensor, torch.Tensor]:
    """(median [..., D], each point's distance to it [..., W], NaN on padding) of points [..., W, D] NaN-padded."""
    valid = ~torch.isnan(points[..., 0])
    filled = torch.nan_to_num(points.double())
    alphas = valid.double()
    median = (alphas[..., None] * filled).sum(-2) / alphas.sum(-1, keepdim=True)
    # The distances to the current estimate give both its objective and the next step's weights: one pass over
    # the points per iteration instead of two (the values are the same).
    distances = _distances(filled, median)
    objective = (alphas * distances).sum(-1)
    for _ in range(iterations):
        betas = alphas / distances.clamp(min=smoothing)
        median = (betas[..., None] * filled).sum(-2) / betas.sum(-1, keepdim=True)
        distances = _distances(filled, median)
        previous, objective = objective, (alphas * distances).sum(-1)
        if bool(((previous - objective).abs() <= TOLERANCE * objective).all()):
            break
    return median.to(points.dtype), torch.where(valid, distances, float("nan"))


def _distances(points: torch.Tensor, median: torch.Tensor) -> torch.Tensor:
    return (points - median[..., None, :]).norm(dim=-1)
