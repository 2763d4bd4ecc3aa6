"""Sampled ranking metrics: each user's test items ranked against N sampled items it never interacted with.

FedRecAttack's protocol (and NCF's before it) reports utility as sampled HR@10: the user's held-out item
and 99 items drawn at random among those the user has not interacted with, ranked by the model; a hit
when the held-out item is among the top 10. Here a user's candidates are its test items and
`negatives` distinct items from outside its train and test items, drawn uniformly and keyed by (seed,
user), so a user meets the same candidates in every evaluation (the reference code draws new ones each
time; the expectation is the same). HR@K is the share of the user's test items in the top K of its
candidates (with one test item, hit or miss), NDCG@K as for the full ranking; ties between a test item
and a sampled one are resolved in the test item's favour.
"""

from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp
import torch

from fedrec.evaluation.metrics import count_ranking_metrics
from fedrec.training.sampling import free_items_at

_SAMPLED_STREAM = 0x5352


@dataclass(frozen=True)
class SampledRanking:
    """How many items each user's test items are ranked against (`negatives`), drawn with `seed`."""

    negatives: int
    seed: int

    def sampled_items(self, user: int, known: np.ndarray, num_items: int) -> np.ndarray:
        """`negatives` distinct items outside `known` (sorted, unique), or all of them where fewer are left."""
        free = num_items - len(known)
        rng = np.random.default_rng([self.seed, _SAMPLED_STREAM, int(user)])
        return free_items_at(np.sort(rng.choice(free, size=min(self.negatives, free), replace=False)), known)

    def candidates(
        self, user_ids: np.ndarray, train: sp.csr_array, test: sp.csr_array
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Each user's candidates: items [U, C] (its test items first, then the sampled ones, padded), which
        of them are test items [U, C] and which are real, not padding [U, C]."""
        rows = []
        for user in user_ids:
            tested = test.indices[test.indptr[user] : test.indptr[user + 1]]
            known = np.union1d(train.indices[train.indptr[user] : train.indptr[user + 1]], tested)
            rows.append((tested, self.sampled_items(int(user), known, train.shape[1])))
        width = max((len(tested) + len(sampled) for tested, sampled in rows), default=0)
        items = torch.zeros(len(rows), width, dtype=torch.int64)
        is_test = torch.zeros(len(rows), width, dtype=torch.bool)
        real = torch.zeros(len(rows), width, dtype=torch.bool)
        for row, (tested, sampled) in enumerate(rows):
            both = np.concatenate([tested, sampled])
            items[row, : len(both)] = torch.from_numpy(both.astype(np.int64))
            is_test[row, : len(tested)] = True
            real[row, : len(both)] = True
        return items, is_test, real


def sampled_ranking(config: Any) -> SampledRanking | None:
    """The run's sampled ranking (`sampled-negatives` items, drawn with `seed`), or None when it has none."""
    return SampledRanking(config.sampled_negatives, config.seed) if config.sampled_negatives else None


def sampled_counts(
    scores: torch.Tensor, items: torch.Tensor, is_test: torch.Tensor, real: torch.Tensor, ks: tuple[int, ...]
) -> tuple[np.ndarray, np.ndarray]:
    """Sums over the users with a test item of sampled HR@K and NDCG@K, from their scores [U, M] of every item."""
    candidate_scores = scores.gather(1, items).masked_fill(~real, float("-inf"))
    order = torch.sort(candidate_scores, dim=1, descending=True, stable=True).indices
    top = order[:, : min(max(ks), order.shape[1])]
    counts = count_ranking_metrics(top, is_test, is_test, ks, ())
    return counts.recall, counts.ndcg
