"""Local differential privacy of each user's upload: clip on the client, then add calibrated noise.

A user computes its honest update, clips each uploaded item row to L2 ≤ C_item (`ldp-clip-item`)
and its dense part (all dense-parameter gradients concatenated, D values) to L2 ≤ C_dense
(`ldp-clip-dense`), then adds independent noise to every value it uploads.

Neighbouring relation (local DP): any two uploads of the same user that carry the same set of n
item ids. After clipping, both lie in a product of n balls of radius C_item and one of radius
C_dense, so they differ by at most Δ₂ = 2·sqrt(n·C_item² + C_dense²) in L2 and, bounding each
d-dimensional row by sqrt(d)·C_item and the dense part by sqrt(D)·C_dense in L1, by at most
Δ₁ = 2·(n·sqrt(d)·C_item + sqrt(D)·C_dense) in L1 (tighter than sqrt(n·d + D)·Δ₂; C_dense drops
out of both for a model without dense parameters, e.g. MF). Noise per value:
- gaussian: N(0, σ²), σ = Δ₂·s(ε, δ), s from the analytic Gaussian mechanism (privacy/accounting.py),
  valid for every ε > 0: each upload is (ε, δ)-LDP;
- laplace: Laplace(0, b), b = Δ₁/ε: each upload is ε-LDP.
σ and b grow with n, which the server sees anyway, so the noise scale reveals nothing more.

Not covered by the guarantee: the id set and `num-samples` are released in the clear, so which items
a user uploaded (its positives and sampled negatives) and the count prior n_pos = num_samples/(1+r)
are as exposed as without the defense; only the values are protected. p_u steps on the honest,
unclipped gradient: it never leaves the client.

Flower's own `LocalDpMod` (and the client-side `fixedclipping_mod`) do not fit this protocol: they
expect the reply's single ArrayRecord to have the same keys as the Θ received, and treat it as new
weights to diff against Θ; a node's reply carries many users' sparse CSR updates (user ids, indptr,
item ids, rows, `grad:` arrays) under other keys, so the mods reject it, and their one clip and one
noise draw per message would be per node, not per user. `LocalDpMod` also uses the classic σ (ε < 1
only) with a user-given sensitivity and an unseeded global RNG. Only a dense mode would fit them: one
user per node replying Θ-shaped new weights (Θ − g, same keys); that noises all M·d item values (the
id set hidden too, at a Δ over every row and a dense message), still with the classic σ.
"""

from dataclasses import replace
from typing import Any

import numpy as np
import torch

from fedrec.errors import ConfigError
from fedrec.models.base import RecModel, Theta
from fedrec.settings import Setting
from fedrec.training.local import LocalResult, Objective, compute_user_updates
from fedrec.training.sampling import UserSamples
from fedrec.updates import UserUpdates
from privacy.accounting import MECHANISMS, gaussian_noise_multiplier
from privacy.defenses import ClientDefense

_LDP_STREAM = 0x4C44


def _positive(name: str, value: float) -> float:
    if value <= 0:
        raise ConfigError(f"run-config '{name}' = {value!r} is invalid: must be > 0")
    return value


def _probability(name: str, value: float) -> float:
    if not 0 < value < 1:
        raise ConfigError(f"run-config '{name}' = {value!r} is invalid: must be > 0 and < 1")
    return value


LDP_SETTINGS = (
    Setting(
        "ldp-mechanism",
        str,
        "Noise of the `ldp` defense: `gaussian` ((epsilon, delta)-LDP per round) or `laplace` (epsilon-LDP).",
        MECHANISMS,
    ),
    Setting(
        "ldp-epsilon", float, "epsilon of each upload (per round) under the `ldp` defense; > 0.", convert=_positive
    ),
    Setting(
        "ldp-delta",
        float,
        "delta of each upload under the `ldp` defense with Gaussian noise; in (0, 1).",
        convert=_probability,
    ),
    Setting(
        "ldp-clip-item", float, "L2 bound on each uploaded item row before the `ldp` noise; > 0.", convert=_positive
    ),
    Setting(
        "ldp-clip-dense",
        float,
        "L2 bound on a user's dense gradients (concatenated) before the `ldp` noise; > 0.",
        convert=_positive,
    ),
)


