"""Coordinate-wise trimmed mean (Yin et al., ICML 2018): drop int(β n) values at each end, dense or per item."""

import numpy as np

from fedrec.settings import Setting
from strategies.robust import CoordinateStrategy

TRIM_FRACTION = Setting(
    "trim-fraction", float, "beta: share cut at each end by the trimmed mean.", minimum=0.0, maximum=0.49
)


class TrimmedMean(CoordinateStrategy):
    settings = (*CoordinateStrategy.settings, TRIM_FRACTION)

    def combine(self, values: np.ndarray) -> np.ndarray:
        counts = (~np.isnan(values[:, :, 0])).sum(1)  # senders per group
        cut = (self.config.trim_fraction * counts).astype(np.int64)
        ordered = np.sort(values, axis=1)  # NaN padding sorts last
        position = np.arange(values.shape[1])[None, :]
        keep = (position >= cut[:, None]) & (position < (counts - cut)[:, None])
        kept = np.where(keep[:, :, None], ordered, 0.0)
        return kept.sum(1) / keep.sum(1)[:, None]
