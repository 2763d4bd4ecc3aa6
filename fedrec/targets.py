"""Resolving `target-items` to item indices."""

import numpy as np

from fedrec.config import TargetSpec
from fedrec.errors import ConfigError


def resolve_targets(spec: TargetSpec, popularity: np.ndarray) -> tuple[int, ...]:
    """Explicit indices, or the N least popular items (ties broken by the lower index)."""
    num_items = len(popularity)
    if spec.least_popular:
        if spec.least_popular > num_items:
            raise ConfigError(
                f"run-config 'target-items' asks for {spec.least_popular} items; the data has {num_items}"
            )
        return tuple(int(i) for i in np.argsort(popularity, kind="stable")[: spec.least_popular])
    out_of_range = [item for item in spec.explicit if item >= num_items]
    if out_of_range:
        raise ConfigError(f"run-config 'target-items' lists {out_of_range}, but item indices run 0..{num_items - 1}")
    return spec.explicit
