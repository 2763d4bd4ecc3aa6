"""Per-user updates as dense vectors over all of Θ, and back (for rules and attacks on whole vectors)."""

import torch

from fedrec.models.base import ITEM_EMBEDDING, Theta, dense_names
from fedrec.updates import UserUpdates


def to_dense(updates: UserUpdates, theta: Theta) -> torch.Tensor:
    """[U, M*d + P]: each user's whole update, item rows it did not send as zeros (the rows a user sent for one
    item, with `repeated-items = "separate"`, summed)."""
    num_items, dim = theta[ITEM_EMBEDDING].shape
    items = torch.zeros(updates.num_users, num_items, dim)
    items.index_put_((updates.item_owner(), updates.item_ids), updates.item_grads, accumulate=True)
    return torch.cat([items.reshape(updates.num_users, -1), mlp_matrix(updates, theta)], dim=1)


def flat_theta(theta: Theta) -> torch.Tensor:
    """Θ (or anything shaped as Θ) as one vector, laid out as a `to_dense` row."""
    parts = [theta[ITEM_EMBEDDING], *(theta[name] for name in dense_names(theta))]
    return torch.cat([part.detach().flatten() for part in parts])


def sent_mask(updates: UserUpdates, theta: Theta) -> torch.Tensor:
    """[U, M*d + P] bool, aligned with `to_dense`: the coordinates each user sent (its item rows, all of Θ's
    dense parameters), i.e. the values a per-item rule aggregates for each coordinate."""
    num_items, dim = theta[ITEM_EMBEDDING].shape
    items = torch.zeros(updates.num_users, num_items, dim, dtype=torch.bool)
    items[updates.item_owner(), updates.item_ids] = True
    num_dense = sum(theta[name].numel() for name in dense_names(theta))
    dense = torch.ones(updates.num_users, num_dense, dtype=torch.bool)
    return torch.cat([items.reshape(updates.num_users, -1), dense], dim=1)


def split_dense(vector: torch.Tensor, theta: Theta) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """A flat [..., M*d + P] vector as (item rows [..., M, d], dense parameters by name)."""
    num_items, dim = theta[ITEM_EMBEDDING].shape
    rows = vector[..., : num_items * dim].reshape(*vector.shape[:-1], num_items, dim)
    return rows, split_mlp(vector[..., num_items * dim :], theta)


def split_mlp(vector: torch.Tensor, theta: Theta) -> dict[str, torch.Tensor]:
    """A flat [..., P] vector of Θ's dense parameters (the tail of a `to_dense` row) by name."""
    dense, offset = {}, 0
    for name in dense_names(theta):
        size = theta[name].numel()
        dense[name] = vector[..., offset : offset + size].reshape(*vector.shape[:-1], *theta[name].shape)
        offset += size
    return dense


def mlp_matrix(updates: UserUpdates, theta: Theta) -> torch.Tensor:
    """[U, P]: each user's gradients of Θ's dense parameters, flat (the tail of its `to_dense` row)."""
    parts = [updates.dense_grads[name].reshape(updates.num_users, -1) for name in dense_names(theta)]
    return torch.cat(parts, 1) if parts else torch.zeros(updates.num_users, 0)


def from_dense(
    vectors: torch.Tensor,
    user_ids: torch.Tensor,
    num_samples: torch.Tensor,
    theta: Theta,
    items: torch.Tensor | None = None,
) -> UserUpdates:
    """Users whose updates are whole vectors: each sends a row for every item, or for the items
    marked in the bool mask `items` [M]."""
    rows, dense = split_dense(vectors, theta)
    num_users = rows.shape[0]
    item_ids = torch.arange(rows.shape[1]) if items is None else torch.nonzero(items).flatten()
    return UserUpdates(
        user_ids=user_ids,
        item_indptr=torch.arange(num_users + 1, dtype=torch.int64) * len(item_ids),
        item_ids=item_ids.repeat(num_users),
        item_grads=rows[:, item_ids].reshape(-1, rows.shape[-1]),
        dense_grads=dense,
        num_samples=num_samples,
    )
