"""The curious server's attacks on one undefended upload, and the scores that judge them.

Every upload here is a real one: a tiny model's Θ (30 items, d = 4, one hidden layer of 4), a user's
samples from `fedrec.training.sampling` (5 positives, r = 4 negatives each, duplicates included) and the gradient
`fedrec.training.local` computes from them. The truth comes from the samples and the p_u used.
"""

import itertools
import math
import types

import numpy as np
import pytest
import torch

from fedrec.errors import ConfigError
from fedrec.models.base import RecModel
from fedrec.models.registry import MODELS
from fedrec.training.local import Objective, compute_user_updates
from fedrec.training.sampling import user_samples
from privacy.analytic import AnalyticAttack
from privacy.base import decide_interactions, prior_positives
from privacy.dlg import DeepLeakage
from privacy.observed import ObservedUpload, Recovered, Truth
from privacy.scoring import aggregate, auc, chance_level, cosine, precision_recall_f1, score_upload

NUM_ITEMS, NEGATIVES, USER = 30, 4, 7


@pytest.fixture(autouse=True, scope="module")
def one_thread():  # type: ignore[no-untyped-def]
    """DLG runs thousands of tiny double-backward passes; on a shared machine threads only add overhead."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


def attack_config(loss: str = "bce") -> types.SimpleNamespace:
    return types.SimpleNamespace(
        loss=loss, negatives=NEGATIVES, seed=1, dlg_iterations=100, dlg_restarts=4, privacy_defense="none"
    )


def tiny_upload(model_name: str, seed: int, loss: str = "bce") -> tuple[RecModel, ObservedUpload, Truth]:
    """A user with 5 positives and its real upload on a freshly initialised tiny model."""
    model = MODELS.get(model_name)(4, (4,))
    theta = model.init_theta(NUM_ITEMS, seed)
    positives = np.sort(np.random.default_rng(seed).choice(NUM_ITEMS, 5, replace=False))
    samples = user_samples(USER, positives, NUM_ITEMS, NEGATIVES, seed, 0)
    user_emb = model.init_user_embeddings(np.array([USER]), seed)
    updates = compute_user_updates(model, theta, np.array([USER]), user_emb, [samples], Objective(loss)).updates
    upload = ObservedUpload.of_user(updates, 0, theta)
    truth = Truth(torch.from_numpy(np.isin(upload.item_ids.numpy(), positives)), user_emb[0])
    return model, upload, truth


def test_the_tiny_uploads_hold_merged_duplicate_negatives() -> None:
    # 20 negatives drawn from 25 free items repeat some: the attacks must cope with merged rows.
    _, upload, truth = tiny_upload("ncf", 0)
    assert upload.num_samples == 25 and len(upload.item_ids) == 21 and int(truth.is_interaction.sum()) == 5


# --- analytic baselines ---


@pytest.mark.parametrize("model_name", ["ncf", "neumf"])
@pytest.mark.parametrize("loss", ["bce", "bpr"])
def test_analytic_recovers_ncf_labels_and_user_embedding_exactly(model_name: str, loss: str) -> None:
    model, upload, truth = tiny_upload(model_name, 0, loss)
    recovered = AnalyticAttack(model, attack_config(loss)).recover(upload)
    assert torch.equal(recovered.is_interaction, truth.is_interaction)
    torch.testing.assert_close(recovered.user_embedding, truth.user_embedding, rtol=1e-4, atol=1e-7)
    assert auc(recovered.interaction_scores, truth.is_interaction) == 1.0


def test_analytic_falls_back_to_the_coefficient_sign_when_the_count_prior_is_not_exact() -> None:
    model, upload, truth = tiny_upload("ncf", 0)
    padded = ObservedUpload(upload.theta, upload.item_ids, upload.item_rows, upload.dense, upload.num_samples + 1)
    assert prior_positives(padded, NEGATIVES) is None
    assert torch.equal(AnalyticAttack(model, attack_config()).recover(padded).is_interaction, truth.is_interaction)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_analytic_recovers_mf_labels_and_user_embedding(seed: int) -> None:
    model, upload, truth = tiny_upload("mf", seed)
    recovered = AnalyticAttack(model, attack_config()).recover(upload)
    assert torch.equal(recovered.is_interaction, truth.is_interaction)
    assert cosine(recovered.user_embedding, truth.user_embedding) > 1 - 1e-6
    # The norm too: the positives' 1-D equation is exact (a positive is never a duplicate).
    torch.testing.assert_close(recovered.user_embedding, truth.user_embedding, rtol=1e-3, atol=1e-7)


def test_analytic_rejects_mf_with_bpr() -> None:
    with pytest.raises(ConfigError, match="mf needs loss 'bce'"):
        AnalyticAttack(MODELS.get("mf")(4, (4,)), attack_config("bpr"))


# --- deep leakage from gradients ---


# DLG is a local search from random starts: over seeds 0-5 its 4 starts recover every tiny MF and NeuMF
# user exactly and 5 of 6 NCF users (not seed 0, whose fits stop in a local minimum); these are ones it recovers.
@pytest.mark.parametrize(("model_name", "seed"), [("mf", 0), ("ncf", 1), ("neumf", 0)])
def test_dlg_recovers_labels_and_user_direction_of_a_tiny_user(model_name: str, seed: int) -> None:
    model, upload, truth = tiny_upload(model_name, seed)
    scores = score_upload(DeepLeakage(model, attack_config()).recover(upload), truth)
    assert scores["f1"] == 1.0 and scores["auc"] == 1.0
    assert scores["cosine"] > 0.99


def test_dlg_resolves_the_mf_mirror_with_the_count_prior() -> None:
    # (p, y) and (-p, 1 - y) fit an MF upload equally: the best of 1, 2, 3 starts is the mirror, the
    # truth, the mirror (this upload and seed); the count prior must turn every one into the truth.
    model, upload, truth = tiny_upload("mf", 1)
    for restarts in (1, 2, 3):
        config = attack_config()
        config.dlg_restarts = restarts
        recovered = DeepLeakage(model, config).recover(upload)
        assert torch.equal(recovered.is_interaction, truth.is_interaction)
        assert cosine(recovered.user_embedding, truth.user_embedding) > 0.99


def test_dlg_is_deterministic() -> None:
    model, upload, _ = tiny_upload("mf", 2)
    first, second = (DeepLeakage(model, attack_config()).recover(upload) for _ in range(2))
    assert torch.equal(first.interaction_scores, second.interaction_scores)
    assert torch.equal(first.user_embedding, second.user_embedding)


def test_dlg_declares_its_settings_and_rejects_bpr() -> None:
    assert [setting.name for setting in DeepLeakage.settings] == ["dlg-iterations", "dlg-restarts"]
    with pytest.raises(ConfigError, match="dlg attack needs loss 'bce'"):
        DeepLeakage(MODELS.get("ncf")(4, (4,)), attack_config("bpr"))


# --- the count prior ---


def test_count_prior_takes_the_top_n_pos_or_falls_back() -> None:
    scores = torch.tensor([0.2, 0.9, 0.5, 0.5, 0.1])
    fallback = torch.tensor([False, True, True, True, False])
    ids = torch.arange(5)
    exact = ObservedUpload({}, ids, torch.zeros(5, 2), {}, num_samples=10)  # 10 / (1 + 4) = 2 positives
    # Ties go to the earlier item, so the decision is reproducible.
    assert decide_interactions(scores, fallback, exact, NEGATIVES).tolist() == [False, True, True, False, False]
    padded = ObservedUpload({}, ids, torch.zeros(5, 2), {}, num_samples=11)
    assert prior_positives(padded, NEGATIVES) is None
    assert torch.equal(decide_interactions(scores, fallback, padded, NEGATIVES), fallback)
    too_many = ObservedUpload({}, ids, torch.zeros(5, 2), {}, num_samples=30)  # 6 positives among 5 items
    assert prior_positives(too_many, NEGATIVES) is None


# --- scoring, by hand ---


def test_precision_recall_f1_by_hand() -> None:
    predicted = torch.tensor([True, False, True, False, True])
    actual = torch.tensor([True, True, False, False, False])
    precision, recall, f1 = precision_recall_f1(predicted, actual)
    assert (precision, recall) == (1 / 3, 1 / 2)
    assert f1 == pytest.approx(0.4)  # 2 * (1/6) / (5/6)
    assert precision_recall_f1(torch.zeros(5, dtype=torch.bool), actual) == (0.0, 0.0, 0.0)


def test_auc_by_hand_with_ties() -> None:
    # Positives score 0.9 and 0.5, negatives 0.5, 0.1, 0.5: of the 6 pairs 0.9 wins 3, the 0.5 positive
    # beats 0.1 and ties twice (half each): (3 + 1 + 0.5 + 0.5) / 6.
    scores = torch.tensor([0.9, 0.5, 0.5, 0.1, 0.5])
    actual = torch.tensor([True, True, False, False, False])
    assert auc(scores, actual) == pytest.approx(5 / 6)
    assert auc(-scores, actual) == pytest.approx(1 / 6)
    assert auc(torch.zeros(5), actual) == 0.5  # all tied
    assert auc(scores, torch.zeros(5, dtype=torch.bool)) == 0.5  # one class absent


def test_chance_level_is_the_mean_over_every_guess_of_n_pos_items() -> None:
    actual = torch.tensor([True, True, False, False, False])
    truth = Truth(actual, torch.ones(2))
    f1s = []
    for guess in itertools.combinations(range(5), 2):
        predicted = torch.zeros(5, dtype=torch.bool)
        predicted[list(guess)] = True
        f1s.append(precision_recall_f1(predicted, actual)[2])
    assert chance_level(truth) == pytest.approx(np.mean(f1s)) == pytest.approx(0.4)


def test_cosine_score_upload_and_aggregate() -> None:
    assert cosine(torch.tensor([1.0, 0.0]), torch.tensor([1.0, 1.0])) == pytest.approx(1 / math.sqrt(2))
    assert math.isnan(cosine(None, torch.tensor([1.0, 1.0])))
    truth = Truth(torch.tensor([True, False, False, False]), torch.tensor([1.0, 0.0]))
    perfect = Recovered(torch.tensor([1.0, 0.0, 0.0, 0.0]), truth.is_interaction, torch.tensor([2.0, 0.0]))
    wrong = Recovered(torch.tensor([0.0, 1.0, 0.0, 0.0]), torch.tensor([False, True, False, False]), None)
    first, second = score_upload(perfect, truth), score_upload(wrong, truth)
    assert first == {
        "precision": 1.0,
        "recall": 1.0,
        "f1": 1.0,
        "auc": 1.0,
        "cosine": 1.0,
        "chance_f1": 0.25,
        "chance_auc": 0.5,
    }
    assert (second["f1"], second["auc"]) == (0.0, pytest.approx(1 / 3))
    summary = aggregate([first, second])
    assert summary["f1"] == 0.5 and summary["cosine"] == 1.0 and summary["count"] == 2.0  # NaN cosine left out
    assert summary["auc"] == pytest.approx(2 / 3) and summary["chance_f1"] == 0.25
