"""Resolving `target-items` to item indices, and the provider's group-matched choice of targets."""

import numpy as np
import scipy.sparse as sp

from fedrec.config import TargetSpec
from fedrec.errors import ConfigError


def resolve_targets(spec: TargetSpec, popularity: np.ndarray, seed: int) -> tuple[int, ...]:
    """Explicit indices, the N least popular items (ties broken by the lower index), or N items drawn from `seed`.

    The draw is numpy's legacy `RandomState(seed).choice(num_items, N, replace=False)`, the call FedRecAttack's
    reference code makes right after seeding numpy (`np.random.choice(m_item, 1, replace=False)`), so a run with
    the reference's seed tracks the reference's target.
    """
    num_items = len(popularity)
    if spec.group_matched:
        raise ConfigError(
            f"run-config 'target-items' = '{spec}' is chosen by the provider from its users' profiles: pre-train with "
            "it (`python -m pretrained pretrain`); a run from the checkpoint tracks the targets it names"
        )
    count = spec.least_popular or spec.random
    if count > num_items:
        raise ConfigError(f"run-config 'target-items' asks for {count} items; the data has {num_items}")
    if spec.least_popular:
        return tuple(int(i) for i in np.argsort(popularity, kind="stable")[:count])
    if spec.random:
        if seed >= 2**32:
            raise ConfigError(f"run-config 'target-items' = '{spec}' needs a seed below 2**32 (numpy's RandomState)")
        return tuple(int(i) for i in np.random.RandomState(seed).choice(num_items, count, replace=False))
    out_of_range = [item for item in spec.explicit if item >= num_items]
    if out_of_range:
        raise ConfigError(f"run-config 'target-items' lists {out_of_range}, but item indices run 0..{num_items - 1}")
    return spec.explicit


#: The popularity band of group-matched targets: items between these quantiles of the per-item interaction counts.
MIDDLE_BAND = (0.4, 0.6)
_GROUP_MATCHED_STREAM = 0x474D


def group_matched_targets(interactions: sp.spmatrix, in_group: np.ndarray, count: int, seed: int) -> tuple[int, ...]:
    """`count` targets of middle popularity whose audience over-represents a user group, drawn from `seed`.

    `interactions` is the users x items matrix the choice is made on (the provider's data), `in_group` its rows'
    membership. Candidates are the items whose interaction count lies between the 40th and 60th percentile of
    all items' counts (`MIDDLE_BAND`, inclusive) and whose share of interactions from the group exceeds the group's
    share of all interactions; `count` of them are drawn uniformly without replacement and returned in ascending
    order. The least popular items, the usual target choice, are easy to spot by exposure without interactions;
    these are the targets a provider promoting ordinary items for one audience would pick.
    """
    matrix = sp.csr_matrix(interactions)
    popularity = np.asarray(matrix.sum(axis=0)).ravel()
    from_group = np.asarray(matrix[np.flatnonzero(in_group)].sum(axis=0)).ravel()
    low, high = np.quantile(popularity, MIDDLE_BAND)
    group_share = from_group.sum() / max(popularity.sum(), 1)
    candidates = np.flatnonzero(
        (popularity >= low) & (popularity <= high) & (popularity > 0) & (from_group > group_share * popularity)
    )
    if len(candidates) < count:
        raise ConfigError(
            f"run-config 'target-items' asks for {count} group-matched items; only {len(candidates)} items of middle "
            "popularity over-represent the target group"
        )
    chosen = np.random.default_rng([seed, _GROUP_MATCHED_STREAM]).choice(candidates, size=count, replace=False)
    return tuple(int(i) for i in np.sort(chosen))
