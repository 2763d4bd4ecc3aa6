"""Evaluation counts of a set of users, whole and split by membership of a user group.

One function for every model kind and every caller (a ClientApp evaluating its node's users, the
provider's offline audit of a checkpoint), so "group" and "rest" mean the same everywhere.
"""

from dataclasses import dataclass, field

import numpy as np
import torch

from fedrec.data.dataset import RecDataset
from fedrec.evaluation.metrics import EvalCounts
from fedrec.evaluation.sampled import SampledRanking
from fedrec.models.base import RecModel, Theta


@dataclass
class GroupedCounts:
    """Counts of all evaluated users and, for a group-targeted run, of the group's members (`group`) and
    the other users (`rest`); additive across nodes like `EvalCounts`."""

    total: EvalCounts
    groups: dict[str, EvalCounts] = field(default_factory=dict)

    def __iadd__(self, other: "GroupedCounts") -> "GroupedCounts":
        self.total += other.total
        for name, counts in other.groups.items():
            self.groups.setdefault(name, EvalCounts(ks=counts.ks, targets=counts.targets))
            self.groups[name] += counts
        return self


def counts_by_group(
    model: RecModel,
    theta: Theta,
    dataset: RecDataset,
    users: np.ndarray,
    embeddings: torch.Tensor,
    ks: tuple[int, ...],
    targets: tuple[int, ...],
    members: np.ndarray | None,
    sampled: SampledRanking | None = None,
    exposure_masks_test: bool = True,
) -> GroupedCounts:
    """Counts of all `users` and, with `members` (bool per dataset user), of the `group` and the `rest`; the
    sampled metrics too with `sampled`; exposure with the test items masked too unless `exposure_masks_test`
    is false."""
    if members is None:
        return GroupedCounts(
            model.evaluate_counts(theta, dataset, users, embeddings, ks, targets, sampled, exposure_masks_test)
        )
    inside = members[users]
    groups = {}
    for name, rows in (("group", inside), ("rest", ~inside)):
        groups[name] = model.evaluate_counts(
            theta, dataset, users[rows], embeddings[torch.from_numpy(rows)], ks, targets, sampled, exposure_masks_test
        )
    total = EvalCounts(ks=ks, targets=targets)
    total += groups["group"]
    total += groups["rest"]
    return GroupedCounts(total, groups)


def grouped_metrics(counts: GroupedCounts) -> dict[str, float]:
    """Metrics under the names of `metrics.csv`: `er@10` for everyone, `group/er@10` and `rest/er@10` by group,
    and how many users each average is over (`evaluated-users`: users with a test item)."""
    out = dict(counts.total.metrics())
    out["evaluated-users"] = float(counts.total.users)
    for group, value in sorted(counts.groups.items()):
        out.update({f"{group}/{name}": metric for name, metric in value.metrics().items()})
        out[f"{group}/evaluated-users"] = float(value.users)
    return out
