"""The defenses of the Deep Leakage from Gradients paper (Zhu et al., NeurIPS 2019, §5) on each user's upload.

A benign user computes its honest update, then perturbs the values it uploads before they leave the
device: each of its uploaded tensors on its own (the block of its item rows, [n, d], is one tensor; each
dense gradient is another, as the paper perturbs each layer's gradient). The ids, the layout and
`num-samples` go on the wire unchanged, and p_u steps on the honest gradient: it never leaves the device.

- `upload-noise`: zero-mean Gaussian or Laplace noise of a given variance added to every uploaded value
  (the paper: variances 1e-4 to 1e-1). The variance is absolute, as in the paper, so a level means what
  it does only against the gradients' own scale: here an item row's values are ~1e-4 (RMS 3e-4 at the
  first epoch on ML-100K), far below the paper's image gradients.
- `upload-precision`: the values rounded to a coarser number format, IEEE float16 (the paper's half
  precision) or int8 (the paper's integer quantisation: symmetric, one scale max|x|/127 per tensor);
  they travel as the float32 values the format decodes to.
- `upload-pruning`: the given fraction of each tensor's entries with the smallest magnitude set to zero
  (the paper's gradient pruning, as deep gradient compression prunes per layer).

None of these is a formal guarantee, and none touches what the id-level attacks read: the ids of a
user's positives and sampled negatives and its `num-samples` (privacy/recurrence.py, privacy/popularity.py).
Noise draws are keyed by (seed, this family's stream, epoch, user), as the other defenses'.
"""

import math
from abc import abstractmethod
from collections.abc import Callable
from dataclasses import replace
from functools import partial
from typing import Any

import numpy as np
import torch

from fedrec.errors import ConfigError
from fedrec.models.base import RecModel, Theta
from fedrec.settings import Setting
from fedrec.training.local import LocalResult, Objective, compute_user_updates
from fedrec.training.sampling import UserSamples
from fedrec.updates import UserUpdates
from privacy.accounting import MECHANISMS
from privacy.defenses import ClientDefense

_NOISE_STREAM = 0x554E
#: Number formats of `upload-precision`.
FORMATS = ("float16", "int8")
#: The largest magnitude of a symmetric int8 code (-127..127; -128 is left out so that 0 stays centred).
INT8_LEVELS = 127


def _positive(name: str, value: float) -> float:
    if value <= 0:
        raise ConfigError(f"run-config '{name}' = {value!r} is invalid: must be > 0")
    return value


def _fraction(name: str, value: float) -> float:
    if not 0 <= value < 1:
        raise ConfigError(f"run-config '{name}' = {value!r} is invalid: must be >= 0 and < 1")
    return value


def gaussian_noise(values: torch.Tensor, variance: float, rng: np.random.Generator) -> torch.Tensor:
    """`values` plus N(0, variance) per entry."""
    draws = rng.normal(0.0, math.sqrt(variance), values.numel())
    return values + torch.from_numpy(draws).to(values.dtype).reshape(values.shape)


def laplace_noise(values: torch.Tensor, variance: float, rng: np.random.Generator) -> torch.Tensor:
    """`values` plus Laplace(0, b) per entry, b = sqrt(variance / 2) (a Laplace's variance is 2b²)."""
    draws = rng.laplace(0.0, math.sqrt(variance / 2.0), values.numel())
    return values + torch.from_numpy(draws).to(values.dtype).reshape(values.shape)


def to_float16(values: torch.Tensor) -> torch.Tensor:
    """`values` rounded to the nearest IEEE float16 (11 significant bits; below 6.1e-5 fewer, below 3e-8 zero)."""
    return values.to(torch.float16).to(values.dtype)


def to_int8(values: torch.Tensor) -> torch.Tensor:
    """`values` rounded to s·q with integer q in [-127, 127] and one scale s = max|values|/127 for the tensor."""
    peak = values.abs().max() if values.numel() else values.new_zeros(())
    if peak == 0:
        return values.clone()
    scale = peak / INT8_LEVELS
    return torch.round(values / scale).clamp(-INT8_LEVELS, INT8_LEVELS) * scale


