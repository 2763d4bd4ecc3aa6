"""The exposure scan run federated: every node reports its users' per-group exposure and interaction counts on Θ.

The server learns per profile group only sums over users (no history, no per-user value), adds them over the nodes
and scores the items as the deployer's central scan does (pretrained/exposure_scan.py): the same scan, without the
histories in one place.
"""

import pandas as pd
from flwr.serverapp import Grid

from fedrec.directory import UserDirectory
from fedrec.models.base import Theta
from fedrec.protocol import ExposureStatistics, exposure_messages
from pretrained.exposure_scan import GroupExposure, from_statistics, merge_counts, scan_counts
from server_app.queries import ask_every_node


def federated_exposure_scan(
    grid: Grid, directory: UserDirectory, theta: Theta, k: int, min_group: int, timeout: float
) -> tuple[pd.DataFrame, dict[str, GroupExposure]]:
    """Items by suspicion (`scan_counts`) and the summed counts it scored, from the nodes' counts; a node without an
    answer stops the scan."""
    messages = exposure_messages(theta, k, list(directory.nodes))
    replies = ask_every_node(grid, messages, timeout, "counts for the exposure scan")
    counts = merge_counts(from_statistics(ExposureStatistics.parse(reply)) for reply in replies)
    return scan_counts(counts, min_group), counts
