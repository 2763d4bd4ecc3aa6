"""A benign user's local step: gradients of its own loss, vectorised over all users a node hosts.

Each user computes the gradient of its loss over all its samples (their mean, or their sum; plus, with
`l2-reg`, an L2 penalty on p_u and on the item rows its samples touch; plus, with `uniformity-reg`, UNION's
contrastive term on item embeddings; with `embedding-dropout`, the loss sees dropped copies of the embeddings)
with respect to its private embedding p_u and to Θ. To get every user's own Θ-gradient in one backward pass,
the dense part of Θ is replicated per user (`[U, ...]` leaves) and the items' embeddings are gathered per
sample, so autograd's batched matmuls return per-user gradients directly. Users are bucketed by sample count
and padded within a bucket, which keeps padding waste small for heavy-tailed activity.
"""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from fedrec.models.base import ITEM_EMBEDDING, RecModel, Theta, dense_names
from fedrec.training.losses import per_user_loss
from fedrec.training.sampling import UserSamples
from fedrec.updates import UserUpdates

# Padded samples per bucket; small enough for cache-friendly activations, large enough to amortise
# autograd's per-call overhead.
BUCKET_ELEMENTS = 1 << 15


#: A term added to each user's loss by a client-side training defense (client_defenses/): from the users'
#: embeddings [U, d] and their padded samples' item rows [U, W, d], item ids [U, W] and mask [U, W] (True
#: where a real sample is), each user's term [U].
LossTerm = Callable[[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]


@dataclass(frozen=True)
class Objective:
    """What a user's local step minimises: the `loss` of its samples reduced by their mean or `sum`, plus
    `l2` / 2 * (||p_u||^2 + the squared norm of the item row of each of its samples) when `l2` > 0, as
    FedRecAttack's reference code regularises (the penalty's gradient is in the uploaded item rows), plus
    the `extra` term of a client-side training defense if any, plus `uniformity` * UNION's contrastive term
    when `uniformity` > 0 (`uniformity_loss`); `repeated_items` says how a user's rows of a repeated item
    merge (see `compute_user_updates`)."""

    loss: str
    reduction: str = "mean"
    l2: float = 0.0
    repeated_items: str = "summed"
    extra: LossTerm | None = None
    uniformity: float = 0.0
    #: False under `l2-scope = "all"`: the server regularises every item row, the client only p_u
    l2_items: bool = True
    #: `embedding-dropout`: the probability of zeroing an element of the embeddings the loss sees (`dropout_masks`)
    dropout: float = 0.0

    @classmethod
    def of(cls, config: Any) -> "Objective":
        """The run's objective (a validated RunConfig's `loss`, `loss-reduction`, `l2-reg`, `repeated-items`,
        `uniformity-reg`, `l2-scope`, `embedding-dropout`)."""
        return cls(
            config.loss,
            config.loss_reduction,
            config.l2_reg,
            config.repeated_items,
            uniformity=config.uniformity_reg,
            l2_items=config.l2_scope == "touched",
            dropout=config.embedding_dropout,
        )


@dataclass
class LocalResult:
    updates: UserUpdates
    user_emb_grad: torch.Tensor  # [U, d]
    losses: torch.Tensor  # [U]


#: A client-side update rule: (model, Θ, users, their embeddings, their samples, config, epoch) -> result;
#: `compute_user_updates` plus whatever the run's privacy defense adds (privacy/defenses.py).
UpdateRule = Callable[[RecModel, Theta, np.ndarray, torch.Tensor, list[UserSamples], Any, int], LocalResult]


@dataclass(frozen=True)
class LocalStep:
    """What a benign user's local step needs besides the model and the data (`honest_updates` of a model).

    Each model family reads its part: embedding models train their epoch's samples through
    `update_rule` (the run's client-side privacy defense), sequential models differentiate only the
    parameters `trainable` admits (the fine-tuning scenario). Both come from families outside the core.
    """

    config: Any  # the validated RunConfig
    epoch: int  # 0-based
    update_rule: UpdateRule
    trainable: Callable[[str], bool]


def _buckets(lengths: np.ndarray) -> list[np.ndarray]:
    order = np.argsort(lengths, kind="stable")
    buckets, start = [], 0
    while start < len(order):
        end = start + 1
        while end < len(order) and (end + 1 - start) * lengths[order[end]] <= BUCKET_ELEMENTS:
            end += 1
        buckets.append(order[start:end])
        start = end
    return buckets


def uniformity_loss(candidates: torch.Tensor, mask: torch.Tensor, reduction: str) -> torch.Tensor:
    """UNION's client-side term (Yu et al., AAAI 2023), per user [U]: for each anchor a with candidates [U, P, 2 + K, d]
    (a, another positive p, K negatives n_k), the cross-entropy of picking p among (p, n_1..n_K) by the scores
    <a, .>, i.e. log sum_c exp<a, c> - <a, p>; over the user's anchors (`mask` [U, P]) their mean, or their sum.
    Pushing positives together and negatives away spreads the item embeddings out (their uniformity)."""
    anchors, others = candidates[:, :, 0], candidates[:, :, 1:]
    scores = (others * anchors.unsqueeze(2)).sum(-1)
    losses = (torch.logsumexp(scores, dim=-1) - scores[:, :, 0]) * mask
    count = mask.sum(1) if reduction == "mean" else torch.ones(len(mask))
    return losses.sum(1) / count.clamp(min=1.0)


def _pad_contrast(samples: list[UserSamples]) -> tuple[torch.Tensor, torch.Tensor]:
    """[U, P, 2 + K] item ids of the users' contrastive rows, zero-padded, and the mask [U, P] of real ones."""
    rows = [s.contrast for s in samples]
    width = max(1, max(len(r) for r in rows))
    items = np.zeros((len(rows), width, rows[0].shape[1]), dtype=np.int64)
    mask = np.zeros((len(rows), width), dtype=np.float32)
    for k, contrast in enumerate(rows):
        items[k, : len(contrast)] = contrast
        mask[k, : len(contrast)] = 1.0
    return torch.from_numpy(items), torch.from_numpy(mask)


@dataclass(frozen=True)
class DropoutMasks:
    """A bucket's dropout masks, scaled by 1 / (1 - p): for p_u per sample [U, W, d] (a negative shares the mask of
    the positive it pairs with, so a BPR pair scores one dropped p_u, as the reference drops the user vector once
    per pair), for each sample's item row [U, W, d], and for UNION's candidate rows [U, P, C, d] if any."""

    user: torch.Tensor
    item: torch.Tensor
    contrast: torch.Tensor | None


def dropout_masks(
    samples: list[UserSamples], user_ids: np.ndarray, width: int, dim: int, p: float, contrast_shape: tuple | None
) -> DropoutMasks:
    """Each user's masks from its own generator (keyed by its samples' `dropout_seed`, else its id), so they do not
    depend on which users share its node or bucket: elements kept with probability 1 - p, as `F.dropout` keeps them.
    `contrast_shape` is the bucket's padded (anchors, candidates) of UNION's rows, None without them."""
    user = torch.zeros(len(samples), width, dim)
    item = torch.zeros(len(samples), width, dim)
    contrast = None if contrast_shape is None else torch.zeros(len(samples), *contrast_shape, dim)
    scale = 1.0 / (1.0 - p)
    for k, (sample, user_id) in enumerate(zip(samples, user_ids)):
        seed = sample.dropout_seed if sample.dropout_seed is not None else int(user_id)
        generator = torch.Generator().manual_seed(seed)
        n = len(sample.items)
        owner = torch.from_numpy(np.where(sample.partner >= 0, sample.partner, np.arange(n)))
        user[k, :n] = ((torch.rand(n, dim, generator=generator) >= p) * scale)[owner]
        item[k, :n] = (torch.rand(n, dim, generator=generator) >= p) * scale
        if contrast is not None and sample.contrast is not None and len(sample.contrast):
            rows, columns = sample.contrast.shape
            contrast[k, :rows] = (torch.rand(rows, columns, dim, generator=generator) >= p) * scale
    return DropoutMasks(user, item, contrast)


def _pad(samples: list[UserSamples]) -> tuple[torch.Tensor, ...]:
    lengths = np.array([len(s.items) for s in samples])
    rows, width = len(samples), int(lengths.max())
    flat_rows = np.repeat(np.arange(rows), lengths)
    flat_cols = np.arange(lengths.sum()) - np.repeat(np.cumsum(lengths) - lengths, lengths)
    items = np.zeros((rows, width), dtype=np.int64)
    labels = np.zeros((rows, width), dtype=np.float32)
    partner = np.full((rows, width), -1, dtype=np.int64)
    mask = np.zeros((rows, width), dtype=bool)
    items[flat_rows, flat_cols] = np.concatenate([s.items for s in samples])
    labels[flat_rows, flat_cols] = np.concatenate([s.labels for s in samples])
    partner[flat_rows, flat_cols] = np.concatenate([s.partner for s in samples])
    mask[flat_rows, flat_cols] = True
    return tuple(torch.from_numpy(a) for a in (items, labels, partner, mask))


def compute_user_updates(
    model: RecModel,
    theta: Theta,
    user_ids: np.ndarray,
    user_emb: torch.Tensor,
    samples: list[UserSamples],
    objective: Objective,
) -> LocalResult:
    """Each user's gradient of its `objective` w.r.t. p_u and Θ; item rows deduplicated per user.

    A user's sampled negatives may repeat an item; `objective.repeated_items` says how its rows merge:
    `summed` (the gradient), `last-kept` (only the row of its last sample, what the reference code's
    server ends up with: `grad[items] += g` with repeated ids writes once per id) or not at all:
    `separate` uploads a row per sample (`separate_rows`), so the user's item ids repeat.
    """
    num_users, num_items = len(user_ids), theta[ITEM_EMBEDDING].shape[0]
    dense_params = dense_names(theta)
    user_emb_grad = torch.zeros_like(user_emb)
    losses = torch.zeros(num_users)
    dense_grads = {name: torch.zeros(num_users, *theta[name].shape) for name in dense_params}
    keys, rows, contrast_keys, contrast_rows = [], [], [], []
    for bucket in _buckets(np.array([len(s.items) for s in samples])):
        bucket_samples = [samples[i] for i in bucket]
        items, labels, partner, mask = _pad(bucket_samples)
        index = torch.from_numpy(bucket)
        item_emb = theta[ITEM_EMBEDDING][items].requires_grad_()
        own_user = user_emb[index].clone().requires_grad_()
        replicas = {name: theta[name].expand(len(bucket), *theta[name].shape).requires_grad_() for name in dense_params}
        contrast = _pad_contrast(bucket_samples) if objective.uniformity > 0 else None
        masks = None
        if objective.dropout > 0:
            contrast_shape = None if contrast is None else tuple(contrast[0].shape[1:])
            masks = dropout_masks(
                bucket_samples, user_ids[bucket], items.shape[1], user_emb.shape[1], objective.dropout, contrast_shape
            )
            logits = model.logits(replicas, own_user.unsqueeze(1) * masks.user, item_emb * masks.item)
        else:
            logits = model.logits(replicas, own_user, item_emb)
        bucket_losses = per_user_loss(objective.loss, logits, labels, mask, partner, objective.reduction)
        if objective.l2 > 0:
            squared_rows = (item_emb.pow(2).sum(-1) * mask).sum(1) if objective.l2_items else 0.0
            bucket_losses = bucket_losses + 0.5 * objective.l2 * (own_user.pow(2).sum(-1) + squared_rows)
        if objective.extra is not None:
            bucket_losses = bucket_losses + objective.extra(own_user, item_emb, items, mask)
        differentiated = [own_user, item_emb, *replicas.values()]
        if objective.uniformity > 0:
            candidates, anchors = contrast
            candidate_emb = theta[ITEM_EMBEDDING][candidates].requires_grad_()
            dropped = candidate_emb if masks is None else candidate_emb * masks.contrast
            term = uniformity_loss(dropped, anchors, objective.reduction)
            bucket_losses = bucket_losses + objective.uniformity * term
            differentiated.append(candidate_emb)
        grads = torch.autograd.grad(bucket_losses.sum(), differentiated)
        losses[index] = bucket_losses.detach()
        user_emb_grad[index] = grads[0]
        for name, grad in zip(dense_params, grads[2 : 2 + len(dense_params)]):
            dense_grads[name][index] = grad
        keys.append((index.unsqueeze(1) * num_items + items)[mask])
        rows.append(grads[1][mask])
        if objective.uniformity > 0:
            real = anchors.bool()
            contrast_keys.append((index[:, None, None] * num_items + candidates)[real].flatten())
            contrast_rows.append(grads[-1][real].reshape(-1, grads[-1].shape[-1]))
    flat_keys, flat_rows = torch.cat(keys), torch.cat(rows)
    if objective.repeated_items == "separate":
        if contrast_keys:
            raise ValueError("repeated-items 'separate' cannot carry UNION's contrastive rows (uniformity-reg > 0)")
        item_l2 = objective.l2 if objective.l2_items else 0.0
        own_l2 = item_l2 * theta[ITEM_EMBEDDING].detach()[flat_keys % num_items]
        order = torch.argsort(flat_keys, stable=True)  # by user, then item, then sample order
        flat_keys, flat_rows = flat_keys[order], separate_rows(flat_keys[order], flat_rows[order], own_l2[order])
        return _result(user_ids, samples, flat_keys, flat_rows, num_items, dense_grads, user_emb_grad, losses)
    unique_keys, inverse = torch.unique(flat_keys, sorted=True, return_inverse=True)
    if objective.repeated_items == "last-kept":
        # A (user, item) key's samples sit in one padded row, in sample order: keep the latest.
        positions = torch.arange(len(inverse))
        last = torch.zeros(len(unique_keys), dtype=torch.int64).scatter_reduce_(0, inverse, positions, "amax")
        item_grads = flat_rows[last]
    else:
        item_grads = torch.zeros(len(unique_keys), flat_rows.shape[1]).index_add_(0, inverse, flat_rows)
    if contrast_keys:  # UNION's term adds its rows to whatever the samples' rows merged to
        merged = torch.cat([unique_keys, *contrast_keys])
        unique_keys, inverse = torch.unique(merged, sorted=True, return_inverse=True)
        flat_rows = torch.cat([item_grads, *contrast_rows])
        item_grads = torch.zeros(len(unique_keys), flat_rows.shape[1]).index_add_(0, inverse, flat_rows)
    return _result(user_ids, samples, unique_keys, item_grads, num_items, dense_grads, user_emb_grad, losses)


def separate_rows(keys: torch.Tensor, rows: torch.Tensor, own_l2: torch.Tensor) -> torch.Tensor:
    """One row per sample (`repeated-items = "separate"`), as Spattack's reference client uploads a repeated item.

    `keys` [n] are the samples' (user, item) keys, sorted with a key's samples in sample order, `rows` [n, d]
    each sample's gradient of its item row and `own_l2` [n, d] the part of it that is the sample's own L2 term
    (l2-reg times the row). The reference gathers a row per sample, but its index map sends every sample of an
    item to the item's last position: the last sample's row carries the item's whole gradient but for the other
    samples' L2 terms, and each other sample's row only its own L2 term (zero without `l2-reg`). Rows of a key
    with one sample are returned as they are; each key's rows sum to its `summed` row.
    """
    unique_keys, inverse = torch.unique_consecutive(keys, return_inverse=True)
    last = torch.zeros(len(unique_keys), dtype=torch.int64).scatter_reduce_(0, inverse, torch.arange(len(keys)), "amax")
    summed = torch.zeros(len(unique_keys), rows.shape[1], dtype=rows.dtype).index_add_(0, inverse, rows)
    l2_summed = torch.zeros_like(summed).index_add_(0, inverse, own_l2)
    separate = own_l2.clone()
    separate[last] = summed - (l2_summed - own_l2[last])
    return separate


def _result(
    user_ids: np.ndarray,
    samples: list[UserSamples],
    keys: torch.Tensor,
    item_grads: torch.Tensor,
    num_items: int,
    dense_grads: dict[str, torch.Tensor],
    user_emb_grad: torch.Tensor,
    losses: torch.Tensor,
) -> LocalResult:
    """The users' updates from their item rows' sorted (user position, item) `keys` and rows."""
    owners = keys // num_items
    updates = UserUpdates(
        user_ids=torch.as_tensor(user_ids, dtype=torch.int64),
        item_indptr=torch.searchsorted(owners, torch.arange(len(user_ids) + 1)),
        item_ids=keys % num_items,
        item_grads=item_grads,
        dense_grads=dense_grads,
        num_samples=torch.tensor([len(s.items) for s in samples], dtype=torch.int64),
    )
    return LocalResult(updates=updates, user_emb_grad=user_emb_grad, losses=losses)
