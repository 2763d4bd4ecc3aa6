"""Coordinate-wise median (Yin et al., ICML 2018), dense or per item."""

import numpy as np

from strategies.robust import CoordinateStrategy


class Median(CoordinateStrategy):
    def combine(self, values: np.ndarray) -> np.ndarray:
        return np.nanmedian(values, axis=1)
