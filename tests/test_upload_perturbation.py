"""The DLG paper's defenses on the upload (privacy/upload_perturbation.py): pruning zeroes exactly the stated
fraction of the smallest entries, the number formats round to values of that format, the noise has the stated
variance and is the same for the same seed, and the upload keeps its ids, layout and count, p_u its honest step."""

import math

import numpy as np
import pytest
import torch

from app_config import make_config
from fedrec.errors import ConfigError
from fedrec.models.registry import MODELS
from fedrec.training.local import Objective, compute_user_updates
from fedrec.training.sampling import user_samples
from privacy import PRIVACY_DEFENSES
from privacy.upload_perturbation import (
    INT8_LEVELS,
    UploadNoise,
    UploadPrecision,
    UploadPruning,
    gaussian_noise,
    laplace_noise,
    prune_smallest,
    to_float16,
    to_int8,
)

NUM_ITEMS, SEED = 80, 7
DEFENSES = {
    "upload-noise": {"upload_noise_variance": 1e-6},
    "upload-precision": {"upload_number_format": "int8"},
    "upload-pruning": {"upload_pruning_fraction": 0.3},
}


def _users(user_ids: list[int], epoch: int = 0):
    """NCF's Θ and the given users (4-9 positives each, drawn per user) with their p_u and samples of `epoch`."""
    model = MODELS.get("ncf")(8, (8, 8))
    theta = model.init_theta(NUM_ITEMS, SEED)
    ids = np.array(user_ids, dtype=np.int64)
    samples = []
    for user in user_ids:
        rng = np.random.default_rng([SEED, user])
        positives = np.sort(rng.choice(NUM_ITEMS, size=int(rng.integers(4, 10)), replace=False))
        samples.append(user_samples(user, positives, NUM_ITEMS, 4, SEED, epoch))
    return model, theta, ids, model.init_user_embeddings(ids, SEED), samples


def _upload(defense: str, user_ids: list[int], epoch: int = 0, **settings: object):
    model, theta, ids, emb, samples = _users(user_ids, epoch)
    config = make_config(privacy_defense=defense, seed=SEED, **settings)
    defended = PRIVACY_DEFENSES.get(defense)().local_update(model, theta, ids, emb, samples, config, epoch)
    honest = compute_user_updates(model, theta, ids, emb, samples, Objective.of(config))
    return defended, honest


def _user_tensors(updates, position: int) -> list[torch.Tensor]:
    start, end = int(updates.item_indptr[position]), int(updates.item_indptr[position + 1])
    return [updates.item_grads[start:end], *(grads[position] for grads in updates.dense_grads.values())]


# --- the mechanics on one tensor --------------------------------------------------------------------


@pytest.mark.parametrize("fraction", [0.0, 0.1, 0.2, 0.5, 0.7, 0.99])
def test_pruning_zeroes_exactly_the_fraction_of_smallest_magnitudes(fraction: float) -> None:
    values = torch.from_numpy(np.random.default_rng(1).normal(0, 1e-4, (37, 8))).float()
    pruned = prune_smallest(values, fraction)
    count = math.floor(fraction * values.numel())
    zeroed = pruned == 0
    assert int(zeroed.sum()) == count
    # Every zeroed entry is smaller in magnitude than every kept one, and the kept ones are untouched.
    if 0 < count < values.numel():
        assert values[zeroed].abs().max() <= values[~zeroed].abs().min()
    assert torch.equal(pruned[~zeroed], values[~zeroed])


def test_pruning_breaks_ties_in_order_and_leaves_an_empty_tensor_empty() -> None:
    assert torch.equal(prune_smallest(torch.tensor([1.0, -1.0, 1.0, 2.0]), 0.5), torch.tensor([0.0, 0.0, 1.0, 2.0]))
    assert prune_smallest(torch.zeros(0, 8), 0.5).shape == (0, 8)


def test_half_precision_rounds_to_float16_values() -> None:
    values = torch.from_numpy(np.random.default_rng(2).normal(0, 1e-3, 10_000)).float()
    half = to_float16(values)
    assert half.dtype == values.dtype
    assert torch.equal(half.half().float(), half)  # already float16 values: a second round trip changes nothing
    normal = values.abs() >= torch.finfo(torch.float16).tiny
    assert ((half - values)[normal].abs() <= values[normal].abs() * 2.0**-11).all()  # half an ulp of 11 bits
    # Below float16's normal range the spacing is fixed (2^-24), and below half of it a value is lost.
    assert to_float16(torch.tensor([2.0**-26, 3 * 2.0**-24])).tolist() == [0.0, 3 * 2.0**-24]


