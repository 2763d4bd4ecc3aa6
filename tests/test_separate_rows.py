"""`repeated-items = "separate"`: a user's repeated item uploaded as one row per sample, as Spattack's reference
client uploads it, and counted row by row by a per-item rule; refused where it cannot take effect."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from app_config import make_config
from fedrec.directory import UserDirectory
from fedrec.errors import ConfigError
from fedrec.models.base import ITEM_EMBEDDING
from fedrec.models.mf import MatrixFactorization
from fedrec.protocol import updates_from_record, updates_to_record
from fedrec.robust.dense import to_dense
from fedrec.training.local import Objective, compute_user_updates
from fedrec.training.sampling import UserSamples
from fedrec.updates import UserUpdates
from strategies import STRATEGIES
from strategies.robust import item_groups

ITEMS = torch.tensor([[1.0, 0.0], [0.0, 2.0], [0.3, 1.0], [0.5, 0.5], [-1.0, 0.2]])
USER = torch.tensor([[1.0, -0.5]])
POSITIVES, NEGATIVES = [0, 1, 3], [2, 2, 4]  # item 2 is the negative of two positives


def _updates(mode: str, l2: float = 0.1) -> UserUpdates:
    samples = UserSamples(
        np.array(POSITIVES + NEGATIVES),
        np.array([1, 1, 1, 0, 0, 0], dtype=np.float32),
        np.array([-1, -1, -1, 0, 1, 2]),
    )
    objective = Objective("bpr", "sum", l2, mode)
    theta = {ITEM_EMBEDDING: ITEMS.clone()}
    return compute_user_updates(MatrixFactorization(2, ()), theta, np.array([0]), USER, [samples], objective).updates


def _reference_rows(l2: float) -> torch.Tensor:
    """The reference client's upload (Spattack's Model/client.py, restated): a row per entry of the sorted
    positives + negatives, its index map pointing every sample of an item at the item's last row."""
    train_all = sorted(POSITIVES + NEGATIVES)
    position = {item: k for k, item in enumerate(train_all)}  # later entries overwrite: the last position
    rows = ITEMS[train_all].clone().requires_grad_()
    pos = (USER * rows[[position[i] for i in POSITIVES]]).sum(-1)
    neg = (USER * rows[[position[i] for i in NEGATIVES]]).sum(-1)
    loss = -F.logsigmoid(pos - neg).sum() + 0.5 * l2 * (USER.pow(2).sum() + rows.pow(2).sum())
    return torch.autograd.grad(loss, rows)[0]


@pytest.mark.parametrize("l2", [0.0, 0.1])
def test_a_repeated_negative_is_uploaded_as_two_rows_as_the_reference_client_uploads_it(l2: float) -> None:
    separate, summed = _updates("separate", l2), _updates("summed", l2)
    assert separate.item_ids.tolist() == [0, 1, 2, 2, 3, 4] and separate.item_indptr.tolist() == [0, 6]
    assert summed.item_ids.tolist() == [0, 1, 2, 3, 4]
    torch.testing.assert_close(separate.item_grads, _reference_rows(l2))
    # The first row of item 2 is its own L2 term only; the two rows add up to the summed row.
    torch.testing.assert_close(separate.item_grads[2], l2 * ITEMS[2])
    torch.testing.assert_close(separate.item_grads[2] + separate.item_grads[3], summed.item_grads[2])
    # Items sampled once: the very rows `summed` uploads.
    assert torch.equal(separate.item_grads[[0, 1, 4, 5]], summed.item_grads[[0, 1, 3, 4]])


def test_the_wire_keeps_both_rows_and_the_per_item_median_counts_them() -> None:
    own = updates_from_record(updates_to_record(_updates("separate", l2=0.0)))
    assert own.item_ids.tolist() == [0, 1, 2, 2, 3, 4]
    # Two other users send item 2; with l2 = 0 the repeated negative's first row is zero.
    first, second = own.item_grads[2].tolist(), own.item_grads[3].tolist()
    others = UserUpdates.from_users([1, 2], [torch.tensor([2])] * 2, [torch.tensor([[9.0, 9.0]])] * 2, [{}] * 2, [1, 1])
    ids, counts, rows = item_groups(UserUpdates.concat([own, others]))
    assert counts[ids.tolist().index(2)] == 4  # three users, four rows
    config = {"defense": "median", "aggregation": "per-item", "per-item-scale": "none", "model": "mf"}
    median = STRATEGIES.get("median")(
        make_config(config, embedding_dim=2, repeated_items="separate"),
        UserDirectory.from_nodes({1: np.arange(3)}),
        {ITEM_EMBEDDING: ITEMS.clone()},
        (),
    )
    gradient = median.aggregate(UserUpdates.concat([own, others])).gradient
    row = gradient.item_rows[gradient.item_ids.tolist().index(2)]
    # The median of the four rows [0, s, 9, 9] per coordinate is the mean of the middle two.
    expected = [float(np.median([a, b, 9.0, 9.0])) for a, b in zip(first, second)]
    assert first == [0.0, 0.0] and row.tolist() == pytest.approx(expected)


def test_a_dense_view_sums_a_users_rows_of_an_item() -> None:
    separate, summed = _updates("separate"), _updates("summed")
    theta = {ITEM_EMBEDDING: ITEMS.clone()}
    torch.testing.assert_close(to_dense(separate, theta), to_dense(summed, theta))


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"defense": "fedavg"}, "defense 'fedavg' merges a user's rows of an item"),
        ({"defense": "median", "aggregation": "dense"}, "defense 'median' with aggregation = 'dense' merges"),
        ({"defense": "item-clip"}, "defense 'item-clip' merges"),
        ({"defense": "median", "uniformity-reg": 1.0}, "not available with uniformity-reg = 1.0"),
        ({"defense": "median", "privacy-defense": "ldp"}, "not available with privacy-defense = 'ldp'"),
    ],
)
def test_separate_rows_are_refused_in_one_line_where_they_cannot_take_effect(overrides: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message) as error:
        make_config({"aggregation": "per-item", **overrides}, repeated_items="separate")
    assert "\n" not in str(error.value)


@pytest.mark.parametrize("defense", ["median", "trimmed-mean", "krum", "foolsgold", "centered-clipping"])
def test_separate_rows_are_accepted_by_the_per_item_rules(defense: str) -> None:
    config = make_config(defense=defense, aggregation="per-item", repeated_items="separate")
    assert STRATEGIES.get(defense).aggregates_item_rows(config)


def test_clusterattacks_norm_statistics_take_a_users_rows_of_an_item_together() -> None:
    from attacks.cluster_attack import item_row_norm_stats

    separate, summed = _updates("separate"), _updates("summed")
    assert item_row_norm_stats(separate, len(ITEMS)) == pytest.approx(item_row_norm_stats(summed, len(ITEMS)))
    # One user, 5 items, all sent: the mean of the summed rows' norms.
    assert item_row_norm_stats(summed, len(ITEMS))[0] == pytest.approx(float(summed.item_grads.norm(dim=1).mean()))
