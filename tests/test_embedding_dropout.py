"""`embedding-dropout` (ClusterAttack-UNION's reference trains with dropout 0.2 on both embeddings) and MF's
`embedding-init = "xavier-uniform"` (its tables' start)."""

import numpy as np
import pytest
import torch

from app_config import make_config
from fedrec.errors import ConfigError
from fedrec.models.mf import MatrixFactorization, xavier_bound
from fedrec.training.local import Objective, compute_user_updates, dropout_masks
from fedrec.training.sampling import UserSamples, epoch_samples

ITEMS, DIM = 50, 8


def _samples(user: int, config, epoch: int = 0) -> UserSamples:  # type: ignore[no-untyped-def]
    positives = np.sort(np.random.default_rng(user).choice(ITEMS, size=6 + user % 5, replace=False))
    return epoch_samples(user, positives, ITEMS, config, epoch)


def test_a_negative_scores_the_dropped_user_row_of_the_positive_it_pairs_with() -> None:
    config = make_config(model="mf", loss="bpr", negatives=2, embedding_dropout=0.3, uniformity_reg=1.0)
    samples = [_samples(user, config) for user in (3, 4)]
    width = max(len(s.items) for s in samples)
    contrast = (max(len(s.contrast) for s in samples), samples[0].contrast.shape[1])
    masks = dropout_masks(samples, np.array([3, 4]), width, DIM, 0.3, contrast)
    for k, sample in enumerate(samples):
        for j, partner in enumerate(sample.partner):
            if partner >= 0:
                assert torch.equal(masks.user[k, j], masks.user[k, partner])
        n = len(sample.items)
        assert masks.item[k, :n].unique().tolist() == pytest.approx([0.0, 1 / 0.7])  # zeroed, or kept and scaled
        assert float(masks.item[k, n:].abs().sum()) == 0.0  # padding
    assert masks.contrast is not None and masks.contrast.shape == (2, *contrast, DIM)


def test_masks_keep_one_minus_p_and_differ_by_epoch_and_user_but_not_by_the_bucket() -> None:
    config = make_config(model="mf", loss="bpr", negatives=1, embedding_dropout=0.2)
    first, again, later = (_samples(5, config, epoch) for epoch in (0, 0, 1))
    assert first.dropout_seed == again.dropout_seed != later.dropout_seed
    many = dropout_masks([first] * 1, np.array([5]), len(first.items), 4096, 0.2, None)
    assert abs(float((many.item > 0).float().mean()) - 0.8) < 0.01
    model = MatrixFactorization(DIM, ())
    theta = model.init_theta(ITEMS, 1)
    users = np.array([5, 6])
    rows = torch.randn(2, DIM, generator=torch.Generator().manual_seed(2)) * 0.1
    objective = Objective.of(config)
    together = compute_user_updates(model, theta, users, rows, [first, _samples(6, config)], objective)
    alone = compute_user_updates(model, theta, users[:1], rows[:1], [first], objective)
    assert torch.equal(together.user_emb_grad[0], alone.user_emb_grad[0])  # a user's masks do not depend on its node
    undropped = compute_user_updates(model, theta, users[:1], rows[:1], [first], Objective.of(make_config(model="mf")))
    assert not torch.allclose(alone.user_emb_grad, undropped.user_emb_grad)  # the setting takes effect


def test_dropout_for_a_model_that_cannot_take_it_is_one_clear_line() -> None:
    with pytest.raises(ConfigError, match="embedding-dropout is built for model 'mf'") as raised:
        make_config(model="ncf", embedding_dropout=0.2)
    assert "\n" not in str(raised.value)


def test_xavier_tables_are_uniform_within_torchs_bound_and_a_users_row_is_its_own() -> None:
    model = MatrixFactorization(DIM, (), init="xavier-uniform")
    items = model.init_theta(3000, seed=4)["item-embedding"]
    bound = xavier_bound(3000, DIM)
    assert float(items.abs().max()) <= bound and abs(float(items.std()) - bound / np.sqrt(3)) < 0.02 * bound
    reference = torch.empty(3000, DIM)
    torch.nn.init.xavier_uniform_(reference)  # the bound torch uses on an embedding table of that shape
    assert float(reference.abs().max()) <= bound and float(reference.abs().max()) > 0.99 * bound
    users = model.init_user_embeddings(np.array([2, 9]), seed=4, num_users=6040)
    assert float(users.abs().max()) <= xavier_bound(6040, DIM)
    assert torch.equal(users[1], model.init_user_embeddings(np.array([9]), seed=4, num_users=6040)[0])
    with pytest.raises(ValueError, match="num_users"):
        model.init_user_embeddings(np.array([2]), seed=4)
    normal = MatrixFactorization(DIM, ())
    assert abs(float(normal.init_theta(3000, seed=4)["item-embedding"].std()) - 0.01) < 0.001
