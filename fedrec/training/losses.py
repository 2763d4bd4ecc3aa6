"""Per-user training losses on padded batches: one row per user, `mask` marks real samples."""

import torch
import torch.nn.functional as F

LOSSES = ("bce", "bpr")
REDUCTIONS = ("mean", "sum")


def per_user_loss(
    kind: str,
    logits: torch.Tensor,
    labels: torch.Tensor,
    mask: torch.Tensor,
    partner: torch.Tensor,
    reduction: str = "mean",
) -> torch.Tensor:
    """Loss of each user's own samples, shape [U]: their mean, or with `reduction` "sum" their sum (FedRecAttack's
    reference code sums, which scales a user's gradient by its number of samples).

    bce: binary cross-entropy of sigmoid(logit) against the 0/1 label (the reference paper's loss).
    bpr: -log sigmoid(s_pos - s_neg) over the (positive, negative) pairs given by `partner`.
    """
    if kind == "bce":
        losses = F.binary_cross_entropy_with_logits(logits, labels, reduction="none")
        weights = mask
    elif kind == "bpr":
        paired = partner >= 0
        positive_logits = logits.gather(1, partner.clamp(min=0))
        losses = F.softplus(logits - positive_logits)
        weights = mask & paired
    else:
        raise ValueError(f"unknown loss {kind!r}; valid: {', '.join(LOSSES)}")
    weights = weights.to(logits.dtype)
    if reduction == "sum":
        return (losses * weights).sum(1)
    if reduction != "mean":
        raise ValueError(f"unknown loss reduction {reduction!r}; valid: {', '.join(REDUCTIONS)}")
    return (losses * weights).sum(1) / weights.sum(1).clamp(min=1.0)
