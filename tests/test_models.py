"""NCF, NeuMF and MF scores against hand computation."""

import math

import numpy as np
import pytest
import torch

from fedrec.models.base import ITEM_EMBEDDING, RecModel
from fedrec.models.mf import MatrixFactorization
from fedrec.models.ncf import NeuralCF
from fedrec.models.neumf import NeuMF


def test_mf_score_is_dot_product() -> None:
    model = MatrixFactorization(2, ())
    theta = {ITEM_EMBEDDING: torch.tensor([[1.0, 2.0], [3.0, -1.0]])}
    user = torch.tensor([[0.5, 1.0]])
    assert torch.allclose(model.score_all_items(theta, user), torch.tensor([[2.5, 0.5]]))
    assert torch.allclose(model.logits(theta, user[0], theta[ITEM_EMBEDDING][1]), torch.tensor(0.5))


def test_ncf_logit_matches_hand_computed_mlp() -> None:
    model = NeuralCF(1, (2,))
    theta = {
        ITEM_EMBEDDING: torch.tensor([[2.0]]),
        "mlp.0.weight": torch.tensor([[1.0, 1.0], [1.0, -1.0]]),  # input is [p, q]
        "mlp.0.bias": torch.tensor([0.0, 0.5]),
        "mlp.1.weight": torch.tensor([[2.0, 3.0]]),
        "mlp.1.bias": torch.tensor([0.25]),
    }
    p, q = 1.0, 2.0
    hidden = [max(0.0, p + q), max(0.0, p - q + 0.5)]  # relu([3, -0.5]) = [3, 0]
    expected = 2.0 * hidden[0] + 3.0 * hidden[1] + 0.25
    logit = model.logits(theta, torch.tensor([p]), theta[ITEM_EMBEDDING][0])
    assert torch.allclose(logit, torch.tensor(expected))
    assert torch.allclose(model.score_all_items(theta, torch.tensor([[p]])), torch.tensor([[expected]]))


def test_ncf_init_follows_the_paper() -> None:
    model = NeuralCF(8, (8, 8))
    theta = model.init_theta(5000, seed=3)
    assert theta[ITEM_EMBEDDING].shape == (5000, 8)
    assert abs(float(theta[ITEM_EMBEDDING].std()) - 0.01) < 0.001
    assert [tuple(theta[f"mlp.{i}.weight"].shape) for i in range(3)] == [(8, 16), (8, 8), (1, 8)]
    assert all(float(theta[f"mlp.{i}.bias"].abs().sum()) == 0.0 for i in range(3))
    users = model.init_user_embeddings(np.arange(4000), seed=3)
    assert abs(float(users.std()) - 0.01) < 0.001


def test_user_embedding_depends_on_user_not_on_its_batch() -> None:
    model = NeuralCF(8, (8, 8))
    alone = model.init_user_embeddings(np.array([17]), seed=1)
    among_others = model.init_user_embeddings(np.array([3, 17, 40]), seed=1)
    assert torch.equal(alone[0], among_others[1])


@pytest.mark.parametrize("model", [NeuralCF(4, (8, 4)), NeuMF(4, (8, 4))], ids=["ncf", "neumf"])
def test_replicated_and_shared_weights_give_the_same_logits(model: RecModel) -> None:
    theta = model.init_theta(30, seed=0)
    users = model.init_user_embeddings(np.arange(3), seed=0) * 50
    items = theta[ITEM_EMBEDDING][torch.tensor([[1, 2, 3], [4, 5, 6], [7, 8, 9]])] * 50
    replicas = {k: (v if k == ITEM_EMBEDDING else v.expand(3, *v.shape)) for k, v in theta.items()}
    assert torch.allclose(model.logits(replicas, users, items), model.logits(theta, users, items), atol=1e-6)


def test_neumf_logit_is_tanh_mlp_plus_gmf() -> None:
    model = NeuMF(2, (2,))
    theta = {
        ITEM_EMBEDDING: torch.tensor([[2.0, -1.0]]),
        "mlp.0.weight": torch.tensor([[1.0, 0.0, 1.0, 0.0], [0.0, 1.0, 0.0, -1.0]]),  # input is [p, q]
        "mlp.0.bias": torch.tensor([0.0, 0.5]),
        "mlp.1.weight": torch.tensor([[2.0, 3.0]]),
        "mlp.1.bias": torch.tensor([0.25]),
        "gmf.weight": torch.tensor([[0.5, 4.0]]),
        "gmf.bias": torch.tensor([-1.0]),
    }
    p, q = [1.0, 3.0], [2.0, -1.0]
    hidden = [math.tanh(p[0] + q[0]), math.tanh(p[1] - q[1] + 0.5)]
    gmf = 0.5 * p[0] * q[0] + 4.0 * p[1] * q[1] - 1.0
    expected = 2.0 * hidden[0] + 3.0 * hidden[1] + 0.25 + gmf
    logit = model.logits(theta, torch.tensor(p), theta[ITEM_EMBEDDING][0])
    assert torch.allclose(logit, torch.tensor(expected))
    assert torch.allclose(model.score_all_items(theta, torch.tensor([p])), torch.tensor([[expected]]))


def test_neumf_init_has_both_heads_with_glorot_weights() -> None:
    theta = NeuMF(64, (64, 64)).init_theta(100, seed=0)
    assert tuple(theta["gmf.weight"].shape) == (1, 64) and float(theta["gmf.bias"]) == 0.0
    glorot_bound = math.sqrt(6.0 / (128 + 64))
    assert float(theta["mlp.0.weight"].abs().max()) <= glorot_bound
    assert float(theta["mlp.0.weight"].abs().max()) > 0.9 * glorot_bound
