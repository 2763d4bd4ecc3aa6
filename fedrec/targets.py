"""Resolving `target-items` to item indices."""

import numpy as np

from fedrec.config import TargetSpec
from fedrec.errors import ConfigError


def resolve_targets(spec: TargetSpec, popularity: np.ndarray, seed: int) -> tuple[int, ...]:
    """Explicit indices, the N least popular items (ties broken by the lower index), or N items drawn from `seed`.

    The draw is numpy's legacy `RandomState(seed).choice(num_items, N, replace=False)`, the call FedRecAttack's
    reference code makes right after seeding numpy (`np.random.choice(m_item, 1, replace=False)`), so a run with
    the reference's seed tracks the reference's target.
    """
    num_items = len(popularity)
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
