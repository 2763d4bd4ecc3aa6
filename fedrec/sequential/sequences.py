"""Sequential training instances: left-padded histories, next-item labels, sampled negatives.

A user's training sequence s (chronological train items) gives inputs s[:-1] and labels s[1:]: at each
position the model predicts the next item from everything before it (SASRec's objective). Only the
newest `max_len` positions are kept. One negative per position is drawn uniformly from the items the
user never trained on, keyed by (seed, epoch, user) like the other models' negatives
(`fedrec.training.sampling`), so a user's instance does not depend on which node hosts it.
"""

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from fedrec.data.dataset import RecDataset
from fedrec.sequential.batch import SequenceBatch, profile_codes
from fedrec.training.sampling import sample_negatives

_SEQUENCE_NEGATIVES_STREAM = 0x5351


def left_padded(sequences: Sequence[np.ndarray], length: int) -> tuple[np.ndarray, np.ndarray]:
    """([B, length] items with 0 at padding, [B, length] bool real) keeping each sequence's newest items."""
    items = np.zeros((len(sequences), length), dtype=np.int64)
    real = np.zeros((len(sequences), length), dtype=bool)
    for row, sequence in enumerate(sequences):
        kept = np.asarray(sequence, dtype=np.int64)[-length:] if length else np.zeros(0, dtype=np.int64)
        if len(kept):
            items[row, -len(kept) :] = kept
            real[row, -len(kept) :] = True
    return items, real


@dataclass
class TrainingSequences:
    """Numpy training instances for a batch of users (poisoning rewrites `labels`/`negatives` in place)."""

    users: np.ndarray  # [B]
    items: np.ndarray  # [B, L]
    real: np.ndarray  # [B, L] bool: a real input with a real label
    labels: np.ndarray  # [B, L]
    negatives: np.ndarray  # [B, L]
    profile: np.ndarray  # [B, 3]

    def batch(self) -> SequenceBatch:
        return SequenceBatch(
            items=torch.from_numpy(self.items),
            real=torch.from_numpy(self.real),
            profile=torch.from_numpy(self.profile),
            labels=torch.from_numpy(self.labels),
            negatives=torch.from_numpy(self.negatives),
        )


def training_sequences(
    users: np.ndarray,
    sequences: Sequence[np.ndarray],
    profile: np.ndarray,
    num_items: int,
    max_len: int,
    seed: int,
    epoch: int,
) -> TrainingSequences:
    """Next-item instances of each user's sequence, newest `max_len` positions, one negative each."""
    items, real = left_padded([s[:-1] for s in sequences], max_len)
    labels, _ = left_padded([s[1:] for s in sequences], max_len)
    negatives = np.zeros_like(labels)
    for row, (user, sequence) in enumerate(zip(users, sequences)):
        count = int(real[row].sum())
        if count:
            rng = np.random.default_rng([seed, _SEQUENCE_NEGATIVES_STREAM, epoch, int(user)])
            negatives[row, -count:] = sample_negatives(np.unique(sequence), num_items, count, rng)
    return TrainingSequences(np.asarray(users, dtype=np.int64), items, real, labels, negatives, profile)


def user_sequences(dataset: RecDataset, users: np.ndarray) -> tuple[list[np.ndarray], np.ndarray]:
    """The users' chronological train sequences and their profile prompt codes [U, 3]: a sequential
    model's private inputs."""
    return [dataset.train_sequence(int(user)) for user in users], profile_codes(dataset.profiles, users)


def history_batch(sequences: Sequence[np.ndarray], profile: np.ndarray, max_len: int) -> SequenceBatch:
    """Each user's newest `max_len` items as model input, for scoring the next item."""
    items, real = left_padded(sequences, max_len)
    return SequenceBatch(items=torch.from_numpy(items), real=torch.from_numpy(real), profile=torch.from_numpy(profile))
