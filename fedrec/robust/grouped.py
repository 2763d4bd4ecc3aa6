"""Robust rules applied independently to many small groups of rows at once (per-item aggregation).

Each group holds the rows that n_i users sent for one item, padded with NaN to a common width.
Groups are processed in buckets of similar size so the [G, W, W] distance tensors stay small.
Within a group the rules follow their dense versions, with f capped to what n_i allows:
Krum and Multi-Krum with f_i = min(f, n_i - 3); Bulyan with f_i = min(f, (n_i - 3) // 4), selecting
its θ_i = n_i - 2 f_i rows by their Krum scores in one shot (as Flower's Bulyan does) rather than by
repeated Krum, then averaging per coordinate the β_i = θ_i - 2 f_i values closest to the median.
"""

from collections.abc import Callable

import torch

# Elements of one bucket's [G, W, W] distance tensor.
_BUCKET_ELEMENTS = 1 << 22


def _buckets(counts: torch.Tensor) -> list[torch.Tensor]:
    order = torch.argsort(counts, stable=True)
    buckets, start = [], 0
    while start < len(order):
        end = start + 1
        while end < len(order) and (end + 1 - start) * int(counts[order[end]]) ** 2 <= _BUCKET_ELEMENTS:
            end += 1
        buckets.append(order[start:end])
        start = end
    return buckets


def _krum_scores(rows: torch.Tensor, counts: torch.Tensor, tolerated: torch.Tensor) -> torch.Tensor:
    """[G, W] Krum scores within each group (inf on padding); rows [G, W, d] NaN-padded."""
    width = rows.shape[1]
    valid = torch.arange(width)[None, :] < counts[:, None]
    filled = torch.where(valid[:, :, None], rows, torch.zeros(()))
    distances = torch.cdist(filled, filled).pow(2)
    pair_valid = valid[:, :, None] & valid[:, None, :] & ~torch.eye(width, dtype=torch.bool)[None]
    ordered = torch.sort(
        torch.where(pair_valid, distances, torch.full((), float("inf"), dtype=rows.dtype)), dim=2
    ).values
    neighbours = (counts - tolerated - 2).clamp(min=1).clamp(max=(counts - 1).clamp(min=0))
    running = torch.cumsum(torch.nan_to_num(ordered, posinf=0.0), dim=2)
    index = (neighbours - 1).clamp(min=0)[:, None, None].expand(-1, width, 1)
    scores = running.gather(2, index).squeeze(2) * (neighbours > 0)[:, None]
    return torch.where(valid, scores, torch.full((), float("inf"), dtype=rows.dtype))


def _selected_mean(rows: torch.Tensor, scores: torch.Tensor, keep: torch.Tensor) -> torch.Tensor:
    """Mean over each group's `keep` lowest-scoring rows."""
    rank = torch.argsort(torch.argsort(scores, dim=1, stable=True), dim=1)
    chosen = (rank < keep[:, None]).to(rows.dtype)
    return (torch.nan_to_num(rows) * chosen[:, :, None]).sum(1) / keep[:, None].to(rows.dtype)


def multi_krum_groups(rows: torch.Tensor, counts: torch.Tensor, tolerated: int, single: bool) -> torch.Tensor:
    """Per group: Krum's row (single) or the mean of the n_i - f_i best (Multi-Krum). [G, d]."""
    f = torch.clamp(counts - 3, min=0).clamp(max=tolerated)
    keep = torch.ones_like(counts) if single else (counts - f).clamp(min=1)
    return _selected_mean(rows, _krum_scores(rows, counts, f), keep)


def bulyan_groups(rows: torch.Tensor, counts: torch.Tensor, tolerated: int) -> torch.Tensor:
    """Per group: the θ_i best Krum rows, then per coordinate the mean of the β_i closest to their median."""
    f = torch.clamp((counts - 3) // 4, min=0).clamp(max=tolerated)
    theta, beta = counts - 2 * f, counts - 4 * f
    scores = _krum_scores(rows, counts, f)
    rank = torch.argsort(torch.argsort(scores, dim=1, stable=True), dim=1)
    selected = torch.where((rank < theta[:, None])[:, :, None], rows, torch.full((), float("nan"), dtype=rows.dtype))
    median = torch.nanquantile(selected, 0.5, dim=1, keepdim=True)
    gap = torch.nan_to_num((selected - median).abs(), nan=float("inf"))
    closeness = torch.argsort(torch.argsort(gap, dim=1, stable=True), dim=1)
    chosen = (closeness < beta[:, None, None]).to(rows.dtype)
    return (torch.nan_to_num(selected) * chosen).sum(1) / beta[:, None].to(rows.dtype)


def apply_by_bucket(
    rule: Callable[[torch.Tensor, torch.Tensor], torch.Tensor], rows: torch.Tensor, counts: torch.Tensor
) -> torch.Tensor:
    """`rule(rows [g, w, d], counts [g]) -> [g, d]` over size-sorted buckets of the groups."""
    out = torch.zeros(rows.shape[0], rows.shape[2], dtype=rows.dtype)
    for bucket in _buckets(counts):
        width = int(counts[bucket].max())
        out[bucket] = rule(rows[bucket, :width], counts[bucket])
    return out
