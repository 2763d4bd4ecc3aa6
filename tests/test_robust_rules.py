"""Robust aggregation rules: hand-computed cases, and equality with Flower's own strategies."""

import pytest
import torch

from fedrec.robust import bulyan, clip_to_norm, coordinate_median, krum_scores, multi_krum, trimmed_mean
from fedrec.robust.krum import AppendedRowsDistances, pairwise_squared_distances, scores_from_distances
from strategies.flower_rule import flower_aggregate, make_flower_strategy

POINTS = torch.tensor([[0.0], [0.1], [0.2], [10.0], [11.0]])


def test_krum_by_hand() -> None:
    # f = 1: each point's 5 - 1 - 2 = 2 nearest. Point 0.1: 0.01 + 0.01 = 0.02 (the lowest).
    scores = krum_scores(POINTS, tolerated=1)
    assert scores[:3].tolist() == pytest.approx([0.05, 0.02, 0.05])
    assert scores[3].item() == pytest.approx(1.0 + 9.8**2)
    aggregate, kept = multi_krum(POINTS, tolerated=1, selected=1)
    assert kept.tolist() == [1] and aggregate.tolist() == pytest.approx([0.1])
    aggregate, kept = multi_krum(POINTS, tolerated=1, selected=3)
    assert sorted(kept.tolist()) == [0, 1, 2] and aggregate.tolist() == pytest.approx([0.1])


def test_coordinate_rules_by_hand() -> None:
    updates = torch.tensor([[1.0, 5.0], [2.0, 6.0], [10.0, -1.0], [3.0, 100.0], [-50.0, 7.0]])
    assert coordinate_median(updates).tolist() == [2.0, 6.0]
    assert coordinate_median(torch.tensor([[1.0], [4.0]])).tolist() == [2.5]
    # trim 0.2 of 5 -> drop one value at each end: [1, 2, 3] and [5, 6, 7]
    assert trimmed_mean(updates, 0.2).tolist() == pytest.approx([2.0, 6.0])
    assert trimmed_mean(updates, 0.0).tolist() == pytest.approx(updates.mean(0).tolist())


def test_bulyan_by_hand() -> None:
    # n = 7, f = 1: θ = 5 selected by repeated Krum (the two outliers go), β = 3 closest to the median.
    # (Outliers that sit close to each other could win the last, 3-update Krum round: repeated Krum
    # keeps f fixed while the set shrinks.)
    updates = torch.tensor([[0.0], [1.0], [2.0], [3.0], [4.0], [50.0], [-60.0]])
    aggregate, kept = bulyan(updates, tolerated=1)
    assert sorted(kept.tolist()) == [0, 1, 2, 3, 4]
    assert aggregate.tolist() == pytest.approx([2.0])  # median 2, closest three: 1, 2, 3
    with pytest.raises(ValueError, match="4f \\+ 3"):
        bulyan(updates[:6], tolerated=1)


def test_clipping_by_hand() -> None:
    clipped, was_clipped = clip_to_norm(torch.tensor([[3.0, 4.0], [0.3, 0.4]]), bound=1.0)
    assert clipped.flatten().tolist() == pytest.approx([0.6, 0.8, 0.3, 0.4])
    assert was_clipped.tolist() == [True, False]


LAYOUT = [("item-embedding", (5, 2)), ("mlp.0.weight", (3, 2)), ("mlp.0.bias", (3,))]


@pytest.fixture
def updates() -> torch.Tensor:
    generator = torch.Generator().manual_seed(0)
    honest = torch.randn(17, 19, generator=generator, dtype=torch.float64)
    attackers = 8 + 5 * torch.randn(3, 19, generator=generator, dtype=torch.float64)
    return torch.cat([honest, attackers])


@pytest.mark.parametrize("tolerated", [0, 3])
def test_krum_and_multikrum_equal_flowers(updates: torch.Tensor, tolerated: int) -> None:
    ours, _ = multi_krum(updates, tolerated, selected=1)
    theirs = flower_aggregate(make_flower_strategy("Krum", tolerated, 0.2), updates, LAYOUT)
    assert torch.allclose(ours, theirs)
    multi = make_flower_strategy("MultiKrum", tolerated, 0.2)
    multi.num_nodes_to_select = 7
    ours, _ = multi_krum(updates, tolerated, selected=7)
    assert torch.allclose(ours, flower_aggregate(multi, updates, LAYOUT))


