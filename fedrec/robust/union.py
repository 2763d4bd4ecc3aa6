"""UNION's server-side filter (Yu et al., AAAI 2023, "Untargeted Attack against Federated Recommendation Systems
via Poisonous Item Embeddings and the Defense"), as in its reference code (yflyl613/FedRec, `agg.py`).

Benign users train with UNION's client-side term, which keeps item embeddings spread out (uniform); an attack
that pulls items together (ClusterAttack) makes its own upload, applied alone, shrink that spread. The server
scores each user by the *uniformity* of the sampled item rows its gradient alone would produce (the mean
pairwise L2 distance of the rows after a server step on that gradient), and runs the gap statistic
(Tibshirani et al., 2001) on the min-max normalised 1-D scores for k = 1 against k = 2: when two groups fit
better, or when the smaller of the two 2-means groups has at most `tolerated` users, the smaller group is
rejected.

Differences from the reference code, both for determinism and speed, neither changing what is decided:

- 2-means of a 1-D score is solved exactly (the best split of the sorted values) instead of by Lloyd's
  iterations from a k-means++ start, which reach that optimum or a worse local one.
- The gap statistic's reference inertias (log within-group sums of squares of uniform samples on [0, 1]) are
  drawn afresh for each decision, `references` of them from the caller's generator, each of the round's size;
  the reference code draws the same number from a cache of 10,000 precomputed ones of size 50 (its round size).
"""

import numpy as np
import torch


def uniformity(rows: torch.Tensor) -> torch.Tensor:
    """[n] mean pairwise L2 distance between the S rows of each of n sets ([n, S, d]), pairs i != j."""
    count = rows.shape[1]
    distances = torch.cdist(rows.double(), rows.double())
    return distances.sum(dim=(1, 2)) / (count * (count - 1))


def two_means_1d(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Exact 2-means of 1-D samples, batched over rows of [b, n] (n >= 2): (inertia [b], the split [b]).

    The optimum separates the sorted values at one point; `split` is the count of values in the lower group.
    """
    ordered = np.sort(values, axis=1)
    n = ordered.shape[1]
    cumulative = np.cumsum(ordered, axis=1)
    cumulative_squares = np.cumsum(ordered**2, axis=1)
    lower = np.arange(1, n)  # lower group sizes
    lower_sum, lower_squares = cumulative[:, :-1], cumulative_squares[:, :-1]
    upper_sum = cumulative[:, -1:] - lower_sum
    upper_squares = cumulative_squares[:, -1:] - lower_squares
    inertia = lower_squares - lower_sum**2 / lower + upper_squares - upper_sum**2 / (n - lower)
    best = np.argmin(inertia, axis=1)
    return np.maximum(inertia[np.arange(len(ordered)), best], 0.0), best + 1


def _one_mean_inertia(values: np.ndarray) -> np.ndarray:
    return ((values - values.mean(axis=1, keepdims=True)) ** 2).sum(axis=1)


def gap_prefers_two(normalised: np.ndarray, references: int, rng: np.random.Generator) -> bool:
    """The gap statistic's choice of two groups over one: Gap(1) < Gap(2) - s(2), with Gap(k) the mean log
    inertia of `references` uniform samples minus the log inertia of `normalised` ([n] in [0, 1])."""
    uniform = rng.uniform(size=(references, len(normalised)))
    observed = normalised[None, :]
    log_reference = {1: np.log(_one_mean_inertia(uniform)), 2: np.log(two_means_1d(uniform)[0])}
    with np.errstate(divide="ignore"):
        log_observed = {1: np.log(_one_mean_inertia(observed)[0]), 2: np.log(two_means_1d(observed)[0][0])}
    gap = {k: log_reference[k].mean() - log_observed[k] for k in (1, 2)}
    spread = log_reference[2].std() * np.sqrt((1 + references) / references)
    return bool(gap[1] < gap[2] - spread)


def union_flags(scores: torch.Tensor, tolerated: int, references: int, rng: np.random.Generator) -> torch.Tensor:
    """[n] bool: the users UNION rejects given their uniformity `scores` [n]."""
    values = scores.double().numpy()
    flagged = np.zeros(len(values), dtype=bool)
    low, high = values.min(initial=0.0), values.max(initial=0.0)
    if len(values) < 2 or high <= low:  # nothing to tell apart
        return torch.from_numpy(flagged)
    normalised = (values - low) / (high - low)
    _, split = two_means_1d(normalised[None, :])
    order = np.argsort(normalised, kind="stable")
    lower, upper = order[: split[0]], order[split[0] :]
    # Equal halves: the upper one (the reference's pick then depends on its k-means' cluster numbering).
    smaller = lower if len(lower) < len(upper) else upper
    if gap_prefers_two(normalised, references, rng) or len(smaller) <= tolerated:
        flagged[smaller] = True
    return torch.from_numpy(flagged)
