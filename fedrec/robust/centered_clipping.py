"""Centered Clipping (Karimireddy, He & Jaggi, "Learning from History for Byzantine Robust Optimization", ICML 2021).

Starting from a center v (the previous round's aggregate: the history the paper's title refers to), each of L
iterations moves v by the mean of the updates' differences to v, each clipped to L2 norm <= τ:
v <- v + (1/n) Σ_i (x_i - v) min(1, τ / ||x_i - v||). An update far from the center moves it by at most τ/n.
"""

import torch


def centered_clipping(
    points: torch.Tensor, center: torch.Tensor, radius: float, iterations: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """(estimate [..., D], which points the last iteration clipped [..., W]) of points [..., W, D] NaN-padded, from
    `center` [..., D]."""
    valid = ~torch.isnan(points[..., 0])
    filled = torch.nan_to_num(points.double())
    estimate = center.double()
    clipped = torch.zeros_like(valid)
    for _ in range(iterations):
        differences = (filled - estimate[..., None, :]) * valid[..., None]
        norms = differences.norm(dim=-1)
        scale = torch.clamp(radius / norms.clamp(min=1e-30), max=1.0)
        estimate = estimate + (differences * scale[..., None]).sum(-2) / valid.sum(-1, keepdim=True)
        clipped = valid & (norms > radius)
    return estimate.to(points.dtype), clipped