def test_median_and_trimmed_mean_equal_flowers(updates: torch.Tensor) -> None:
    assert torch.allclose(
        coordinate_median(updates), flower_aggregate(make_flower_strategy("FedMedian", 0, 0.2), updates, LAYOUT)
    )
    for beta in (0.1, 0.2, 0.3):
        theirs = flower_aggregate(make_flower_strategy("FedTrimmedAvg", 0, beta), updates, LAYOUT)
        assert torch.allclose(trimmed_mean(updates, beta), theirs)


def test_bulyan_equals_flowers_where_both_select_the_same() -> None:
    # θ = n - 2f = 14 honest updates and 6 scattered outliers: iterative Krum (ours, the paper's) and
    # one-shot Multi-Krum (Flower's) must both select exactly the honest 14, so the aggregates agree.
    generator = torch.Generator().manual_seed(1)
    honest = torch.randn(14, 19, generator=generator, dtype=torch.float64)
    outliers = 10 * torch.randn(6, 19, generator=generator, dtype=torch.float64)
    updates = torch.cat([honest, outliers])
    ours, kept = bulyan(updates, tolerated=3)
    assert sorted(kept.tolist()) == list(range(14))
    theirs = flower_aggregate(make_flower_strategy("Bulyan", 3, 0.2), updates, LAYOUT)
    assert torch.allclose(ours, theirs)


def test_unknown_flower_strategy_lists_the_valid_ones() -> None:
    from fedrec.errors import ConfigError

    with pytest.raises(ConfigError, match="valid: .*Bulyan.*FedAvg.*Krum"):
        make_flower_strategy("Krumm", 1, 0.1)


def test_appended_rows_distances_equal_the_whole_matrix_and_its_krum_pick() -> None:
    generator = torch.Generator().manual_seed(5)
    fixed, appended = torch.randn(30, 200, generator=generator), torch.randn(4, 200, generator=generator)
    whole = pairwise_squared_distances(torch.cat([fixed, appended]))
    blocks = AppendedRowsDistances(fixed).with_rows(appended)
    torch.testing.assert_close(blocks, whole, rtol=1e-12, atol=1e-9)
    pick = int(torch.argmin(scores_from_distances(blocks, 4)))
    assert pick == int(torch.argmin(krum_scores(torch.cat([fixed, appended]), 4)))


def _blocks_written_out(fixed: torch.Tensor, appended: torch.Tensor) -> torch.Tensor:
    """The fixed rows followed by `appended`, each block's squared distances written out, rows doubled anew."""
    fixed, extra = fixed.double(), appended.double()
    fixed_norms, extra_norms = fixed.pow(2).sum(1), extra.pow(2).sum(1)
    fixed_block = (fixed_norms[:, None] + fixed_norms[None, :] - 2 * fixed @ fixed.T).clamp(min=0)
    cross = (fixed_norms[:, None] + extra_norms[None, :] - 2 * fixed @ extra.T).clamp(min=0)
    own = (extra_norms[:, None] + extra_norms[None, :] - 2 * extra @ extra.T).clamp(min=0)
    return torch.cat([torch.cat([fixed_block, cross], 1), torch.cat([cross.T, own], 1)])


@pytest.mark.parametrize(
    ("fixed_rows", "appended_rows", "dim"), [(2, 1, 7), (12, 3, 300), (25, 4, 64), (26, 1, 300), (90, 13, 4100)]
)
def test_appended_rows_distances_are_the_blocks_written_out_bit_for_bit(
    fixed_rows: int, appended_rows: int, dim: int
) -> None:
    generator = torch.Generator().manual_seed(fixed_rows)
    fixed = torch.randn(fixed_rows, dim, generator=generator) * (torch.rand(fixed_rows, dim, generator=generator) < 0.2)
    candidates = AppendedRowsDistances(fixed)
    assert torch.equal(candidates.fixed_block, pairwise_squared_distances(fixed))
    for scale in (1.0, 1e-3, 1e3):  # one cache, several candidate sets, as in the λ search
        appended = scale * torch.randn(appended_rows, dim, generator=generator)
        assert torch.equal(candidates.with_rows(appended), _blocks_written_out(fixed, appended))
    assert torch.equal(pairwise_squared_distances(appended), _blocks_written_out(appended, appended[:0]))
