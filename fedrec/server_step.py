"""The server's SGD step on Θ from an aggregated gradient."""

from dataclasses import dataclass

import torch

from fedrec.models.base import ITEM_EMBEDDING, Theta


@dataclass
class ThetaGradient:
    """An aggregated gradient of Θ: item rows (ids may repeat) plus dense-parameter gradients."""

    item_ids: torch.Tensor  # [n] int64
    item_rows: torch.Tensor  # [n, d]
    dense: dict[str, torch.Tensor]


def apply_gradient(theta: Theta, gradient: ThetaGradient, lr: float) -> None:
    """Θ <- Θ - lr * gradient, in place. Repeated item ids accumulate (index_add_, not `+=` on an index)."""
    theta[ITEM_EMBEDDING].index_add_(0, gradient.item_ids, gradient.item_rows, alpha=-lr)
    for name, grad in gradient.dense.items():
        theta[name].sub_(grad, alpha=lr)
