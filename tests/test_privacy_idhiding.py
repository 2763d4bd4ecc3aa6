"""Defenses that hide the ids too, and the attacks they must face.

With `resample-negatives` off, a user's uploaded id set is the same in every epoch under `ldp` and under
`pseudo-items` (pseudo items and their negatives included), and reproducible per seed: id recurrence then
has nothing to find. What the server can still do with T uploads of the same ids is average them
(`pooled-analytic`) and fuse any attack with the informed baseline (`<attack>+popularity`).
"""

from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import torch

from experiments.privacy import recall_deltas
from fedrec.models.registry import MODELS
from fedrec.training.sampling import epoch_samples
from fedrec.updates import UserUpdates
from privacy.defenses import ClientDefense, NoDefense
from privacy.fusion import PopularityFusion, rank_fraction
from privacy.ldp import LocalDP, noise_scale, privatise
from privacy.observed import ObservedUpload, UserHistory
from privacy.pooled import PooledAnalytic, pooled_upload
from privacy.popularity import PopularityPrior
from privacy.pseudo_items import PseudoItems
from privacy.recurrence import IdRecurrence

NUM_ITEMS, NEGATIVES, SEED = 80, 4, 7


def _config(**overrides: object) -> SimpleNamespace:
    values = {
        "loss": "bce",
        "negatives": NEGATIVES,
        "seed": SEED,
        "resample_negatives": False,
        "negatives_avoid_held_out": False,
        "repeated_items": "summed",
        "loss_reduction": "mean",
        "l2_reg": 0.0,
        "l2_scope": "touched",
        "uniformity_reg": 0.0,
        "privacy_defense": "none",
        "ldp_mechanism": "gaussian",
        "ldp_epsilon": 100.0,
        "ldp_delta": 1e-5,
        "ldp_clip_item": 0.01,
        "ldp_clip_dense": 0.5,
        "pseudo_items": 5,
        "pseudo_items_label": "positive",
        "embedding_dropout": 0.0,
    }
    return SimpleNamespace(**{**values, **overrides})


def _users(num_users: int = 4):
    """An NCF model, its Θ, users with 4-9 positives each and their p_u."""
    model = MODELS.get("ncf")(8, (8, 8))
    theta = model.init_theta(NUM_ITEMS, SEED)
    rng = np.random.default_rng(SEED)
    user_ids = np.arange(num_users, dtype=np.int64)
    train = {int(u): np.sort(rng.choice(NUM_ITEMS, size=int(rng.integers(4, 10)), replace=False)) for u in user_ids}
    return model, theta, user_ids, train, model.init_user_embeddings(user_ids, SEED)


def _upload(defense: ClientDefense, config: SimpleNamespace, epoch: int) -> UserUpdates:
    model, theta, user_ids, train, user_emb = _users()
    samples = [epoch_samples(int(u), train[int(u)], NUM_ITEMS, config, epoch) for u in user_ids]
    return defense.local_update(model, theta, user_ids, user_emb, samples, config, epoch).updates


def _id_sets(updates: UserUpdates) -> list[list[int]]:
    indptr = updates.item_indptr.tolist()
    return [updates.item_ids[indptr[u] : indptr[u + 1]].tolist() for u in range(updates.num_users)]


DEFENSES = [(LocalDP(), "ldp"), (PseudoItems(), "pseudo-items")]


@pytest.mark.parametrize(("defense", "name"), DEFENSES)
def test_with_fixed_negatives_every_epoch_uploads_the_same_ids(defense: ClientDefense, name: str) -> None:
    fixed = _config(privacy_defense=name)
    uploads = [_upload(defense, fixed, epoch) for epoch in (0, 1, 5)]
    assert _id_sets(uploads[0]) == _id_sets(uploads[1]) == _id_sets(uploads[2])
    assert torch.equal(uploads[0].num_samples, uploads[2].num_samples)
    # The control: resampled negatives change the id set every epoch, which is what recurrence reads.
    resampled = _config(privacy_defense=name, resample_negatives=True)
    assert _id_sets(_upload(defense, resampled, 0)) != _id_sets(_upload(defense, resampled, 1))


@pytest.mark.parametrize(("defense", "name"), DEFENSES)
def test_the_fixed_id_set_is_reproducible_per_seed(defense: ClientDefense, name: str) -> None:
    once, again = (_upload(defense, _config(privacy_defense=name), 3) for _ in range(2))
    assert _id_sets(once) == _id_sets(again) and torch.equal(once.item_grads, again.item_grads)
    other_seed = _upload(defense, _config(privacy_defense=name, seed=SEED + 1), 3)
    assert _id_sets(other_seed) != _id_sets(once)


