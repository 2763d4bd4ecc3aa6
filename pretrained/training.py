"""The provider's centralised training of a sequential model: mini-batch Adam over its own users.

Pre-training happens outside the federation, on the provider's public share of the users
(`user-share = "provider"`), so it is a plain PyTorch loop over Θ (the same functional model the
federation fine-tunes). `poison` rewrites an epoch's instances before they are batched: the backdoors
of `pretrained/backdoors.py` are such rewrites plus a choice of trainable entries.
"""

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
import torch

from fedrec.models.base import Theta
from fedrec.models.sasrec import SASRec
from fedrec.sequential.sequences import TrainingSequences, training_sequences

Poison = Callable[[TrainingSequences, np.random.Generator], None]
#: (model, Θ at the start of a stage, data) -> {name: 0/1 mask} of the entries the stage's steps may change.
GradientMask = Callable[[SASRec, Theta, "ProviderData"], dict[str, torch.Tensor]]
_STAGE_STREAM = 0x5054


@dataclass(frozen=True)
class ProviderData:
    """The provider's users: chronological train sequences, prompt codes and target-group membership."""

    users: np.ndarray
    sequences: list[np.ndarray]
    profile: np.ndarray  # [U, 3]
    in_group: np.ndarray  # [U] bool
    num_items: int


@dataclass(frozen=True)
class Stage:
    """One training stage: which Θ entries learn, for how long, with what."""

    name: str
    epochs: int
    lr: float
    batch_size: int
    trainable: Callable[[str], bool]
    poison: Poison | None = None
    max_history: int | None = None  # keep only each sequence's newest items (APRec's prompt stage)
    #: Drawn once, before the stage's first step; each step's gradient is multiplied by it before the update,
    #: so an entry masked to 0 keeps its value bit for bit (the stage's fresh Adam never sees a gradient there).
    gradient_mask: GradientMask | None = None


@contextmanager
def deterministic_algorithms() -> Iterator[None]:
    """PyTorch's deterministic algorithms while the block runs, the previous mode restored after.

    The backward of `items[labels]` (the item rows of a batch's positions) accumulates into the item table
    with CPU `index_put_(accumulate=True)`, whose default kernel adds in whatever order its threads run: with
    2 threads, two pre-trainings of the same seed ended with different weights (ML-100K, 2 epochs of group
    basic replacement: 4 runs, 4 different checkpoints; 1 thread, or the deterministic kernel: identical).
    Strict inside the block even where the caller chose `warn_only`: a kernel without a deterministic version
    must stop the pre-training, not leave a checkpoint that the same seed does not give again.
    """
    enabled, warn_only = (
        torch.are_deterministic_algorithms_enabled(),
        torch.is_deterministic_algorithms_warn_only_enabled(),
    )
    torch.use_deterministic_algorithms(True)
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(enabled, warn_only=warn_only)


def train_stage(model: SASRec, theta: Theta, data: ProviderData, stage: Stage, seed: int) -> list[float]:
    """Runs `stage` on Θ in place; returns the mean training loss of each epoch (the same seed, the same bits)."""
    with deterministic_algorithms():
        return _train_stage(model, theta, data, stage, seed)


def _train_stage(model: SASRec, theta: Theta, data: ProviderData, stage: Stage, seed: int) -> list[float]:
    learned = [name for name in theta if stage.trainable(name)]
    for name in learned:
        theta[name].requires_grad_(True)
    optimizer = torch.optim.Adam([theta[name] for name in learned], lr=stage.lr)
    sequences = data.sequences if stage.max_history is None else [s[-(stage.max_history + 1) :] for s in data.sequences]
    losses = []
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        mask = None if stage.gradient_mask is None or not stage.epochs else stage.gradient_mask(model, theta, data)
        for epoch in range(stage.epochs):
            rng = np.random.default_rng([seed, _STAGE_STREAM, sum(map(ord, stage.name)), epoch])
            instances = training_sequences(
                data.users, sequences, data.profile, data.num_items, model.max_len, seed, epoch
            )
            if stage.poison is not None:
                stage.poison(instances, rng)
            batch = instances.batch()
            order = torch.from_numpy(rng.permutation(len(data.users)))
            total = 0.0
            for start in range(0, len(order), stage.batch_size):
                rows = order[start : start + stage.batch_size]
                loss = model.sequence_loss(theta, batch.select(rows), train=True).mean()
                optimizer.zero_grad()
                loss.backward()
                if mask is not None:
                    for name in learned:
                        theta[name].grad.mul_(mask[name])
                optimizer.step()
                total += float(loss.detach()) * len(rows)
            losses.append(total / len(order))
    for name in learned:
        theta[name].requires_grad_(False)
    return losses
