"""Coordinate-wise median and trimmed mean (Yin et al., ICML 2018)."""

import numpy as np
import torch


def coordinate_median(updates: torch.Tensor) -> torch.Tensor:
    """Per-coordinate median; for an even count, the mean of the two middle values (as NumPy does)."""
    return torch.from_numpy(np.median(updates.double().numpy(), axis=0)).to(updates.dtype)


def trimmed_mean(updates: torch.Tensor, trim_fraction: float) -> torch.Tensor:
    """Per-coordinate mean after dropping the int(trim_fraction * n) largest and smallest values."""
    if not 0.0 <= trim_fraction < 0.5:
        raise ValueError(f"trim fraction must be in [0, 0.5), got {trim_fraction}")
    n = updates.shape[0]
    cut = int(trim_fraction * n)
    ordered = torch.sort(updates.double(), dim=0).values
    return ordered[cut : n - cut].mean(0).to(updates.dtype)