def test_recurrence_over_a_fixed_id_set_is_the_informed_baseline() -> None:
    """Every id recurs in every upload: the count ties everywhere and popularity alone decides."""
    config = _config(privacy_defense="pseudo-items")
    epochs = [_upload(PseudoItems(), config, epoch) for epoch in range(3)]
    history = UserHistory(
        tuple(ObservedUpload.of_user(updates, 1, {}) for updates in epochs),
        torch.from_numpy(np.random.default_rng(0).integers(0, 50, NUM_ITEMS)),
    )
    recurrence = IdRecurrence(None, config).recover_history(history)
    informed = PopularityPrior(None, config).recover_history(history)
    for by_ids, by_popularity in zip(recurrence, informed, strict=True):
        assert torch.equal(by_ids.is_interaction, by_popularity.is_interaction)


def test_pooled_upload_averages_each_row_over_the_uploads_carrying_it() -> None:
    first = ObservedUpload({"w": torch.zeros(2)}, torch.tensor([1, 3]), torch.tensor([[1.0, 1.0], [3.0, 3.0]]), {}, 10)
    second = ObservedUpload({"w": torch.ones(2)}, torch.tensor([3, 4]), torch.tensor([[5.0, 5.0], [4.0, 4.0]]), {}, 14)
    pool = pooled_upload((first, second))
    assert pool.item_ids.tolist() == [1, 3, 4]
    assert pool.item_rows.tolist() == [[1.0, 1.0], [4.0, 4.0], [4.0, 4.0]]
    assert pool.theta["w"].tolist() == [0.5, 0.5] and pool.num_samples == 12


def test_pooling_t_rounds_of_ldp_noise_divides_its_variance_by_t() -> None:
    """Fixed ids give the server T independent noise draws on the same rows: the mean has σ/sqrt(T)."""
    config, rows, rounds = _config(), 50, 16
    zero = UserUpdates.from_users(
        user_ids=[0],
        item_ids=[torch.arange(rows)],
        item_grads=[torch.zeros(rows, 8)],
        dense_grads=[{}],
        num_samples=[rows],
    )
    uploads = tuple(ObservedUpload.of_user(privatise(zero, config, epoch), 0, {}) for epoch in range(rounds))
    sigma = noise_scale(config, rows, 8, 0)
    assert float(uploads[0].item_rows.std()) == pytest.approx(sigma, rel=0.1)
    assert float(pooled_upload(uploads).item_rows.std()) == pytest.approx(sigma / np.sqrt(rounds), rel=0.1)


def test_pooled_analytic_recovers_an_undefended_user_exactly() -> None:
    model, theta, user_ids, train, user_emb = _users()
    config = _config()
    uploads = []
    for epoch in range(3):
        samples = [epoch_samples(int(u), train[int(u)], NUM_ITEMS, config, epoch) for u in user_ids]
        updates = NoDefense().local_update(model, theta, user_ids, user_emb, samples, config, epoch).updates
        uploads.append(ObservedUpload.of_user(updates, 2, theta))
    answers = PooledAnalytic(model, config).recover_history(UserHistory(tuple(uploads), torch.ones(NUM_ITEMS)))
    for upload, answer in zip(uploads, answers, strict=True):
        assert torch.equal(answer.is_interaction, torch.isin(upload.item_ids, torch.from_numpy(train[2])))
        assert torch.allclose(answer.user_embedding, user_emb[2], atol=1e-5)


def test_fusing_with_popularity_ranks_by_both_and_adds_nothing_to_a_popularity_ranking() -> None:
    assert rank_fraction(torch.tensor([3.0, 1.0, 3.0, 2.0])).tolist() == [0.875, 0.25, 0.875, 0.5]
    config = _config()
    ids = [torch.tensor([0, 1, 2, 3, 4]), torch.tensor([0, 1, 2, 5, 6])]
    uploads = tuple(ObservedUpload({}, own, torch.full((5, 2), torch.nan), {}, 1 + NEGATIVES) for own in ids)
    popularity = torch.tensor([1, 5, 4, 3, 2, 9, 0])
    # On one upload, recurrence is popularity; fused with popularity it stays popularity.
    single = UserHistory(uploads[:1], popularity)
    fused = PopularityFusion(IdRecurrence(None, config)).recover_history(single)
    assert torch.equal(fused[0].is_interaction, PopularityPrior(None, config).recover_history(single)[0].is_interaction)
    # Over both uploads, 0, 1 and 2 recur; of those, 1 is the most popular: the fusion marks it, popularity
    # alone marks 5 in the second upload.
    both = UserHistory(uploads, popularity)
    marked = [
        upload.item_ids[answer.is_interaction].tolist()
        for upload, answer in zip(uploads, PopularityFusion(IdRecurrence(None, config)).recover_history(both))
    ]
    assert marked == [[1], [1]]
    assert PopularityPrior(None, config).recover_history(both)[1].is_interaction.tolist() == [0, 0, 0, 1, 0]


def test_recall_deltas_pair_each_seed_with_none() -> None:
    rows = pd.DataFrame(
        {
            "condition": ["none", "none", "ldp", "ldp", "ldp"],
            "seed": [1, 2, 1, 2, 2],
            "recall@10": [0.10, 0.12, 0.07, 0.11, 0.11],
        }
    )
    assert recall_deltas(rows, "ldp") == "-0.030, -0.010"
    assert recall_deltas(rows[rows["condition"] != "none"], "ldp") == "–"
