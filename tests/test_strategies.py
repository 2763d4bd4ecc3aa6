"""Defenses as strategies: per-item vs dense views, scaling into the server step, flagged users."""

import numpy as np
import pytest
import torch

from app_config import make_config
from fedrec.directory import UserDirectory
from fedrec.errors import ConfigError
from fedrec.models.base import ITEM_EMBEDDING
from fedrec.models.ncf import NeuralCF
from fedrec.updates import UserUpdates
from strategies import STRATEGIES

NUM_ITEMS, DIM = 6, 2


def _strategy(defense: str, **overrides: object):  # type: ignore[no-untyped-def]
    config = make_config(defense=defense, embedding_dim=DIM, hidden_layers="3", **overrides)
    theta = NeuralCF(DIM, (3,)).init_theta(NUM_ITEMS, seed=0)
    directory = UserDirectory.from_nodes({1: np.arange(50)})
    return STRATEGIES.get(defense)(config, directory, theta, (0,))


def _updates(
    rows_per_user: list[dict[int, list[float]]], dense_value: float = 1.0, outliers: dict[int, float] | None = None
) -> UserUpdates:
    theta = NeuralCF(DIM, (3,)).init_theta(NUM_ITEMS, seed=0)
    dense = []
    for user in range(len(rows_per_user)):
        scale = (outliers or {}).get(user, dense_value)
        dense.append({name: torch.full_like(p, scale) for name, p in theta.items() if name != ITEM_EMBEDDING})
    return UserUpdates.from_users(
        list(range(len(rows_per_user))),
        [torch.tensor(sorted(rows), dtype=torch.int64) for rows in rows_per_user],
        [torch.tensor([rows[i] for i in sorted(rows)]) for rows in rows_per_user],
        dense,
        [10] * len(rows_per_user),
    )


def _row(gradient, item: int) -> list[float]:  # type: ignore[no-untyped-def]
    return torch.zeros(NUM_ITEMS, DIM).index_add_(0, gradient.item_ids, gradient.item_rows)[item].tolist()


HONEST = [{2: [1.0, 1.0], 4: [0.5, 0.0]}, {2: [1.0, 1.0]}, {2: [1.0, 1.0], 5: [2.0, 2.0]}]


@pytest.mark.parametrize("defense", ["median", "trimmed-mean"])
def test_per_item_rules_match_fedavg_on_agreeing_users(defense: str) -> None:
    fedavg = _strategy("fedavg").aggregate(_updates(HONEST)).gradient
    robust = _strategy(defense).aggregate(_updates(HONEST)).gradient
    for item in (2, 4, 5):  # each row: the robust mean over its senders, times their number = the sum
        assert _row(robust, item) == pytest.approx(_row(fedavg, item))
    for name in fedavg.dense:
        assert torch.allclose(robust.dense[name], fedavg.dense[name])


def test_dense_median_zeroes_rows_few_users_sent() -> None:
    gradient = _strategy("median", aggregation="dense").aggregate(_updates(HONEST)).gradient
    assert _row(gradient, 2) == pytest.approx([3.0, 3.0])  # all three sent it
    assert _row(gradient, 4) == [0.0, 0.0] and _row(gradient, 5) == [0.0, 0.0]  # median of [x, 0, 0]


def test_per_item_median_resists_an_outlier_row() -> None:
    rows = [{2: [1.0, 1.0]}, {2: [1.2, 0.8]}, {2: [0.9, 1.1]}, {2: [100.0, -100.0]}]
    gradient = _strategy("median").aggregate(_updates(rows)).gradient
    # medians of [1.0, 1.2, 0.9, 100] and [1.0, 0.8, 1.1, -100]: 1.1 and 0.9, times the 4 senders
    assert _row(gradient, 2) == pytest.approx([4 * 1.1, 4 * 0.9])


@pytest.mark.parametrize("defense", ["median", "trimmed-mean", "krum"])
def test_per_item_scale_none_steps_by_the_estimate_itself(defense: str) -> None:
    # Spattack's reference code: a row moves by lr times its senders' mean (or median), not by their sum
    rows = [{2: [1.0, 1.0], 4: [0.5, 0.0]}, {2: [1.0, 1.0]}, {2: [1.0, 1.0], 5: [2.0, 2.0]}]
    scaled = _strategy(defense, tolerated_attackers=0).aggregate(_updates(rows)).gradient
    unscaled = _strategy(defense, tolerated_attackers=0, per_item_scale="none").aggregate(_updates(rows)).gradient
    assert _row(scaled, 2) == pytest.approx([3.0, 3.0]) and _row(unscaled, 2) == pytest.approx([1.0, 1.0])
    assert _row(unscaled, 4) == pytest.approx([0.5, 0.0]) and _row(unscaled, 5) == pytest.approx([2.0, 2.0])
    for name in scaled.dense:  # the dense part is aggregated over all users either way
        assert torch.allclose(unscaled.dense[name], scaled.dense[name])


@pytest.mark.parametrize("defense", ["median", "krum"])
def test_per_item_scale_with_dense_aggregation_is_refused_in_one_line(defense: str) -> None:
    config = make_config(defense=defense, aggregation="dense", per_item_scale="none")
    with pytest.raises(ConfigError, match="'per-item-scale' = 'none' needs aggregation = 'per-item', not 'dense'"):
        STRATEGIES.get(defense).check_run(config)
    STRATEGIES.get(defense).check_run(make_config(defense=defense, aggregation="dense"))


