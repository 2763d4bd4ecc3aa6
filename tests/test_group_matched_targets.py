"""The provider's group-matched target choice: middle popularity, an audience that over-represents the group."""

import numpy as np
import pytest
import scipy.sparse as sp

from app_config import make_config
from fedrec.config import TargetSpec
from fedrec.errors import ConfigError
from fedrec.targets import group_matched_targets, resolve_targets


def _interactions(seed: int = 0) -> tuple[sp.csr_matrix, np.ndarray]:
    """300 users (a third in the group), 100 items of random appeal; the even items lean to the group."""
    rng = np.random.default_rng(seed)
    in_group = np.arange(300) % 3 == 0
    appeal = rng.uniform(0.02, 0.3, size=100)
    chance = np.tile(appeal, (300, 1))
    chance[np.ix_(in_group, np.arange(0, 100, 2))] *= 2
    chance[np.ix_(~in_group, np.arange(0, 100, 2))] /= 2
    return sp.csr_matrix((rng.random((300, 100)) < chance).astype(np.float32)), in_group


def test_group_matched_targets_are_middle_popular_over_represented_and_seeded() -> None:
    matrix, in_group = _interactions()
    popularity = np.asarray(matrix.sum(axis=0)).ravel()
    from_group = np.asarray(matrix[in_group].sum(axis=0)).ravel()
    low, high = np.quantile(popularity, [0.4, 0.6])
    chosen = group_matched_targets(matrix, in_group, 3, seed=7)
    assert len(set(chosen)) == 3 and list(chosen) == sorted(chosen)
    for item in chosen:
        assert low <= popularity[item] <= high
        assert from_group[item] / popularity[item] > from_group.sum() / popularity.sum()
    assert group_matched_targets(matrix, in_group, 3, seed=7) == chosen
    draws = {group_matched_targets(matrix, in_group, 3, seed=s) for s in range(10)}
    assert len(draws) > 1
    assert not set(chosen) & set(np.argsort(popularity, kind="stable")[:10].tolist())


def test_too_few_candidates_and_runs_without_a_provider_are_one_line_errors() -> None:
    matrix, in_group = _interactions()
    with pytest.raises(ConfigError, match="only .* items of middle popularity"):
        group_matched_targets(matrix, in_group, 90, seed=0)
    spec = TargetSpec.parse("target-items", "group-matched:2")
    assert str(spec) == "group-matched:2"
    with pytest.raises(ConfigError, match="chosen by the provider"):
        resolve_targets(spec, np.ones(10), seed=0)


def test_pretraining_picks_group_matched_targets_on_the_providers_users() -> None:
    from datasets import load_dataset
    from pretrained.provider import provider_targets

    settings = dict(dataset="synthetic", model="sasrec", split="leave-last-out", user_share="provider")
    config = make_config(**settings, target_group="gender=F", target_items="group-matched:3")
    dataset = load_dataset(config)
    women = (dataset.profiles["gender"] == "F").to_numpy()
    assert provider_targets(config, dataset) == group_matched_targets(dataset.train + dataset.test, women, 3, 42)
    with pytest.raises(ConfigError, match="set target-group"):
        provider_targets(make_config(**settings, target_items="group-matched:3"), dataset)
