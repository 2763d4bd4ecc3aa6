"""Bucketing (Karimireddy, He & Jaggi, "Byzantine-Robust Learning on Heterogeneous Datasets via Bucketing", ICLR
2022): the users, in random order, are split into buckets of s; each bucket's mean update goes to a robust rule in
place of the users' own. Averaging dilutes an attacker into its bucket and makes benign inputs less heterogeneous.
"""

import torch

from fedrec.updates import UserUpdates


def bucket_of_users(num_users: int, size: int, generator: torch.Generator) -> torch.Tensor:
    """[U]: each user's bucket, s consecutive users of a random permutation per bucket (the last may be smaller)."""
    bucket = torch.empty(num_users, dtype=torch.int64)
    bucket[torch.randperm(num_users, generator=generator)] = torch.arange(num_users) // size
    return bucket


def bucket_means(updates: UserUpdates, bucket: torch.Tensor) -> UserUpdates:
    """One pseudo-user per bucket (ids 0..B-1) whose update is the mean of its users' whole updates: an item row is
    the sum of the rows its users sent for the item over the bucket's size (unsent rows count as zeros)."""
    num_buckets = int(bucket.max()) + 1
    sizes = torch.bincount(bucket, minlength=num_buckets)
    owner_bucket = bucket[updates.item_owner()]
    span = int(updates.item_ids.max()) + 1 if len(updates.item_ids) else 1
    keys, inverse = torch.unique(owner_bucket * span + updates.item_ids, sorted=True, return_inverse=True)
    rows = torch.zeros(len(keys), updates.item_grads.shape[1], dtype=updates.item_grads.dtype)
    rows.index_add_(0, inverse, updates.item_grads)
    rows_bucket = keys // span
    rows_per_bucket = torch.bincount(rows_bucket, minlength=num_buckets)

    def mean(grads: torch.Tensor) -> torch.Tensor:
        total = torch.zeros(num_buckets, *grads.shape[1:], dtype=grads.dtype).index_add_(0, bucket, grads)
        return total / sizes.view(-1, *[1] * (grads.dim() - 1)).to(grads.dtype)

    return UserUpdates(
        user_ids=torch.arange(num_buckets),
        item_indptr=torch.cat([torch.zeros(1, dtype=torch.int64), torch.cumsum(rows_per_bucket, 0)]),
        item_ids=keys % span,
        item_grads=rows / sizes[rows_bucket][:, None].to(rows.dtype),
        dense_grads={name: mean(grads) for name, grads in updates.dense_grads.items()},
        num_samples=torch.zeros(num_buckets, dtype=torch.int64).index_add_(0, bucket, updates.num_samples),
    )
