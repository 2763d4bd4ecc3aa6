"""Sampled ranking metrics: each user's test items ranked against N sampled items it never interacted with.

FedRecAttack's protocol (and NCF's before it) reports utility as sampled HR@10: the user's held-out item
and 99 items drawn at random among those the user has not interacted with, ranked by the model; a hit
when the held-out item is among the top 10. Here a user's candidates are its test items and
`negatives` distinct items from outside its train and test items, drawn uniformly. With
`sampled-candidates = "fixed"` (the default) they are keyed by (seed, user), so a user meets the same
candidates in every evaluation and a seed's curve keeps the chance level of its draw; with
`"per-evaluation"` they are keyed by (seed, epoch, user), redrawn at every evaluation as the reference
codes (FedRecAttack, Spattack) draw them from their global generator; the expectation is the same. HR@K
is the share of the user's test items in the top K of its candidates (with one test item, hit or miss),
NDCG@K as for the full ranking; ties between a test item and a sampled one are resolved in the test item's
favour.
"""

from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp
import torch

from fedrec.evaluation.metrics import SAMPLED_PER_EVALUATION, count_ranking_metrics
from fedrec.training.sampling import free_items_at

_SAMPLED_STREAM = 0x5352
_PER_EVALUATION_STREAM = 0x5345


@dataclass(frozen=True)
class SampledRanking:
    """How many items each user's test items are ranked against (`negatives`), drawn with `seed`: the same for
    every evaluation when `epoch` is None, else those of the evaluation after epoch `epoch` (a stream of their own,
    keyed by (seed, epoch, user))."""

    negatives: int
    seed: int
    epoch: int | None = None

    def _key(self, user: int) -> list[int]:
        if self.epoch is None:
            return [self.seed, _SAMPLED_STREAM, user]
        return [self.seed, _PER_EVALUATION_STREAM, self.epoch, user]

    def sampled_items(self, user: int, known: np.ndarray, num_items: int) -> np.ndarray:
        """`negatives` distinct items outside `known` (sorted, unique), or all of them where fewer are left."""
        free = num_items - len(known)
        rng = np.random.default_rng(self._key(int(user)))
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


def sampled_ranking(config: Any, epoch: int) -> SampledRanking | None:
    """The run's sampled ranking for the evaluation after epoch `epoch` (0: the starting model): `sampled-negatives`
    items drawn with `seed`, and with `sampled-candidates = "per-evaluation"` with `epoch` too; None when the run
    has none."""
    if not config.sampled_negatives:
        return None
    return SampledRanking(
        config.sampled_negatives, config.seed, epoch if config.sampled_candidates == SAMPLED_PER_EVALUATION else None
    )


def sampled_counts(
    scores: torch.Tensor, items: torch.Tensor, is_test: torch.Tensor, real: torch.Tensor, ks: tuple[int, ...]
) -> tuple[np.ndarray, np.ndarray]:
    """Sums over the users with a test item of sampled HR@K and NDCG@K, from their scores [U, M] of every item."""
    candidate_scores = scores.gather(1, items).masked_fill(~real, float("-inf"))
    order = torch.sort(candidate_scores, dim=1, descending=True, stable=True).indices
    top = order[:, : min(max(ks), order.shape[1])]
    counts = count_ranking_metrics(top, is_test, is_test, ks, ())
    return counts.recall, counts.ndcg
