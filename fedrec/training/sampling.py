"""Negative sampling and the epoch/round schedule.

Both are keyed by (seed, epoch, user) rather than drawn from one shared stream, so a user's
negatives and the round order do not depend on how users are spread over nodes: one node or many,
simulation or deployment, the same seed gives the same numbers.
"""

from dataclasses import dataclass, replace

import numpy as np

from fedrec.config import RunConfig
from fedrec.data.dataset import RecDataset
from fedrec.training.schedule import per_round_schedule

_NEGATIVES_STREAM = 0x4E45
_SCHEDULE_STREAM = 0x5343
_CONTRAST_STREAM = 0x554E
_DROPOUT_STREAM = 0x4450

#: Negatives of each anchor in UNION's client-side term (its reference code's K).
UNION_NEGATIVES = 15


def sample_negatives(train_items: np.ndarray, num_items: int, count: int, rng: np.random.Generator) -> np.ndarray:
    """`count` items drawn uniformly, with replacement, from the items the user has not interacted with.

    Draws an index into the non-interacted items and shifts it past the (sorted) interacted ones,
    which is exact and needs no rejection loop even for heavy users.
    """
    free = num_items - len(train_items)
    if free <= 0:
        raise ValueError("user has interacted with every item; no negatives to sample")
    return free_items_at(rng.integers(0, free, size=count), train_items)


def free_items_at(positions: np.ndarray, taken: np.ndarray) -> np.ndarray:
    """The items at `positions` in the list of the items not in `taken` (sorted, unique), in increasing order."""
    shifted_positions = taken - np.arange(len(taken))
    return positions + np.searchsorted(shifted_positions, positions, side="right")


@dataclass(frozen=True)
class UserSamples:
    """One user's training samples: positives first, then `negatives` per positive.

    `partner[j]` is the index of the positive that sample j is paired with (for BPR), -1 for positives.
    `contrast`, for UNION's client-side term (`uniformity-reg`), has a row per positive: the positive (anchor),
    another positive of the user, then `UNION_NEGATIVES` distinct items the user never interacted with.
    `dropout_seed`, under `embedding-dropout`, keys the user's dropout masks of the epoch (None: keyed by the
    user's id alone, for samples an attack builds itself).
    """

    items: np.ndarray
    labels: np.ndarray
    partner: np.ndarray
    contrast: np.ndarray | None = None
    dropout_seed: int | None = None

    @classmethod
    def paired(cls, positives: np.ndarray, negatives: np.ndarray, per_positive: int) -> "UserSamples":
        """Positives, then `per_positive` negatives for each in turn (negatives[j * per_positive:][:per_positive]
        pair with positive j)."""
        return cls(
            items=np.concatenate([positives, negatives]).astype(np.int64),
            labels=np.concatenate([np.ones(len(positives)), np.zeros(len(negatives))]).astype(np.float32),
            partner=np.concatenate([np.full(len(positives), -1), np.repeat(np.arange(len(positives)), per_positive)]),
        )


def user_samples(
    user: int,
    train_items: np.ndarray,
    num_items: int,
    negatives: int,
    seed: int,
    epoch: int,
    avoided: np.ndarray | None = None,
) -> UserSamples:
    """Samples for `user` in `epoch` (pass epoch 0 every time to keep negatives fixed); the negatives are drawn
    outside `train_items` and `avoided` (e.g. the user's held-out items)."""
    rng = np.random.default_rng([seed, _NEGATIVES_STREAM, epoch, int(user)])
    num_pos = len(train_items)
    taken = train_items if avoided is None else np.union1d(train_items, avoided)
    return UserSamples.paired(train_items, sample_negatives(taken, num_items, num_pos * negatives, rng), negatives)


def contrast_rows(train_items: np.ndarray, num_items: int, rng: np.random.Generator) -> np.ndarray:
    """[P, 2 + K] UNION's contrastive candidates of a user with P >= 2 positives (see `UserSamples.contrast`): for
    each positive, another positive drawn uniformly and K = `UNION_NEGATIVES` distinct non-interacted items, as
    its reference code draws them anew at every participation; [0, 2 + K] for fewer than two positives."""
    num_pos = len(train_items)
    if num_pos < 2:
        return np.zeros((0, 2 + UNION_NEGATIVES), dtype=np.int64)
    other = rng.integers(0, num_pos - 1, size=num_pos)
    other += other >= np.arange(num_pos)
    free = num_items - num_pos
    if free < UNION_NEGATIVES:
        raise ValueError(f"UNION's term needs {UNION_NEGATIVES} items a user never interacted with; a user has {free}")
    positions = np.stack([rng.choice(free, size=UNION_NEGATIVES, replace=False) for _ in range(num_pos)])
    negatives = free_items_at(positions.ravel(), train_items).reshape(num_pos, UNION_NEGATIVES)
    return np.concatenate([train_items[:, None], train_items[other][:, None], negatives], axis=1).astype(np.int64)


def epoch_samples(
    user: int,
    train_items: np.ndarray,
    num_items: int,
    config: RunConfig,
    epoch: int,
    avoided: np.ndarray | None = None,
) -> UserSamples:
    """A user's samples in `epoch`: negatives drawn anew each epoch, or epoch 0's when `resample-negatives` is off,
    outside the `avoided` items too when given (`dataset_samples` gives the held-out ones under
    `negatives-avoid-held-out`); with `uniformity-reg`, UNION's contrastive candidates, drawn anew each epoch; with
    `embedding-dropout`, the key of the epoch's dropout masks."""
    negative_epoch = epoch if config.resample_negatives else 0
    samples = user_samples(user, train_items, num_items, config.negatives, config.seed, negative_epoch, avoided)
    if config.embedding_dropout > 0:
        key = np.random.default_rng([config.seed, _DROPOUT_STREAM, epoch, int(user)]).integers(2**62)
        samples = replace(samples, dropout_seed=int(key))
    if config.uniformity_reg <= 0:
        return samples
    rng = np.random.default_rng([config.seed, _CONTRAST_STREAM, epoch, int(user)])
    return replace(samples, contrast=contrast_rows(np.asarray(train_items, dtype=np.int64), num_items, rng))


def dataset_samples(dataset: RecDataset, users: np.ndarray, config: RunConfig, epoch: int) -> list[UserSamples]:
    """The samples in `epoch` of `users`, rows of the `dataset` their client holds; under `negatives-avoid-held-out`
    their negatives avoid their held-out items, which never leave the client."""
    avoids = config.negatives_avoid_held_out  # the held-out items are looked up only where they are used
    return [
        epoch_samples(
            u, dataset.train_items(u), dataset.num_items, config, epoch, dataset.held_out_items(u) if avoids else None
        )
        for u in users
    ]


def epoch_schedule(user_ids: np.ndarray, clients_per_round: int, seed: int, epoch: int) -> list[np.ndarray]:
    """All users shuffled, cut into rounds of `clients_per_round`: each user trains once per epoch."""
    order = np.random.default_rng([seed, _SCHEDULE_STREAM, epoch]).permutation(np.sort(user_ids))
    return [order[start : start + clients_per_round] for start in range(0, len(order), clients_per_round)]


def round_schedule(user_ids: np.ndarray, config: RunConfig, epoch: int) -> list[np.ndarray]:
    """The users of each round of `epoch` under the run's `client-sampling` (fedrec/training/schedule.py)."""
    if config.client_sampling == "per-round":
        return per_round_schedule(user_ids, config.clients_per_round, config.seed, epoch)
    return epoch_schedule(user_ids, config.clients_per_round, config.seed, epoch)