def test_krum_keeps_one_user_and_flags_the_rest() -> None:
    rows = [{2: [1.0, 1.0]}] * 6 + [{2: [50.0, 50.0]}]
    decision = _strategy("krum", tolerated_attackers=1).aggregate(_updates(rows, outliers={6: 30.0}))
    gradient = decision.gradient
    assert int((~decision.flagged).sum()) == 1 and bool(decision.flagged[6])
    assert _row(gradient, 2) == pytest.approx([7.0, 7.0])  # the kept user's row times U = 7


def test_multi_krum_and_bulyan_drop_the_outliers() -> None:
    rows = [{2: [1.0 + 0.01 * u, 1.0]} for u in range(9)] + [{2: [40.0, -40.0]}, {2: [-60.0, 30.0]}]
    for defense in ("multi-krum", "bulyan"):
        decision = _strategy(defense, tolerated_attackers=2).aggregate(_updates(rows, outliers={9: -5.0, 10: 9.0}))
        gradient = decision.gradient
        assert bool(decision.flagged[9]) and bool(decision.flagged[10]), defense
        assert _row(gradient, 2)[1] == pytest.approx(11.0), defense  # honest mean 1.0 times U = 11


def test_norm_bound_scales_large_updates_and_flags_them() -> None:
    rows = [{2: [0.3, 0.4]}, {2: [30.0, 40.0]}]
    decision = _strategy("norm-bound", norm_bound=1.0).aggregate(_updates(rows, dense_value=0.0))
    gradient = decision.gradient
    assert decision.flagged.tolist() == [False, True]
    assert _row(gradient, 2) == pytest.approx([0.3 + 0.6, 0.4 + 0.8])


def test_item_clip_bounds_every_row() -> None:
    gradient = (
        _strategy("item-clip", item_clip_limit=1.0).aggregate(_updates([{2: [3.0, 4.0]}, {2: [0.3, 0.4]}])).gradient
    )
    assert _row(gradient, 2) == pytest.approx([0.9, 1.2])


@pytest.mark.parametrize(
    ("ours", "flowers"), [("median", "flwr:FedMedian"), ("trimmed-mean", "flwr:FedTrimmedAvg"), ("krum", "flwr:Krum")]
)
def test_flower_strategies_plug_in_and_agree_with_ours_on_dense_inputs(ours: str, flowers: str) -> None:
    generator = torch.Generator().manual_seed(3)
    rows = [
        {
            i: torch.randn(2, generator=generator).tolist()
            for i in range(NUM_ITEMS)
            if torch.rand(1, generator=generator) < 0.7
        }
        or {0: [0.1, 0.1]}
        for _ in range(12)
    ]
    updates = _updates(rows)
    options = {"aggregation": "dense", "tolerated_attackers": 2, "trim_fraction": 0.2}
    mine = _strategy(ours, **options).aggregate(updates).gradient
    theirs = _strategy(flowers, **options).aggregate(updates).gradient
    for item in range(NUM_ITEMS):
        assert _row(mine, item) == pytest.approx(_row(theirs, item), abs=1e-5)
    for name in mine.dense:
        assert torch.allclose(mine.dense[name], theirs.dense[name], atol=1e-5)


def test_the_docs_own_defense_example_is_the_registered_rfa() -> None:
    from pathlib import Path

    project = Path(__file__).resolve().parents[1]
    page = (project / "docs" / "defenses.md").read_text()
    assert f"```python\n# strategies/rfa.py\n{(project / 'strategies' / 'rfa.py').read_text()}```" in page
    # what it does is tested in tests/test_general_rules.py


@pytest.mark.parametrize("defense", ["krum", "multi-krum", "bulyan"])
def test_per_item_selection_matches_fedavg_on_agreeing_users_and_drops_outlier_rows(defense: str) -> None:
    agreeing = [{2: [1.0, 1.0], 4: [0.5, 0.5]} for _ in range(9)]
    fedavg = _strategy("fedavg").aggregate(_updates(agreeing)).gradient
    robust = _strategy(defense, tolerated_attackers=2).aggregate(_updates(agreeing)).gradient
    for item in (2, 4):
        assert _row(robust, item) == pytest.approx(_row(fedavg, item))
    attacked = agreeing[:7] + [{2: [80.0, -80.0], 4: [0.5, 0.5]}, {2: [-60.0, 90.0], 4: [0.5, 0.5]}]
    gradient = _strategy(defense, tolerated_attackers=2).aggregate(_updates(attacked)).gradient
    assert _row(gradient, 2) == pytest.approx([9.0, 9.0])  # honest mean 1.0 times the 9 senders
    assert _row(gradient, 4) == pytest.approx([4.5, 4.5])


def test_per_item_groups_agree_with_the_dense_rules_on_one_group() -> None:
    from fedrec.robust import multi_krum
    from fedrec.robust.grouped import apply_by_bucket, multi_krum_groups

    generator = torch.Generator().manual_seed(2)
    rows = torch.randn(11, 3, generator=generator, dtype=torch.float64)
    padded = torch.cat([rows, torch.full((4, 3), float("nan"), dtype=torch.float64)])[None]
    for single, selected in ((True, 1), (False, 11 - 2)):
        grouped = apply_by_bucket(
            lambda r, c, single=single: multi_krum_groups(r, c, 2, single), padded, torch.tensor([11])
        )
        assert torch.allclose(grouped[0], multi_krum(rows, 2, selected)[0])
