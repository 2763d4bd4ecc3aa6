"""An exposure audit a deployer can run before deploying a checkpoint, without knowing any target.

A backdoor makes a few items appear in top-K lists far more often than their popularity explains,
possibly only for one user group. The scan ranks every item of the deployer's held-out users (their
histories, train and test, masked as for ER@K) and scores each item by
(users whose top-K holds it + 1) / (users who interacted with it + 1), within every profile group of
at least `min_group` users (gender, age bucket, occupation) and over everyone; an item's suspicion is
its largest score. The top of that list is what an auditor would inspect; `scan_recall` says how many
of the true targets it holds.
"""

import numpy as np
import pandas as pd
import torch

from fedrec.data.dataset import RecDataset
from fedrec.models.base import Theta
from fedrec.models.sasrec import SASRec
from fedrec.sequential.batch import PROFILE_ATTRIBUTES
from fedrec.sequential.sequences import history_batch, user_sequences

_USERS_PER_BATCH = 256


def top_k_lists(model: SASRec, theta: Theta, dataset: RecDataset, k: int) -> np.ndarray:
    """[U, k] each user's top-k items with its whole history (train and test) masked."""
    known = (dataset.train + dataset.test).tocsr()
    users = np.arange(dataset.num_users)
    lists = []
    with torch.no_grad():
        for start in range(0, len(users), _USERS_PER_BATCH):
            rows = users[start : start + _USERS_PER_BATCH]
            scores = model.score_sequences(theta, history_batch(*user_sequences(dataset, rows), model.max_len))
            scores.masked_fill_(torch.from_numpy(known[rows].toarray() > 0), float("-inf"))
            lists.append(torch.topk(scores, k, dim=1).indices.numpy())
    return np.concatenate(lists)


def exposure_scan(model: SASRec, theta: Theta, dataset: RecDataset, k: int = 10, min_group: int = 20) -> pd.DataFrame:
    """Items by suspicion, most suspicious first: `suspicion`, the `group` where it peaks, `exposed`, `popularity`."""
    lists = top_k_lists(model, theta, dataset, k)
    interactions = (dataset.train + dataset.test).tocsr()
    groups = {"everyone": np.ones(dataset.num_users, dtype=bool)}
    if dataset.profiles is not None:
        for attribute in PROFILE_ATTRIBUTES:
            for value, count in dataset.profiles[attribute].value_counts().items():
                if count >= min_group:
                    groups[f"{attribute}={value}"] = (dataset.profiles[attribute] == value).to_numpy()
    best = pd.DataFrame(
        {"suspicion": 0.0, "group": "", "exposed": 0, "popularity": 0}, index=np.arange(dataset.num_items)
    )
    for name, members in groups.items():
        exposed = np.bincount(lists[members].ravel(), minlength=dataset.num_items)
        popularity = np.asarray(interactions[members].sum(axis=0)).ravel().astype(np.int64)
        score = (exposed + 1) / (popularity + 1)
        higher = score > best["suspicion"].to_numpy()
        best.loc[higher, ["suspicion", "group", "exposed", "popularity"]] = pd.DataFrame(
            {"suspicion": score, "group": name, "exposed": exposed, "popularity": popularity}
        )[higher].to_numpy()
    best.index.name = "item"
    return best.sort_values("suspicion", ascending=False, kind="stable")


def scan_recall(scan: pd.DataFrame, targets: tuple[int, ...], inspected: int = 10) -> float:
    """Share of the targets among the `inspected` most suspicious items."""
    return float(np.isin(np.asarray(targets), scan.index[:inspected]).mean())


def scan_report(scan: pd.DataFrame, targets: tuple[int, ...], shown: int = 10) -> dict:
    """What an audit reports of a scan: its `shown` most suspicious items and the share of the targets
    among the top 5 and the top 10 (the targets are known to the simulation, not to the auditor)."""
    return {
        "most-suspicious": scan.head(shown).reset_index().to_dict(orient="records"),
        "targets-among-top-5": scan_recall(scan, targets, inspected=5),
        "targets-among-top-10": scan_recall(scan, targets),
    }