def test_int8_rounds_to_one_scale_times_codes_in_range() -> None:
    values = torch.from_numpy(np.random.default_rng(3).normal(0, 1e-4, (50, 8))).float()
    quantised = to_int8(values)
    scale = values.abs().max() / INT8_LEVELS
    codes = quantised / scale
    assert torch.allclose(codes, codes.round(), atol=1e-4)
    assert codes.abs().max().round() == INT8_LEVELS
    assert ((quantised - values).abs() <= scale / 2 * (1 + 1e-5)).all()
    assert torch.equal(to_int8(torch.zeros(3, 8)), torch.zeros(3, 8))
    assert to_int8(torch.zeros(0, 8)).shape == (0, 8)


@pytest.mark.parametrize("add_noise", [gaussian_noise, laplace_noise])
def test_noise_has_the_stated_variance_and_the_same_seed_gives_the_same_noise(add_noise) -> None:
    values = torch.zeros(200_000, dtype=torch.float64)
    first = add_noise(values, 1e-6, np.random.default_rng([SEED, 1]))
    again = add_noise(values, 1e-6, np.random.default_rng([SEED, 1]))
    other = add_noise(values, 1e-6, np.random.default_rng([SEED, 2]))
    assert torch.equal(first, again) and not torch.equal(first, other)
    assert float(first.mean()) == pytest.approx(0.0, abs=2e-5)
    assert float(first.var()) == pytest.approx(1e-6, rel=0.03)
    # Same variance, different type: the Laplace's excess kurtosis is 3, the Gaussian's 0.
    kurtosis = float((first**4).mean() / first.var() ** 2) - 3
    assert kurtosis == pytest.approx(3.0 if add_noise is laplace_noise else 0.0, abs=0.3)


# --- the defenses on real uploads -------------------------------------------------------------------


@pytest.mark.parametrize("defense", DEFENSES)
def test_defense_keeps_ids_layout_count_and_the_honest_user_step(defense: str) -> None:
    defended, honest = _upload(defense, [0, 1, 2], **DEFENSES[defense])
    for name in ("user_ids", "item_indptr", "item_ids", "num_samples"):
        assert torch.equal(getattr(defended.updates, name), getattr(honest.updates, name))
    assert torch.equal(defended.user_emb_grad, honest.user_emb_grad)
    assert torch.equal(defended.losses, honest.losses)
    assert not torch.equal(defended.updates.item_grads, honest.updates.item_grads)


@pytest.mark.parametrize("defense", DEFENSES)
def test_defense_is_reproducible_and_independent_of_the_node_layout(defense: str) -> None:
    together, _ = _upload(defense, [0, 1, 2], **DEFENSES[defense])
    again, _ = _upload(defense, [0, 1, 2], **DEFENSES[defense])
    alone, _ = _upload(defense, [1], **DEFENSES[defense])
    for mine, theirs in zip(_user_tensors(together.updates, 0), _user_tensors(again.updates, 0)):
        assert torch.equal(mine, theirs)
    for mine, theirs in zip(_user_tensors(together.updates, 1), _user_tensors(alone.updates, 0)):
        assert torch.equal(mine, theirs)


def test_noise_is_drawn_anew_each_epoch_and_per_tensor_values_are_honest_plus_noise() -> None:
    first, honest = _upload("upload-noise", [0, 1], epoch=0, upload_noise_variance=1e-6)
    later, honest_later = _upload("upload-noise", [0, 1], epoch=1, upload_noise_variance=1e-6)
    noise = first.updates.item_grads - honest.updates.item_grads
    noise_later = later.updates.item_grads - honest_later.updates.item_grads
    assert not torch.equal(noise[:5], noise_later[:5])
    assert float(noise.std()) == pytest.approx(1e-3, rel=0.25)


def test_pruning_zeroes_the_fraction_of_each_users_tensors() -> None:
    defended, honest = _upload("upload-pruning", [0, 1, 2], upload_pruning_fraction=0.3)
    for position in range(3):
        for pruned, before in zip(_user_tensors(defended.updates, position), _user_tensors(honest.updates, position)):
            # Entries already zero in the honest upload (dead ReLUs) count among the smallest.
            expected = max(math.floor(0.3 * before.numel()), int((before == 0).sum()))
            assert int((pruned == 0).sum()) == expected


def test_precision_float16_uploads_float16_values() -> None:
    defended, honest = _upload("upload-precision", [0, 1], upload_number_format="float16")
    rows = defended.updates.item_grads
    assert torch.equal(rows.half().float(), rows) and not torch.equal(rows, honest.updates.item_grads)


def test_registered_with_settings_that_reject_bad_values() -> None:
    assert PRIVACY_DEFENSES.get("upload-noise") is UploadNoise
    assert PRIVACY_DEFENSES.get("upload-precision") is UploadPrecision
    assert PRIVACY_DEFENSES.get("upload-pruning") is UploadPruning
    for bad in ({"upload_pruning_fraction": 1.0}, {"upload_noise_variance": 0.0}, {"upload_number_format": "int4"}):
        with pytest.raises(ConfigError, match="is invalid"):
            make_config(**bad)