def prune_smallest(values: torch.Tensor, fraction: float) -> torch.Tensor:
    """`values` with its floor(fraction · numel) smallest-magnitude entries set to zero (ties: the earlier first)."""
    pruned = values.flatten().clone()
    count = math.floor(fraction * pruned.numel())
    pruned[torch.argsort(pruned.abs(), stable=True)[:count]] = 0
    return pruned.reshape(values.shape)


def perturb_uploads(
    updates: UserUpdates, perturb: Callable[[torch.Tensor, np.random.Generator], torch.Tensor], seed: int, epoch: int
) -> UserUpdates:
    """Every user's uploaded tensors (its item-row block, then each dense gradient) through
    `perturb(tensor, rng)`, rng keyed by (seed, stream, epoch, user); ids, layout and `num_samples` kept."""
    rows = updates.item_grads.clone()
    dense = {name: grads.clone() for name, grads in updates.dense_grads.items()}
    indptr = updates.item_indptr.tolist()
    for position, user in enumerate(updates.user_ids.tolist()):
        rng = np.random.default_rng([seed, _NOISE_STREAM, epoch, user])
        start, end = indptr[position], indptr[position + 1]
        rows[start:end] = perturb(rows[start:end], rng)
        for grads in dense.values():
            grads[position] = perturb(grads[position], rng)
    return replace(updates, item_grads=rows, dense_grads=dense)


class UploadPerturbation(ClientDefense):
    """The honest upload with each of a user's uploaded tensors perturbed on the device (see the module docstring)."""

    def local_update(
        self,
        model: RecModel,
        theta: Theta,
        user_ids: np.ndarray,
        user_emb: torch.Tensor,
        samples: list[UserSamples],
        config: Any,
        epoch: int,
    ) -> LocalResult:
        honest = compute_user_updates(model, theta, user_ids, user_emb, samples, Objective.of(config))
        perturb = partial(self.perturb, config=config)
        return replace(honest, updates=perturb_uploads(honest.updates, perturb, config.seed, epoch))

    @abstractmethod
    def perturb(self, values: torch.Tensor, rng: np.random.Generator, config: Any) -> torch.Tensor:
        """One uploaded tensor as it goes on the wire."""


class UploadNoise(UploadPerturbation):
    """DLG §5.1, noisy gradients: Gaussian or Laplace noise of `upload-noise-variance` on every uploaded value."""

    settings = (
        Setting(
            "upload-noise-mechanism",
            str,
            "Noise of the `upload-noise` defense (the DLG paper's noisy gradients): `gaussian` or `laplace`.",
            MECHANISMS,
        ),
        Setting(
            "upload-noise-variance",
            float,
            "Variance of the noise added to every uploaded value by `upload-noise` (absolute, as in the DLG "
            "paper's 1e-4 to 1e-1; item-row values here are ~1e-4); > 0.",
            convert=_positive,
        ),
    )

    def perturb(self, values: torch.Tensor, rng: np.random.Generator, config: Any) -> torch.Tensor:
        add_noise = gaussian_noise if config.upload_noise_mechanism == "gaussian" else laplace_noise
        return add_noise(values, config.upload_noise_variance, rng)


class UploadPrecision(UploadPerturbation):
    """DLG §5.1, half precision and integer quantisation: every uploaded tensor rounded to `upload-number-format`."""

    settings = (
        Setting(
            "upload-number-format",
            str,
            "Number format of the `upload-precision` defense: `float16` (IEEE half precision) or `int8` "
            "(symmetric, one scale per uploaded tensor: its largest magnitude / 127).",
            FORMATS,
        ),
    )

    def perturb(self, values: torch.Tensor, rng: np.random.Generator, config: Any) -> torch.Tensor:
        return to_float16(values) if config.upload_number_format == "float16" else to_int8(values)


class UploadPruning(UploadPerturbation):
    """DLG §5.2, gradient pruning: the smallest-magnitude `upload-pruning-fraction` of each uploaded tensor zeroed."""

    settings = (
        Setting(
            "upload-pruning-fraction",
            float,
            "Fraction of each uploaded tensor's entries, the smallest in magnitude, that `upload-pruning` sets "
            "to zero (per user: its item rows, each dense gradient); >= 0 and < 1.",
            convert=_fraction,
        ),
    )

    def perturb(self, values: torch.Tensor, rng: np.random.Generator, config: Any) -> torch.Tensor:
        return prune_smallest(values, config.upload_pruning_fraction)
