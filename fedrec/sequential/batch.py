"""What a sequential model reads: left-padded item sequences and the users' profile codes.

A leaf of the sequential family (numpy, torch and pandas only), shared by the model (`fedrec.models.sasrec`)
and the family's training and evaluation (`fedrec.sequential`), so that neither imports the other.
"""

import zlib
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch

PROFILE_ATTRIBUTES = ("gender", "age", "occupation")
#: Attribute values are hashed into this many prompt-embedding rows per attribute (Θ's shapes do not
#: depend on the dataset).
PROFILE_BUCKETS = 32


def profile_codes(profiles: pd.DataFrame | None, users: np.ndarray) -> np.ndarray:
    """[U, 3] prompt-embedding rows of the users' attributes: attribute a's value hashed into its own block."""
    if profiles is None:
        return np.zeros((len(users), len(PROFILE_ATTRIBUTES)), dtype=np.int64)
    rows = profiles.iloc[np.asarray(users, dtype=np.int64)]
    codes = [[attribute_code(name, value) for value in rows[name]] for name in PROFILE_ATTRIBUTES]
    return np.asarray(codes, dtype=np.int64).T.reshape(len(users), len(PROFILE_ATTRIBUTES))


def attribute_code(attribute: str, value: object) -> int:
    """The prompt-embedding row of one attribute's value (its column in `profile_codes`)."""
    block = PROFILE_ATTRIBUTES.index(attribute)
    return block * PROFILE_BUCKETS + zlib.crc32(str(value).encode()) % PROFILE_BUCKETS


@dataclass
class SequenceBatch:
    """Left-padded sequences: `items` [B, L] (0 at padding), `real` [B, L] bool, `profile` [B, 3].

    For training, `labels` and `negatives` [B, L] hold the next item and one sampled negative per
    position (only where `real`).
    """

    items: torch.Tensor
    real: torch.Tensor
    profile: torch.Tensor
    labels: torch.Tensor | None = None
    negatives: torch.Tensor | None = None

    def __len__(self) -> int:
        return int(self.items.shape[0])

    def select(self, rows: torch.Tensor | slice) -> "SequenceBatch":
        """The users `rows` of the batch."""
        fields = (getattr(self, name) for name in ("items", "real", "profile", "labels", "negatives"))
        return SequenceBatch(*(None if field is None else field[rows] for field in fields))
