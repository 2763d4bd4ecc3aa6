"""Evaluation counts of a set of users, whole and split by membership of a user group.

One function for every model kind and every caller (a ClientApp evaluating its node's users, the
provider's offline audit of a checkpoint), so "group" and "rest" mean the same everywhere.
"""

import numpy as np
import torch

from fedrec.data.dataset import RecDataset
from fedrec.evaluation.metrics import EvalCounts
from fedrec.evaluation.ranking import evaluate_users
from fedrec.models.base import RecModel, Theta
from fedrec.sequential.evaluation import evaluate_sequences
from fedrec.sequential.sequences import user_sequences


def evaluate_counts(
    model: RecModel,
    theta: Theta,
    dataset: RecDataset,
    users: np.ndarray,
    embeddings: torch.Tensor,
    ks: tuple[int, ...],
    targets: tuple[int, ...],
) -> EvalCounts:
    """Ranking counts of `users` (sequential models read their sequences, others `embeddings` [U, d])."""
    if model.sequential:
        sequences, profile = user_sequences(dataset, users)
        return evaluate_sequences(model, theta, users, sequences, profile, dataset.train, dataset.test, ks, targets)
    return evaluate_users(model, theta, users, embeddings, dataset.train, dataset.test, ks, targets)


def counts_by_group(
    model: RecModel,
    theta: Theta,
    dataset: RecDataset,
    users: np.ndarray,
    embeddings: torch.Tensor,
    ks: tuple[int, ...],
    targets: tuple[int, ...],
    members: np.ndarray | None,
) -> dict[str, EvalCounts]:
    """{"counts": all users} and, with `members` (bool per dataset user), {"counts/group", "counts/rest"}."""
    if members is None:
        return {"counts": evaluate_counts(model, theta, dataset, users, embeddings, ks, targets)}
    inside = members[users]
    out = {}
    for key, rows in (("counts/group", inside), ("counts/rest", ~inside)):
        out[key] = evaluate_counts(model, theta, dataset, users[rows], embeddings[torch.from_numpy(rows)], ks, targets)
    total = EvalCounts(ks=ks, targets=targets)
    total += out["counts/group"]
    total += out["counts/rest"]
    return {"counts": total, **out}


def grouped_metrics(counts: dict[str, EvalCounts]) -> dict[str, float]:
    """Metrics under the names of `metrics.csv`: `er@10` for everyone, `group/er@10` and `rest/er@10` by group,
    and how many users each average is over (`evaluated-users`: users with a test item)."""
    out = dict(counts["counts"].metrics())
    out["evaluated-users"] = float(counts["counts"].users)
    for key, value in sorted(counts.items()):
        if key != "counts":
            group = key.split("/", 1)[1]
            out.update({f"{group}/{name}": metric for name, metric in value.metrics().items()})
            out[f"{group}/evaluated-users"] = float(value.users)
    return out
