"""Statistics of the uploaded updates themselves: how large each user's update is, and how benign and
malicious users push the target items' rows."""

import numpy as np
import torch

from fedrec.updates import UserUpdates

QUANTILES = (0.0, 0.25, 0.5, 0.75, 1.0)


def user_update_norms(updates: UserUpdates) -> torch.Tensor:
    """L2 norm of each user's whole update (its item rows and dense gradients), shape [U]."""
    squared = torch.zeros(updates.num_users, dtype=torch.float64)
    squared.index_add_(0, updates.item_owner(), updates.item_grads.double().pow(2).sum(1))
    for grads in updates.dense_grads.values():
        squared += grads.double().pow(2).reshape(updates.num_users, -1).sum(1)
    return squared.sqrt()


def norm_quartiles(norms: np.ndarray) -> dict[str, float]:
    """min, q25, median, q75, max of a set of norms (NaN where there are none)."""
    values = np.quantile(norms, QUANTILES) if len(norms) else [float("nan")] * len(QUANTILES)
    return {name: float(v) for name, v in zip(("min", "q25", "median", "q75", "max"), values)}


def target_row_sum(updates: UserUpdates, targets: torch.Tensor, users: torch.Tensor) -> tuple[torch.Tensor, int]:
    """Sum of the target items' gradient rows uploaded by the users where `users` (a bool per user)
    holds, [T, d] in float64, and how many rows that was.

    Summed over an epoch, minus it is the direction in which those users' uploads moved the target
    embeddings under the server's SGD: the attackers' push against the benign users' pull.
    """
    # Only the few target rows are compared and gathered; (row, target) pairs come in the same order as a full
    # comparison's, so the float sums are the same.
    candidates = torch.isin(updates.item_ids, targets).nonzero().squeeze(1)
    candidates = candidates[users[updates.item_owner()[candidates]]]
    match = updates.item_ids[candidates, None] == targets[None, :]
    local_rows, target_index = match.nonzero(as_tuple=True)
    rows = candidates[local_rows]
    total = torch.zeros(len(targets), updates.item_grads.shape[1], dtype=torch.float64)
    total.index_add_(0, target_index, updates.item_grads[rows].double())
    return total, int(rows.numel())


class EpochUpdateStats:
    """What benign and malicious users uploaded in one epoch: norms of their updates and their net push
    on the target rows. `add` each round's updates, read the rows at the epoch's end, then `reset`."""

    GROUPS = (("benign", False), ("malicious", True))

    def __init__(self, targets: tuple[int, ...], malicious_ids: np.ndarray) -> None:
        self.targets = torch.tensor(targets, dtype=torch.int64)
        self.malicious_ids = malicious_ids
        self.reset()

    def reset(self) -> None:
        self._norms: dict[bool, list[np.ndarray]] = {False: [], True: []}
        self._pushes: dict[bool, torch.Tensor] = {}
        self._rows = {False: 0, True: 0}

    def add(self, updates: UserUpdates) -> np.ndarray:
        """Count one round's updates; returns which of its users are malicious."""
        is_malicious = np.isin(updates.user_ids.numpy(), self.malicious_ids)
        norms = user_update_norms(updates).numpy()
        for flag in (False, True):
            self._norms[flag].append(norms[is_malicious == flag])
            if len(self.targets):
                total, rows = target_row_sum(updates, self.targets, torch.from_numpy(is_malicious == flag))
                self._pushes[flag] = self._pushes.get(flag, 0) - total
                self._rows[flag] += rows
        return is_malicious

    def norm_rows(self) -> list[tuple[str, dict[str, float], int]]:
        """(group, norm quartiles, number of updates) for each group that uploaded this epoch."""
        rows = []
        for group, flag in self.GROUPS:
            norms = np.concatenate(self._norms[flag]) if self._norms[flag] else np.zeros(0)
            if len(norms):
                rows.append((group, norm_quartiles(norms), len(norms)))
        return rows

    def push_rows(self) -> list[dict[str, float]]:
        """Per group: target rows uploaded, the norm of the group's net push on the target embeddings
        (minus the sum of its target-row gradients) and its cosine with the other group's push (NaN when
        either is zero). Empty when the run has no target items."""
        if not self._pushes:
            return []
        pushes = {flag: push.flatten() for flag, push in self._pushes.items()}
        both = pushes[False].norm() * pushes[True].norm()
        cosine = float(pushes[False] @ pushes[True] / both) if both > 0 else float("nan")
        return [
            {
                "group": group,
                "target-rows": self._rows[flag],
                "push-norm": float(pushes[flag].norm()),
                "cosine-to-other": cosine,
            }
            for group, flag in self.GROUPS
        ]
