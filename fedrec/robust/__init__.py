"""Byzantine-robust aggregation rules as plain functions on a matrix of updates [n, D].

Each rule estimates the *mean* of the honest updates; strategies scale that estimate into the
server step (see strategies/robust.py). Selection rules also return which rows they kept.
"""

from fedrec.robust.bulyan import bulyan
from fedrec.robust.clipping import clip_to_norm
from fedrec.robust.coordinate import coordinate_median, trimmed_mean
from fedrec.robust.krum import krum_scores, multi_krum

__all__ = ["bulyan", "clip_to_norm", "coordinate_median", "krum_scores", "multi_krum", "trimmed_mean"]
