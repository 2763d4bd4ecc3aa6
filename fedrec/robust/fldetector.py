"""FLDetector (Zhang, Cao, Jia & Gong, "FLDetector: Defending Federated Learning Against Model Poisoning Attacks via
Detecting Malicious Clients", KDD 2022).

The server predicts each client's update from the client's previous one and the change of the global model,
ĝ_i = g_i(w_s) + H (w_t − w_s), with the Hessian H approximated by L-BFGS from the last N pairs of global model
differences Δw = w_k − w_{k−1} and global update differences Δg = ḡ_k − ḡ_{k−1}. A client's suspicion score is its
prediction error ||ĝ_i − g_i||, normalised over the round's clients, averaged over its last N rounds. The gap
statistic (Tibshirani et al. 2001) on the scores decides whether there is more than one cluster; if so, k-means
splits them in two and the cluster with the larger mean score is malicious. The authors' code runs scikit-learn's
KMeans; on 1-D scores the optimal k-means is exact by dynamic programming, used here (no restarts, no seed).
FLPoison's gap statistic returns k + 1 for the k the rule selects, so it always finds two clusters or more; the
authors' code (and this one) returns k.
"""

import numpy as np
import torch

#: The gap statistic's uniform reference samples and largest number of clusters tried (the authors' code: 10 and 7).
GAP_REFERENCES = 10
GAP_MAX_CLUSTERS = 7


def lbfgs_hvp(weight_diffs: torch.Tensor, grad_diffs: torch.Tensor, vectors: torch.Tensor) -> torch.Tensor:
    """H v for each row v of `vectors` [K, D], H the L-BFGS approximation of the Hessian from the pairs (Δw, Δg),
    the rows of `weight_diffs` and `grad_diffs` [N, D], oldest first (the compact form of Byrd, Nocedal & Schnabel
    1994 with B_0 = σ I, σ = Δg_N·Δw_N / Δw_N·Δw_N, as the authors' code computes it)."""
    s, y, v = weight_diffs.double().T, grad_diffs.double().T, vectors.double().T  # [D, N], [D, N], [D, K]
    s_y = s.T @ y
    lower = torch.tril(s_y, diagonal=-1)
    sigma = (y[:, -1] @ s[:, -1]) / (s[:, -1] @ s[:, -1])
    middle = torch.cat(
        [torch.cat([sigma * (s.T @ s), lower], 1), torch.cat([lower.T, -torch.diag(torch.diag(s_y))], 1)], 0
    )
    projections = torch.cat([sigma * (s.T @ v), y.T @ v], 0)
    return (sigma * v - torch.cat([sigma * s, y], 1) @ torch.linalg.solve(middle, projections)).T


def kmeans_1d(values: np.ndarray, most: int) -> tuple[np.ndarray, np.ndarray]:
    """Optimal k-means of 1-D `values` for k = 1..`most` by dynamic programming over the sorted values (clusters of
    1-D k-means are intervals): (W_k, the within-cluster sums of squares [most]; the cluster of each value for
    k = 2, 0 the lower one). Exact, so the gap statistic needs no k-means restarts."""
    order = np.argsort(values, kind="stable")
    ordered = values[order].astype(np.float64)
    count = len(ordered)
    sums = np.concatenate([[0.0], np.cumsum(ordered)])
    squares = np.concatenate([[0.0], np.cumsum(ordered**2)])
    start, stop = np.arange(count + 1)[:, None], np.arange(count + 1)[None, :]
    sizes = stop - start
    with np.errstate(divide="ignore", invalid="ignore"):
        cost = squares[stop] - squares[start] - (sums[stop] - sums[start]) ** 2 / sizes
    cost = np.where(sizes > 0, np.maximum(cost, 0.0), np.inf)  # cost[i, j]: one cluster of ordered[i:j]
    best = [cost[0]]  # best[k - 1][j]: the least W of ordered[:j] in k clusters
    split = [np.zeros(count + 1, dtype=np.int64)]
    for _ in range(1, most):
        candidates = best[-1][:, None] + cost
        split.append(np.argmin(candidates, axis=0))
        best.append(candidates[split[-1], np.arange(count + 1)])
    labels = np.zeros(count, dtype=np.int64)
    if most >= 2:
        labels[order[split[1][count] :]] = 1
    return np.array([row[count] for row in best]), labels


def gap_clusters(scores: np.ndarray, rng: np.random.Generator) -> int:
    """The number of clusters of the 1-D `scores` by the gap statistic: the smallest k with
    Gap(k) >= Gap(k+1) − s_{k+1}, on the scores min-max scaled to [0, 1] against uniform references."""
    spread = scores.max() - scores.min()
    if spread <= 0:
        return 1
    values = (scores - scores.min()) / spread
    most = min(GAP_MAX_CLUSTERS, len(values))
    references = np.log(
        np.maximum([kmeans_1d(rng.uniform(0, 1, len(values)), most)[0] for _ in range(GAP_REFERENCES)], 1e-300)
    )
    gaps = references.mean(0) - np.log(np.maximum(kmeans_1d(values, most)[0], 1e-300))
    errors = references.std(0) * np.sqrt(1 + 1 / GAP_REFERENCES)
    for k in range(1, most):
        if gaps[k - 1] >= gaps[k] - errors[k]:
            return k
    return most


def fldetector_flags(scores: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Bool per client: in the higher-scoring of two k-means clusters, when the gap statistic finds more than one
    cluster; none otherwise."""
    if len(scores) < 2 or gap_clusters(scores, rng) < 2:
        return np.zeros(len(scores), dtype=bool)
    return kmeans_1d(scores, 2)[1] == 1
