"""The attacks over a user's every upload and the informed baseline, on small hand-made uploads.

The uploads carry NaN rows and no Θ: these attacks read ids, `num-samples` and public popularity only,
and a NaN would surface in their scores if they read a gradient.
"""

import types

import torch

from privacy.base import prior_positives
from privacy.evaluation import attack_uploads
from privacy.observed import ObservedUpload, Truth, UserHistory
from privacy.popularity import PopularityPrior
from privacy.recording import RecordedUpload
from privacy.recurrence import IdRecurrence
from privacy.scoring import precision_recall_f1

NEGATIVES, NUM_ITEMS = 2, 12
POSITIVES = [2, 5]


def config(defense: str = "none", pseudo: int = 0) -> types.SimpleNamespace:
    return types.SimpleNamespace(
        negatives=NEGATIVES, privacy_defense=defense, pseudo_items=pseudo, pseudo_items_label="positive"
    )


def upload(items: list[int], positives: int = len(POSITIVES)) -> ObservedUpload:
    """What the server sees: ids, NaN rows (never to be read), no Θ, N = positives · (1 + r)."""
    ids = torch.tensor(sorted(items))
    return ObservedUpload({}, ids, torch.full((len(ids), 3), torch.nan), {}, positives * (1 + NEGATIVES))


# The positives 2 and 5 in every epoch; fresh negatives, 9 drawn again in every epoch.
EPOCHS = [[2, 5, 1, 9, 7], [2, 5, 9, 3, 11], [2, 5, 0, 9, 4]]
# Item 9 is the most popular on the wire: a popularity guess takes it.
POPULARITY = torch.tensor([1, 1, 3, 1, 1, 2, 1, 1, 1, 9, 1, 1])
FAIR_POPULARITY = torch.tensor([1, 1, 3, 1, 1, 2, 1, 1, 1, 1, 1, 1])


def truth(observed: ObservedUpload) -> torch.Tensor:
    return torch.isin(observed.item_ids, torch.tensor(POSITIVES))


def test_a_positive_recurring_in_every_upload_is_found_and_ties_go_to_popularity() -> None:
    history = UserHistory(tuple(upload(items) for items in EPOCHS), POPULARITY)
    for observed, recovered in zip(history.uploads, IdRecurrence(None, config()).recover_history(history)):
        # 2, 5 and 9 recur in all three uploads; the count prior marks two, and the least popular of the three loses.
        assert not torch.isnan(recovered.interaction_scores).any()
        assert set(observed.item_ids[recovered.is_interaction].tolist()) == {2, 9}
    # With item 9 less popular than both positives, every upload is recovered exactly.
    fair = UserHistory(history.uploads, FAIR_POPULARITY)
    for observed, recovered in zip(fair.uploads, IdRecurrence(None, config()).recover_history(fair)):
        assert torch.equal(recovered.is_interaction, truth(observed))
        assert precision_recall_f1(recovered.is_interaction, truth(observed))[2] == 1.0


def test_one_upload_alone_leaves_recurrence_to_popularity() -> None:
    single = UserHistory((upload(EPOCHS[0]),), POPULARITY)
    (recurrence,) = IdRecurrence(None, config()).recover_history(single)
    (baseline,) = PopularityPrior(None, config()).recover_history(single)
    assert torch.equal(recurrence.is_interaction, baseline.is_interaction)


def test_the_informed_baseline_reads_no_gradient_and_marks_the_count_prior() -> None:
    history = UserHistory(tuple(upload(items) for items in EPOCHS), POPULARITY)
    recovered = PopularityPrior(None, config()).recover_history(history)
    for observed, answer in zip(history.uploads, recovered):
        assert answer.user_embedding is None and not torch.isnan(answer.interaction_scores).any()
        assert answer.interaction_scores.tolist() == POPULARITY[observed.item_ids].float().tolist()
        assert answer.is_interaction.sum() == 2
        assert set(observed.item_ids[answer.is_interaction].tolist()) == {2, 9}  # the two most popular


def test_the_public_k_of_pseudo_items_is_taken_off_the_count() -> None:
    # One real positive (2) and one pseudo item (5): N counts both, the server knows k = 1.
    padded = upload([2, 5, 1, 9, 7], positives=2)
    assert prior_positives(padded, NEGATIVES) == 2 and prior_positives(padded, NEGATIVES, pseudo=1) == 1
    for attack in (IdRecurrence, PopularityPrior):
        (answer,) = attack(None, config("pseudo-items", 1)).recover_history(UserHistory((padded,), POPULARITY))
        assert answer.is_interaction.sum() == 1
    assert prior_positives(padded, NEGATIVES, pseudo=3) is None  # a k larger than the count cannot be


def test_attack_uploads_hands_each_user_its_uploads_in_epoch_order_and_keeps_the_row_order() -> None:
    recorded = [
        RecordedUpload(epoch, user, upload(items), Truth(truth(upload(items)), torch.zeros(3)))
        for epoch, items in zip((3, 1, 2), reversed(EPOCHS))
        for user in (10, 11)
    ]
    table = attack_uploads(IdRecurrence(None, config()), recorded, FAIR_POPULARITY)
    assert table["epoch"].tolist() == [3, 3, 1, 1, 2, 2] and table["user"].tolist() == [10, 11] * 3
    assert (table["rounds"] == 3).all() and (table["f1"] == 1.0).all()
    assert (attack_uploads(PopularityPrior(None, config()), recorded, FAIR_POPULARITY)["rounds"] == 1).all()
