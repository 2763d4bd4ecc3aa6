"""What a recommender scores without any training: the informed baseline (most popular items) and chance.

A utility number means little without them: a federated model whose Recall@10 sits below the popularity
ranking has learned less than the item counts alone tell, and an attack that "keeps utility" there keeps
nothing. Both are computed with the evaluation's own protocol (fedrec/evaluation/ranking.py): every item
ranked, the user's training items masked, averaged over the users with a test item.

- Popularity: every user gets the same scores, each item's number of training interactions (public
  knowledge in the threat models here: the attacks' `popularity` knowledge is the same counts).
- Chance: a uniformly random ranking of the items a user has not trained on; its expected Recall@K is
  K / (items - the user's training items), whatever the number of test items, and NDCG@K likewise in closed
  form (each unmasked item sits at each rank with equal probability).
"""

import numpy as np
import scipy.sparse as sp
import torch

from fedrec.evaluation.ranking import counts_in_batches

_USERS_PER_BATCH = 1024


def popularity_metrics(train: sp.csr_array, test: sp.csr_array, ks: tuple[int, ...]) -> dict[str, float]:
    """Recall/Precision/NDCG@K of ranking every item by its training interactions, for every user."""
    counts = np.asarray(train.sum(axis=0)).ravel().astype(np.float32)
    # A tiny decreasing offset breaks ties between equally popular items by id, so the ranking is defined.
    scores = torch.from_numpy(counts) - torch.arange(len(counts), dtype=torch.float32) * 1e-6
    users = np.arange(train.shape[0])

    def scores_of(part: slice) -> torch.Tensor:
        return scores.expand(len(users[part]), -1)

    return counts_in_batches(users, scores_of, train, test, ks, (), _USERS_PER_BATCH).metrics()


def chance_metrics(train: sp.csr_array, test: sp.csr_array, ks: tuple[int, ...]) -> dict[str, float]:
    """The expected Recall@K and NDCG@K of a uniformly random ranking of each user's unmasked items."""
    num_items = train.shape[1]
    num_test = np.diff(test.indptr)
    has_test = num_test > 0
    candidates = (num_items - np.diff(train.indptr))[has_test].astype(np.float64)
    tests = num_test[has_test].astype(np.float64)
    out: dict[str, float] = {}
    for k in ks:
        shown = np.minimum(k, candidates)
        # Each of the top min(K, C) places holds a test item with probability T / C.
        discounts = 1.0 / np.log2(np.arange(k) + 2.0)
        dcg = np.array([discounts[: int(s)].sum() for s in shown]) * tests / candidates
        ideal = np.array([discounts[: int(min(t, k))].sum() for t in tests])
        out[f"recall@{k}"] = float(np.mean(shown / candidates))
        out[f"ndcg@{k}"] = float(np.mean(dcg / ideal))
    return out