def clip_rows(rows: torch.Tensor, bound: float) -> torch.Tensor:
    """Every row scaled down to L2 norm ≤ `bound`; rows already within it are unchanged."""
    return rows * (bound / rows.norm(dim=1, keepdim=True).clamp_min(bound))


def l2_sensitivity(num_rows: int, clip_item: float, dense_dim: int, clip_dense: float) -> float:
    """Δ₂ = 2·sqrt(n·C_item² + C_dense²): the L2 diameter of a clipped upload with n item rows."""
    return 2.0 * float(np.sqrt(num_rows * clip_item**2 + (clip_dense**2 if dense_dim else 0.0)))


def l1_sensitivity(num_rows: int, item_dim: int, clip_item: float, dense_dim: int, clip_dense: float) -> float:
    """Δ₁ = 2·(n·sqrt(d)·C_item + sqrt(D)·C_dense): the L1 diameter of a clipped upload."""
    return 2.0 * float(num_rows * np.sqrt(item_dim) * clip_item + np.sqrt(dense_dim) * clip_dense)


def noise_scale(config: Any, num_rows: int, item_dim: int, dense_dim: int) -> float:
    """σ of the Gaussian or b of the Laplace noise on each value of a user's upload with `num_rows` rows."""
    if config.ldp_mechanism == "gaussian":
        sensitivity = l2_sensitivity(num_rows, config.ldp_clip_item, dense_dim, config.ldp_clip_dense)
        return sensitivity * gaussian_noise_multiplier(config.ldp_epsilon, config.ldp_delta)
    sensitivity = l1_sensitivity(num_rows, item_dim, config.ldp_clip_item, dense_dim, config.ldp_clip_dense)
    return sensitivity / config.ldp_epsilon


def _flat_dense(dense_grads: dict[str, torch.Tensor], num_users: int) -> torch.Tensor:
    """[U, D]: each user's dense gradients concatenated (D = 0 for a model without dense parameters)."""
    if not dense_grads:
        return torch.zeros(num_users, 0)
    return torch.cat([grad.reshape(num_users, -1) for grad in dense_grads.values()], dim=1)


def _unflat_dense(flat: torch.Tensor, like: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    pieces = torch.split(flat, [int(np.prod(grad.shape[1:])) for grad in like.values()], dim=1)
    return {name: piece.reshape(grad.shape) for (name, grad), piece in zip(like.items(), pieces)}


def privatise(updates: UserUpdates, config: Any, epoch: int) -> UserUpdates:
    """Each user's update clipped and noised; ids, layout and `num_samples` unchanged."""
    rows = clip_rows(updates.item_grads, config.ldp_clip_item)
    dense = clip_rows(_flat_dense(updates.dense_grads, updates.num_users), config.ldp_clip_dense)
    item_dim, dense_dim = rows.shape[1], dense.shape[1]
    indptr = updates.item_indptr.tolist()
    for position, user in enumerate(updates.user_ids.tolist()):
        start, end = indptr[position], indptr[position + 1]
        scale = noise_scale(config, end - start, item_dim, dense_dim)
        rng = np.random.default_rng([config.seed, _LDP_STREAM, epoch, user])
        size = (end - start) * item_dim + dense_dim
        draws = rng.normal(0.0, scale, size) if config.ldp_mechanism == "gaussian" else rng.laplace(0.0, scale, size)
        noise = torch.from_numpy(draws).to(rows.dtype)
        rows[start:end] += noise[: size - dense_dim].reshape(end - start, item_dim)
        dense[position] += noise[size - dense_dim :]
    return replace(updates, item_grads=rows, dense_grads=_unflat_dense(dense, updates.dense_grads))


class LocalDP(ClientDefense):
    """Each upload clipped and noised to (ε, δ)- or ε-local DP per round (see the module docstring)."""

    settings = LDP_SETTINGS

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
        return replace(honest, updates=privatise(honest.updates, config, epoch))
