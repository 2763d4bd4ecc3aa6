"""APRec's poisoning of pre-training instances, as plain functions on the numpy instances.

Both rewrite `TrainingSequences` in place and never touch a user's input history; each call draws
afresh, so the poisoned positions change every epoch (APRec re-draws them each epoch too).
"""

import numpy as np

from fedrec.sequential.sequences import TrainingSequences


def replace_labels(
    instances: TrainingSequences, rows: np.ndarray, rate: float, targets: np.ndarray, rng: np.random.Generator
) -> np.ndarray:
    """Basic replacement: in the users `rows` (bool [B]), each real label becomes a random target with
    probability `rate`. Returns the [B, L] mask of replaced positions."""
    replaced = instances.real & rows[:, None] & (rng.random(instances.real.shape) < rate)
    instances.labels[replaced] = rng.choice(targets, size=int(replaced.sum()))
    return replaced


def targets_as_negatives(
    instances: TrainingSequences, rows: np.ndarray, rate: float, targets: np.ndarray, rng: np.random.Generator
) -> np.ndarray:
    """Prompt-enhanced step 3 for the users outside the group: with probability `rate` a position's
    negative becomes a random target, which teaches the backbone to rank targets low for them
    (unless the label is a target already). Returns the mask of rewritten positions."""
    chosen = instances.real & rows[:, None] & (rng.random(instances.real.shape) < rate)
    chosen &= ~np.isin(instances.labels, targets)
    instances.negatives[chosen] = rng.choice(targets, size=int(chosen.sum()))
    return chosen
