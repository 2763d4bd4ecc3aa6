"""Norm bounding (Sun et al., 2019, "Can You Really Backdoor Federated Learning?")."""

import torch


def clip_to_norm(updates: torch.Tensor, bound: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Each row scaled down to L2 norm <= bound; also returns which rows were clipped."""
    norms = updates.double().norm(dim=1)
    scale = torch.clamp(bound / norms.clamp(min=1e-30), max=1.0).to(updates.dtype)
    return updates * scale[:, None], norms > bound
