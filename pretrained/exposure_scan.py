"""An exposure audit a deployer can run before deploying a checkpoint, without knowing any target.

A backdoor makes a few items appear in top-K lists far more often than their popularity explains,
possibly only for one user group. The scan ranks every item of the deployer's held-out users (their
histories, train and test, masked as for ER@K) and scores each item by
(users whose top-K holds it + 1) / (users who interacted with it + 1), within every profile group of
at least `min_group` users (gender, age bucket, occupation) and over everyone; an item's suspicion is
its largest score. The top of that list is what an auditor would inspect; `scan_recall` says how many
of the true targets it holds.

The scan needs per group only sums over users (`exposure_counts`), so it also runs federated: each node sends
its users' sums and the server adds them (`merge_counts`, server_app/exposure_scan.py); `scan_counts` scores
the totals the same way either way.
"""

import math
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch

from fedrec.data.dataset import RecDataset
from fedrec.models.base import Theta
from fedrec.models.sasrec import SASRec
from fedrec.protocol import ExposureStatistics
from fedrec.sequential.batch import PROFILE_ATTRIBUTES
from fedrec.sequential.sequences import history_batch, user_sequences

_USERS_PER_BATCH = 256
#: The group of all users, scanned whatever its size.
EVERYONE = "everyone"


def top_k_lists(
    model: SASRec, theta: Theta, dataset: RecDataset, k: int, users: np.ndarray | None = None
) -> np.ndarray:
    """[U, k] the top-k items of `users` (default: all) with each one's whole history (train and test) masked."""
    known = (dataset.train + dataset.test).tocsr()
    users = np.arange(dataset.num_users) if users is None else np.asarray(users)
    lists = [np.zeros((0, k), dtype=np.int64)]
    with torch.no_grad():
        for start in range(0, len(users), _USERS_PER_BATCH):
            rows = users[start : start + _USERS_PER_BATCH]
            scores = model.score_sequences(theta, history_batch(*user_sequences(dataset, rows), model.max_len))
            scores.masked_fill_(torch.from_numpy(known[rows].toarray() > 0), float("-inf"))
            lists.append(torch.topk(scores, k, dim=1).indices.numpy())
    return np.concatenate(lists)


@dataclass(frozen=True)
class GroupExposure:
    """A profile group's sums over some users: how many, how many of them have each item in their top K
    (`exposed` [M]) and how many interacted with it (`interactions` [M]). Sums over disjoint users add up, so the
    nodes of a federation can each send theirs (no per-user value) and the server adds them."""

    users: int
    exposed: np.ndarray
    interactions: np.ndarray

    def __add__(self, other: "GroupExposure") -> "GroupExposure":
        return GroupExposure(
            self.users + other.users, self.exposed + other.exposed, self.interactions + other.interactions
        )


def _groups(dataset: RecDataset, users: np.ndarray) -> dict[str, np.ndarray]:
    """Everyone, and each value of each profile attribute, as masks over `users`."""
    groups = {EVERYONE: np.ones(len(users), dtype=bool)}
    if dataset.profiles is not None:
        for attribute in PROFILE_ATTRIBUTES:
            values = dataset.profiles[attribute].to_numpy()[users]
            for value in sorted(set(values.tolist()), key=str):
                groups[f"{attribute}={value}"] = values == value
    return groups


def exposure_counts(
    model: SASRec, theta: Theta, dataset: RecDataset, users: np.ndarray, k: int
) -> dict[str, GroupExposure]:
    """Each profile group's exposure and interaction counts over `users` (e.g. one node's)."""
    users = np.asarray(users)
    lists = top_k_lists(model, theta, dataset, k, users)
    interactions = (dataset.train + dataset.test).tocsr()[users]
    return {
        name: GroupExposure(
            int(members.sum()),
            np.bincount(lists[members].ravel(), minlength=dataset.num_items).astype(np.int64),
            np.asarray(interactions[members].sum(axis=0)).ravel().astype(np.int64),
        )
        for name, members in _groups(dataset, users).items()
    }


def as_statistics(counts: dict[str, GroupExposure]) -> ExposureStatistics:
    """A node's counts as the exposure query's reply carries them (fedrec/protocol.py)."""
    return ExposureStatistics(
        users={group: c.users for group, c in counts.items()},
        exposed={group: c.exposed for group, c in counts.items()},
        interactions={group: c.interactions for group, c in counts.items()},
    )


def from_statistics(statistics: ExposureStatistics) -> dict[str, GroupExposure]:
    """The counts of an exposure query's reply."""
    return {
        group: GroupExposure(users, statistics.exposed[group], statistics.interactions[group])
        for group, users in statistics.users.items()
    }


def merge_counts(parts: Iterable[dict[str, GroupExposure]]) -> dict[str, GroupExposure]:
    """The groups' counts summed over disjoint sets of users (e.g. over the nodes)."""
    total: dict[str, GroupExposure] = {}
    for part in parts:
        for name, counts in part.items():
            total[name] = total[name] + counts if name in total else counts
    return total


