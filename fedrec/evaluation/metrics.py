"""Ranking metrics as additive counts, so nodes report sums and the server divides.

Utility (over users with at least one test item), for each K:
  Recall@K = |top-K ∩ test| / |test|   (what the reference paper calls HR@K)
  Precision@K = |top-K ∩ test| / K
  NDCG@K = sum_{hits at rank r} 1/log2(r + 2) / sum_{r < min(|test|, K)} 1/log2(r + 2)
Exposure of each target item t (over users with t in neither their train nor test items):
  ER@K = share of those users whose top-K of the items they never interacted with contains t.
The utility ranking excludes each user's training items; the exposure ranking excludes its training
and test items (as the reference code and APRec do), or with `exposure-mask = "train"` its training items
only, eligibility then only needing t outside them (PIECK's reference code), see
`fedrec.evaluation.ranking.ranking_counts`.
With `sampled-negatives` N > 0, sampled HR@K and NDCG@K rank each user's test items against N sampled
items instead of every item (`fedrec.evaluation.sampled`), over the same users.
"""

from dataclasses import dataclass, field

import numpy as np
import torch

#: `exposure-mask` values: which of a user's items the exposure ranking masks (and which make it ineligible).
EXPOSURE_MASK_TRAIN_AND_TEST, EXPOSURE_MASK_TRAIN = "train-and-test", "train"
EXPOSURE_MASKS = (EXPOSURE_MASK_TRAIN_AND_TEST, EXPOSURE_MASK_TRAIN)
#: `sampled-candidates`: drawn once per (seed, user), or anew at every evaluation, per (seed, epoch, user).
SAMPLED_FIXED, SAMPLED_PER_EVALUATION = "fixed", "per-evaluation"
SAMPLED_CANDIDATES = (SAMPLED_FIXED, SAMPLED_PER_EVALUATION)


@dataclass
class EvalCounts:
    """Sums of per-user metric values, additive across nodes."""

    ks: tuple[int, ...]
    targets: tuple[int, ...]
    users: int = 0
    recall: np.ndarray = field(default=None)  # type: ignore[assignment]
    precision: np.ndarray = field(default=None)  # type: ignore[assignment]
    ndcg: np.ndarray = field(default=None)  # type: ignore[assignment]
    target_hits: np.ndarray = field(default=None)  # type: ignore[assignment]  # [T, K]
    target_eligible: np.ndarray = field(default=None)  # type: ignore[assignment]  # [T]
    sampled: bool = False  # whether the sampled metrics were counted
    sampled_hr: np.ndarray = field(default=None)  # type: ignore[assignment]
    sampled_ndcg: np.ndarray = field(default=None)  # type: ignore[assignment]

    def __post_init__(self) -> None:
        k, t = len(self.ks), len(self.targets)
        for name, shape in (
            ("recall", k),
            ("precision", k),
            ("ndcg", k),
            ("target_hits", (t, k)),
            ("target_eligible", t),
            ("sampled_hr", k),
            ("sampled_ndcg", k),
        ):
            if getattr(self, name) is None:
                setattr(self, name, np.zeros(shape, dtype=np.float64))

    def __iadd__(self, other: "EvalCounts") -> "EvalCounts":
        self.users += other.users
        self.sampled = self.sampled or other.sampled
        for name in ("recall", "precision", "ndcg", "target_hits", "target_eligible", "sampled_hr", "sampled_ndcg"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        return self

    def metrics(self) -> dict[str, float]:
        """Averages: recall@K, precision@K, ndcg@K, where counted sampled-hr@K and sampled-ndcg@K, er@K (mean
        over targets) and er@K/<item>."""
        out: dict[str, float] = {}
        users = max(self.users, 1)
        for j, k in enumerate(self.ks):
            out[f"recall@{k}"] = float(self.recall[j] / users)
            out[f"precision@{k}"] = float(self.precision[j] / users)
            out[f"ndcg@{k}"] = float(self.ndcg[j] / users)
        if self.sampled:
            for j, k in enumerate(self.ks):
                out[f"sampled-hr@{k}"] = float(self.sampled_hr[j] / users)
                out[f"sampled-ndcg@{k}"] = float(self.sampled_ndcg[j] / users)
        if self.targets:
            exposure = self.target_hits / np.maximum(self.target_eligible, 1)[:, None]
            for j, k in enumerate(self.ks):
                out[f"er@{k}"] = float(exposure[:, j].mean())
                if len(self.targets) > 1:
                    for t, item in enumerate(self.targets):
                        out[f"er@{k}/{item}"] = float(exposure[t, j])
        return out


def _discounts(n: int) -> torch.Tensor:
    return 1.0 / torch.log2(torch.arange(n, dtype=torch.float64) + 2.0)


def count_ranking_metrics(
    top_items: torch.Tensor,
    test_mask: torch.Tensor,
    known_mask: torch.Tensor,
    ks: tuple[int, ...],
    targets: tuple[int, ...],
    exposure_top_items: torch.Tensor | None = None,
) -> EvalCounts:
    """Counts for a batch of users.

    top_items [U, max K]: each user's ranking (training items already excluded), best first.
    test_mask [U, M] bool: the user's held-out items. known_mask [U, M] bool: the items exposure masks (train and
    test, or train only), which make a user ineligible for a target's exposure. exposure_top_items [U, max K]:
    the ranking exposure is read from, when it differs from `top_items` (e.g. with train and test items excluded).
    """
    exposure_top_items = top_items if exposure_top_items is None else exposure_top_items
    counts = EvalCounts(ks=ks, targets=targets)
    hits = test_mask.gather(1, top_items).to(torch.float64)  # [U, maxK]
    num_test = test_mask.sum(1).to(torch.float64)
    has_test = num_test > 0
    discounts = _discounts(top_items.shape[1])
    counts.users = int(has_test.sum())
    for j, k in enumerate(ks):
        hits_k = hits[has_test, :k]
        counts.recall[j] = float((hits_k.sum(1) / num_test[has_test]).sum())
        counts.precision[j] = float(hits_k.sum() / k)
        ideal = torch.cumsum(discounts[:k], 0)[num_test[has_test].clamp(max=k).long() - 1]
        counts.ndcg[j] = float(((hits_k * discounts[:k]).sum(1) / ideal).sum())
    for t, item in enumerate(targets):
        eligible = ~known_mask[:, item]
        in_top = exposure_top_items == item  # [U, maxK]
        counts.target_eligible[t] = float(eligible.sum())
        for j, k in enumerate(ks):
            counts.target_hits[t, j] = float((in_top[:, :k].any(1) & eligible).sum())
    return counts