def scan_counts(counts: dict[str, GroupExposure], min_group: int = 20) -> pd.DataFrame:
    """Items by suspicion, most suspicious first: `suspicion`, the `group` where it peaks, `exposed`, `popularity`.
    Groups of fewer than `min_group` users are left out (everyone never); on equal scores the group met first
    wins, everyone first, then each attribute's values in order."""
    num_items = len(counts[EVERYONE].exposed)
    best = pd.DataFrame({"suspicion": 0.0, "group": "", "exposed": 0, "popularity": 0}, index=np.arange(num_items))
    for name, group in counts.items():
        if name != EVERYONE and group.users < min_group:
            continue
        score = (group.exposed + 1) / (group.interactions + 1)
        higher = score > best["suspicion"].to_numpy()
        if not higher.any():  # pandas cannot set an empty selection from an empty object array
            continue
        best.loc[higher, ["suspicion", "group", "exposed", "popularity"]] = pd.DataFrame(
            {"suspicion": score, "group": name, "exposed": group.exposed, "popularity": group.interactions}
        )[higher].to_numpy()
    best.index.name = "item"
    return best.sort_values("suspicion", ascending=False, kind="stable")


def exposure_scan(model: SASRec, theta: Theta, dataset: RecDataset, k: int = 10, min_group: int = 20) -> pd.DataFrame:
    """The scan over all of `dataset`'s users in one place (the deployer's held-out users)."""
    return scan_counts(exposure_counts(model, theta, dataset, np.arange(dataset.num_users), k), min_group)


def scan_recall(scan: pd.DataFrame, targets: tuple[int, ...], inspected: int = 10) -> float:
    """Share of the targets among the `inspected` most suspicious items."""
    return float(np.isin(np.asarray(targets), scan.index[:inspected]).mean())


def evasion_ceiling(
    counts: dict[str, GroupExposure], scan: pd.DataFrame, targets: tuple[int, ...], inspected: int, group: str
) -> dict:
    """The highest ER@K on `targets` in `group` a provider who knows the scan can reach while every target stays
    out of its `inspected` most suspicious items, if the other items' suspicions stay as they are.

    An item stays out if its score (exposed + 1) / (interactions + 1) is below the `inspected`-th highest score of
    the other items in every scanned group; `group`'s exposures are also exposures of everyone, so per target the
    exposures in `group` can be at most the largest count below the threshold in `group` and in everyone, and at
    most the group's users who never interacted with it (those ER@K counts). An upper bound: the other groups
    (age, occupation) only constrain it further. The targets are the simulation's ground truth (results only).
    """
    others = scan.drop(index=list(targets))
    threshold = float(others["suspicion"].iloc[inspected - 1])
    rows = []
    for target in targets:
        caps = []
        for name in (group, EVERYONE):
            interactions = int(counts[name].interactions[target])
            # the largest exposure e with (e + 1) / (interactions + 1) < threshold
            caps.append(max(0, math.ceil(threshold * (interactions + 1) - 1) - 1))
        eligible = counts[group].users - int(counts[group].interactions[target])
        exposed = int(counts[group].exposed[target])
        rows.append(
            {
                "item": int(target),
                "eligible": eligible,
                "exposed": exposed,
                "max-exposed-unflagged": min(caps + [eligible]),
            }
        )
    return {
        "group": group,
        "inspected": inspected,
        "threshold": threshold,
        "er": float(np.mean([row["exposed"] / max(row["eligible"], 1) for row in rows])),
        "ceiling-er": float(np.mean([row["max-exposed-unflagged"] / max(row["eligible"], 1) for row in rows])),
        "targets": rows,
    }


#: Reset sizes at which `evasion_report` gives the scan-aware provider's ceiling (what a larger reset costs it).
EVASION_RESETS = (5, 10, 20, 50, 100)


def evasion_report(
    counts: dict[str, GroupExposure], scan: pd.DataFrame, targets: tuple[int, ...], inspected: int, group: str
) -> dict:
    """The scan-aware provider's ceiling (`evasion_ceiling`) at `inspected` items, and its ER@K at each of
    `EVASION_RESETS` items reset."""
    return {
        "evasion": evasion_ceiling(counts, scan, targets, inspected, group),
        "evasion-ceiling-by-reset": {
            str(n): evasion_ceiling(counts, scan, targets, n, group)["ceiling-er"] for n in EVASION_RESETS
        },
    }


def scan_report(scan: pd.DataFrame, targets: tuple[int, ...], shown: int = 10) -> dict:
    """What an audit reports of a scan: its `shown` most suspicious items and the share of the targets
    among the top 5 and the top 10 (the targets are known to the simulation, not to the auditor)."""
    return {
        "most-suspicious": scan.head(shown).reset_index().to_dict(orient="records"),
        "targets-among-top-5": scan_recall(scan, targets, inspected=5),
        "targets-among-top-10": scan_recall(scan, targets),
    }
