"""The general robust-aggregation rules of the FL-security frameworks (RFA, Centered Clipping, Bucketing, SignGuard,
DnC, FoolsGold, FLAME, FLTrust, FLDetector): hand-computed cases for the core functions and the strategies, and
agreement with a published implementation on a case (the reference numbers were computed once by running that
implementation)."""

import numpy as np
import pytest
import torch

from app_config import make_config
from datasets import load_dataset
from fedrec.data.public import public_interactions
from fedrec.directory import UserDirectory
from fedrec.errors import ConfigError
from fedrec.models.base import ITEM_EMBEDDING
from fedrec.models.ncf import NeuralCF
from fedrec.robust.bucketing import bucket_means, bucket_of_users
from fedrec.robust.centered_clipping import centered_clipping
from fedrec.robust.dense import from_dense, to_dense
from fedrec.robust.dnc import dnc, dnc_scores
from fedrec.robust.flame import cosine_distances, majority_cluster, median_norm_clipping
from fedrec.robust.fldetector import fldetector_flags, gap_clusters, kmeans_1d, lbfgs_hvp
from fedrec.robust.fltrust import fltrust_weights
from fedrec.robust.foolsgold import foolsgold_weights
from fedrec.robust.geometric_median import geometric_median
from fedrec.robust.signguard import norm_filter, sign_features, signguard
from fedrec.training.local import Objective, compute_user_updates
from fedrec.training.sampling import user_samples
from fedrec.updates import UserUpdates
from strategies import STRATEGIES

NUM_ITEMS, DIM = 6, 2


def _strategy(defense: str, **overrides: object):  # type: ignore[no-untyped-def]
    config = make_config(defense=defense, embedding_dim=DIM, hidden_layers="3", **overrides)
    theta = NeuralCF(DIM, (3,)).init_theta(NUM_ITEMS, seed=0)
    return STRATEGIES.get(defense)(config, UserDirectory.from_nodes({1: np.arange(50)}), theta, (0,))


def _updates(rows_per_user: list[dict[int, list[float]]], dense: list[float] | None = None) -> UserUpdates:
    """Users with the given item rows; user k's MLP gradients all equal dense[k] (default 0)."""
    theta = NeuralCF(DIM, (3,)).init_theta(NUM_ITEMS, seed=0)
    values = dense or [0.0] * len(rows_per_user)
    return UserUpdates.from_users(
        list(range(len(rows_per_user))),
        [torch.tensor(sorted(rows), dtype=torch.int64) for rows in rows_per_user],
        [torch.tensor([rows[i] for i in sorted(rows)]) for rows in rows_per_user],
        [{name: torch.full_like(p, value) for name, p in theta.items() if name != ITEM_EMBEDDING} for value in values],
        [10] * len(rows_per_user),
    )


def _row(gradient, item: int) -> list[float]:  # type: ignore[no-untyped-def]
    return torch.zeros(NUM_ITEMS, DIM).index_add_(0, gradient.item_ids, gradient.item_rows)[item].tolist()


# RFA: geometric median


def test_weiszfeld_step_by_hand() -> None:
    # Start at the mean 2; distances 2, 2, 4 give weights 1/2, 1/2, 1/4: (0 + 0 + 6/4) / 1.25 = 1.2.
    median, distances = geometric_median(torch.tensor([[0.0], [0.0], [6.0]]), iterations=1, smoothing=1e-6)
    assert median.tolist() == pytest.approx([1.2])
    assert distances.tolist() == pytest.approx([1.2, 1.2, 4.8])
    # Symmetric points: the mean is already the median; padding (NaN) is ignored per group.
    nan = float("nan")
    grouped = torch.tensor(
        [[[0.0, 0.0], [2.0, 0.0], [0.0, 2.0], [2.0, 2.0]], [[1.0, 1.0], [3.0, 3.0], [nan, nan], [nan, nan]]]
    )
    assert geometric_median(grouped, iterations=5, smoothing=1e-6)[0].flatten().tolist() == pytest.approx(
        [1.0, 1.0, 2.0, 2.0]
    )


def test_geometric_median_matches_flpoison() -> None:
    # FLPoison (vio1etus/FLPoison, aggregators/rfa.py, smoothed_weiszfeld from v = 0, eps 1e-6, 500 iterations)
    # returns [1.3088491, 1.6679261, 0.58081853] on these points; both converge to the same median.
    points = torch.tensor([[1.0, 2.0, 0.5], [1.5, 1.0, 0.0], [0.5, 1.5, 1.0], [2.0, 2.5, 0.5], [40.0, -30.0, 25.0]])
    median, _ = geometric_median(points, iterations=500, smoothing=1e-6)
    assert median.tolist() == pytest.approx([1.3088491, 1.6679261, 0.58081853], abs=5e-3)


def test_rfa_strategy_per_item_and_dense() -> None:
    rows = [{2: [1.0, 1.0]}, {2: [1.0, 1.0]}, {2: [1.0, 1.0]}, {2: [30.0, -30.0]}]
    for aggregation in ("per-item", "dense"):
        decision = _strategy("rfa", aggregation=aggregation).aggregate(_updates(rows, dense=[0.5, 0.5, 0.5, 40.0]))
        # three equal points out of four: the median is theirs, times the 4 users (or senders)
        assert _row(decision.gradient, 2) == pytest.approx([4.0, 4.0], abs=1e-4), aggregation
        assert all(torch.allclose(g, torch.full_like(g, 2.0), atol=1e-4) for g in decision.gradient.dense.values())
        assert decision.flagged.tolist() == [False, False, False, True]


# Centered Clipping


def test_centered_clipping_by_hand() -> None:
    points = torch.tensor([[0.0], [1.0], [10.0]])
    # From 0 with tau 2: differences 0, 1, 10 -> 0, 1, 2; mean 1. Again from 1: -1, 0, 9 -> -1, 0, 2; 1 + 1/3.
    estimate, clipped = centered_clipping(points, torch.zeros(1), radius=2.0, iterations=1)
    assert estimate.tolist() == pytest.approx([1.0]) and clipped.tolist() == [False, False, True]
    estimate, clipped = centered_clipping(points, torch.zeros(1), radius=2.0, iterations=2)
    assert estimate.tolist() == pytest.approx([4 / 3]) and clipped.tolist() == [False, False, True]


ROUND_1 = [[1.0, 0.5], [0.5, 1.0], [1.5, 1.0], [20.0, -20.0]]
ROUND_2 = [[2.0, 1.0], [1.0, 2.0], [1.0, 1.0], [-30.0, 10.0]]
# FLPoison (vio1etus/FLPoison, aggregators/centeredclipping.py: momentum from 0 kept across rounds, tau 2,
# 2 iterations) returns these on ROUND_1 then ROUND_2.
FLPOISON_CC = ([1.3668201, 0.32712194], [0.7350204, 1.4439586])


def test_centered_clipping_matches_flpoison_over_two_rounds() -> None:
    center = torch.zeros(2)
    for points, expected in zip((ROUND_1, ROUND_2), FLPOISON_CC):
        center, _ = centered_clipping(torch.tensor(points), center, radius=2.0, iterations=2)
        assert center.tolist() == pytest.approx(expected, abs=1e-5)


def test_centered_clipping_strategy_keeps_its_center_across_rounds() -> None:
    for aggregation in ("dense", "per-item"):
        strategy = _strategy("centered-clipping", aggregation=aggregation, cc_radius=2.0, cc_iterations=2)
        for points, expected in zip((ROUND_1, ROUND_2), FLPOISON_CC):
            decision = strategy.aggregate(_updates([{3: row} for row in points]))
            assert _row(decision.gradient, 3) == pytest.approx([4 * value for value in expected], abs=1e-4)
            assert decision.flagged.tolist() == [False, False, False, True], aggregation
    # per item, a user whose MLP part is clipped is flagged too
    strategy = _strategy("centered-clipping", cc_radius=2.0, cc_iterations=1)
    decision = strategy.aggregate(_updates([{3: [0.1, 0.1]}] * 3, dense=[0.0, 0.0, 9.0]))
    assert decision.flagged.tolist() == [False, False, True]


# Bucketing


def test_bucket_means_by_hand() -> None:
    updates = _updates([{1: [1.0, 1.0]}, {1: [3.0, 3.0], 2: [2.0, 0.0]}, {2: [4.0, 4.0]}], dense=[1.0, 3.0, 7.0])
    buckets = bucket_means(updates, torch.tensor([0, 0, 1]))
    assert buckets.user_ids.tolist() == [0, 1] and buckets.item_indptr.tolist() == [0, 2, 3]
    assert buckets.item_ids.tolist() == [1, 2, 2]
    # bucket 0 (2 users): item 1 (1 + 3) / 2, item 2 (2 + 0) / 2 (the first user sent none); bucket 1 alone
    assert buckets.item_grads.flatten().tolist() == [2.0, 2.0, 1.0, 0.0, 4.0, 4.0]
    assert all(grads.reshape(2, -1)[:, 0].tolist() == [2.0, 7.0] for grads in buckets.dense_grads.values())
    assert buckets.num_samples.tolist() == [20, 10]
    bucket = bucket_of_users(7, 2, torch.Generator().manual_seed(0))
    assert sorted(torch.bincount(bucket).tolist()) == [1, 2, 2, 2]


def test_bucketing_in_front_of_fedavg_is_fedavg_and_in_front_of_krum_drops_the_attackers_bucket() -> None:
    rows = [{2: [1.0, 1.0], 4: [0.5, 0.0]}, {2: [1.0, 2.0]}, {2: [0.0, 1.0], 5: [2.0, 2.0]}, {2: [3.0, 1.0]}]
    fedavg = _strategy("fedavg").aggregate(_updates(rows, dense=[1.0, 2.0, 3.0, 4.0])).gradient
    bucketed = _strategy("bucketing", bucketing_rule="fedavg").aggregate(_updates(rows, dense=[1.0, 2.0, 3.0, 4.0]))
    for item in (2, 4, 5):  # the sum of the bucket means times U / B = 2 is the users' sum
        assert _row(bucketed.gradient, item) == pytest.approx(_row(fedavg, item))
    assert all(torch.allclose(bucketed.gradient.dense[name], fedavg.dense[name]) for name in fedavg.dense)
    assert bucketed.flagged is None
    honest = [{2: [1.0 + 0.01 * user, 1.0]} for user in range(9)]
    strategy = _strategy("bucketing", bucketing_rule="krum", aggregation="dense", tolerated_attackers=1)
    decision = strategy.aggregate(_updates([*honest, {2: [90.0, -90.0]}]))
    attacker_bucket = bucket_of_users(10, 2, torch.Generator().manual_seed(make_config().seed))
    assert bool(decision.flagged[9]) and int((~decision.flagged).sum()) == 2  # Krum keeps one bucket of two
    assert decision.flagged.tolist() == (attacker_bucket != attacker_bucket[~decision.flagged][0]).tolist()
    assert _row(decision.gradient, 2)[1] == pytest.approx(10.0)  # the kept bucket's mean 1.0 times U


# SignGuard


def test_signguard_filters_by_hand() -> None:
    kept, median = norm_filter(torch.tensor([1.0, 2.0, 3.0, 0.1, 10.0]), lower=0.1, upper=3.0)
    assert median == 2.0 and kept.tolist() == [True, True, True, False, False]  # 0.1 < 0.2 and 10 > 6
    window = torch.tensor([[1.0, -2.0, 0.0, 3.0], [0.0, 0.0, 0.0, -1.0]])
    # shares (+, 0, -): [2/4, 1/4, 1/4] and [0, 3/4, 1/4]; each column over its maximum
    features = sign_features(window)
    assert features.flatten().tolist() == pytest.approx([1.0, 1 / 3, 1.0, 0.0, 1.0, 1.0], abs=1e-6)


SIGNGUARD_CASE = [
    [
        -1.000599980354309,
        1.149399995803833,
        0.8629000186920166,
        0.5547000169754028,
        0.7727000117301941,
        0.5041999816894531,
        -1.0300999879837036,
        1.6700999736785889,
        0.7538999915122986,
        0.0,
        0.0,
        0.0,
    ],
    [
        -1.0527000427246094,
        -0.5347999930381775,
        0.9854000210762024,
        1.3476999998092651,
        -0.3278999924659729,
        0.7712000012397766,
        0.049400001764297485,
        0.35519999265670776,
        0.07909999787807465,
        0.0,
        0.0,
        0.0,
    ],
    [
        1.0784000158309937,
        0.906499981880188,
        -0.25839999318122864,
        0.7307000160217285,
        -0.9757000207901001,
        1.0566999912261963,
        0.23489999771118164,
        -0.7610999941825867,
        0.510699987411499,
        0.0,
        0.0,
        0.0,
    ],
    [
        0.9836999773979187,
        1.442199945449829,
        0.7081999778747559,
        -0.944100022315979,
        1.0551999807357788,
        1.0319000482559204,
        0.38749998807907104,
        1.038100004196167,
        1.6793999671936035,
        0.0,
        0.0,
        0.0,
    ],
    [
        -0.6793000102043152,
        2.000200033187866,
        1.381100058555603,
        -0.4004000127315521,
        -1.0372999906539917,
        -1.2883000373840332,
        -0.9056000113487244,
        1.3415000438690186,
        0.96670001745224,
        0.0,
        0.0,
        0.0,
    ],
    [
        1.1016000509262085,
        -0.7682999968528748,
        1.063599944114685,
        -0.40639999508857727,
        0.7103000283241272,
        0.9018999934196472,
        -1.4493999481201172,
        1.57260000705719,
        -0.33820000290870667,
        0.0,
        0.0,
        0.0,
    ],
    [
        -0.7684000134468079,
        0.9513999819755554,
        1.628499984741211,
        -1.3446999788284302,
        -0.8363999724388123,
        0.8156999945640564,
        0.8748999834060669,
        1.7618000507354736,
        0.7860000133514404,
        0.0,
        0.0,
        0.0,
    ],
    [
        -0.06430000066757202,
        -1.42330002784729,
        -0.12700000405311584,
        -1.3783999681472778,
        -0.5773000121116638,
        -1.3895000219345093,
        -1.065500020980835,
        -0.23160000145435333,
        -1.6246000528335571,
        -1.720900058746338,
        -0.9671000242233276,
        -0.8629999756813049,
    ],
    [
        -20.012300491333008,
        22.987499237060547,
        17.25860023498535,
        11.094099998474121,
        15.453300476074219,
        10.083499908447266,
        -20.60140037536621,
        33.402198791503906,
        15.077899932861328,
        0.0,
        0.0,
        0.0,
    ],
]
# FLPoison (vio1etus/FLPoison, aggregators/signguard.py with clustering "MeanShift" and selection_fraction 1.0, so
# its window is every coordinate) keeps users 0-6 of SIGNGUARD_CASE and returns this mean of their clipped updates.
FLPOISON_SIGNGUARD = [-0.03422422, 0.7033987, 0.88133144, -0.05153048, -0.07236543, 0.55229104, -0.2574582]
FLPOISON_SIGNGUARD += [0.9675848, 0.6162508, 0.0, 0.0, 0.0]


def test_signguard_matches_flpoison() -> None:
    matrix = torch.tensor(SIGNGUARD_CASE)
    kept, clip = signguard(matrix, 0.1, 3.0, fraction=1.0, generator=torch.Generator().manual_seed(0))
    assert kept.tolist() == [True] * 7 + [False, False]  # the sign-flipped user, and the huge one by its norm
    mean = (matrix * clip[:, None].float())[kept].mean(0)
    assert mean.tolist() == pytest.approx(FLPOISON_SIGNGUARD, abs=1e-5)


def test_signguard_strategy_flags_the_sign_flipper() -> None:
    rows = [{1: [1.0, 0.8 + 0.1 * user], 2: [0.5, 0.6]} for user in range(6)] + [{1: [-1.0, -0.9], 2: [-0.5, -0.6]}]
    dense = [0.1] * 6 + [-0.1]
    decision = _strategy("signguard", signguard_coordinates=1.0).aggregate(_updates(rows, dense=dense))
    assert decision.flagged.tolist() == [False] * 6 + [True]
    assert _row(decision.gradient, 2)[0] > 0  # the flipped row is out of the mean


# DnC


def test_dnc_scores_by_hand() -> None:
    # Centred on their mean (1, 0): (-1, 0), (-1, 0), (2, 0); the top singular vector is (1, 0), scores 1, 1, 4.
    scores = dnc_scores(torch.tensor([[0.0, 0.0], [0.0, 0.0], [3.0, 0.0]]))
    assert scores.tolist() == pytest.approx([1.0, 1.0, 4.0])
    kept = dnc(torch.tensor([[0.0, 0.0], [0.0, 0.0], [3.0, 0.0]]), 1, 1, 2, 1.0, torch.Generator().manual_seed(0))
    assert kept.tolist() == [True, True, False]


DNC_CASE = [
    [2.041, -2.556, 0.418, -0.568, -0.453, -0.216],
    [-2.02, -0.232, -0.865, 3.323, 0.226, -0.353],
    [-0.281, -0.668, -1.055, -0.391, 0.482, -0.239],
    [0.958, -0.2, 0.024, 1.546, 0.545, -0.505],
    [-0.183, 0.541, 1.935, -0.27, -0.244, 1.002],
    [-0.886, -0.292, 0.883, 0.58, 0.092, 0.67],
    [-2.828, 1.021, -0.96, -1.669, 0.276, 0.701],
    [-0.445, -1.076, 0.026, -0.053, 1.406, 0.747],
    [4.194, -2.888, 3.794, -4.926, 4.584, -3.417],
    [3.785, -4.783, 4.229, -6.494, 4.69, -3.509],
]
# FLPoison (vio1etus/FLPoison, aggregators/dnc.py with subsample_frac 1.0, num_iters 1, fliter_frac 1.0, f = 2) keeps
# users 0-7 of DNC_CASE with these outlier scores.
FLPOISON_DNC_SCORES = [
    0.02821,
    22.970856,
    3.159397,
    3.936361,
    3.175362,
    6.004861,
    9.53071,
    2.198267,
    60.991879,
    87.963336,
]


def test_dnc_matches_flpoison() -> None:
    matrix = torch.tensor(DNC_CASE)
    assert dnc_scores(matrix).tolist() == pytest.approx(FLPOISON_DNC_SCORES, abs=1e-5)
    kept = dnc(matrix, 2, 1, 6, 1.0, torch.Generator().manual_seed(0))
    assert kept.tolist() == [True] * 8 + [False, False]


def test_weighted_rules_average_per_item_over_the_kept_senders() -> None:
    # DnC with f = 1 drops user 3 (far along the top direction); per item, each row is the mean of its kept
    # senders times all its senders: item 2 (users 0, 1, 3) -> (1 + 3) / 2 * 3; item 4 (users 2, 3) -> 0.5 * 2.
    rows = [{2: [1.0, 1.0]}, {2: [3.0, 3.0]}, {4: [0.5, 0.5]}, {2: [60.0, -60.0], 4: [70.0, 70.0]}]
    decision = _strategy("dnc", tolerated_attackers=1).aggregate(_updates(rows, dense=[1.0, 1.0, 1.0, 1.0]))
    assert decision.flagged.tolist() == [False, False, False, True]
    assert _row(decision.gradient, 2) == pytest.approx([6.0, 6.0]) and _row(decision.gradient, 4) == [1.0, 1.0]
    assert all(torch.allclose(g, torch.full_like(g, 4.0)) for g in decision.gradient.dense.values())
    dense = _strategy("dnc", tolerated_attackers=1, aggregation="dense").aggregate(_updates(rows)).gradient
    assert _row(dense, 2) == pytest.approx([4 / 3 * 4, 4 / 3 * 4])  # (1 + 3 + 0) / 3 kept users, times U = 4


# FoolsGold


def test_foolsgold_weights_by_hand() -> None:
    # Two equal histories (cosine 1) get 1 - 1 = 0 -> logit -inf -> 0; the third (cosine 0 with both) gets
    # 1 -> 0.99 -> ln 99 + 0.5 > 1 -> 1.
    assert foolsgold_weights(torch.tensor([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]])).tolist() == [0.0, 0.0, 1.0]
    # Evenly similar clients (cosines 0.71, 0.71, 0): each 1 - 0.71, all the largest -> 1.
    assert foolsgold_weights(torch.tensor([[1.0, 0.0], [1.0, 1.0], [0.0, 1.0]])).tolist() == [1.0, 1.0, 1.0]


FOOLSGOLD_CASE = [
    [-0.802, -1.324, -0.248, 0.42, 1.136, 0.11],
    [-0.553, -0.785, 0.749, 1.635, 0.273, -1.233],
    [-0.958, 1.6, 0.203, -1.732, -0.084, -1.163],
    [-0.629, -0.488, -0.713, 0.553, -0.063, -0.589],
    [0.41, 0.83, -1.643, -0.257, -0.981, -0.173],
    [0.936, 2.001, -1.002, 0.485, -0.052, 0.98],
    [0.945, 1.932, -0.989, 0.445, 0.059, 1.036],
    [0.9, 2.014, -1.055, 0.502, 0.002, 0.901],
]
# FLPoison (vio1etus/FLPoison, aggregators/foolsgold.py: the pardoning and logit, here on every coordinate) gives
# these weights for the histories of FOOLSGOLD_CASE (three sybils last).
FLPOISON_FOOLSGOLD = [0.63698805, 0.40011811, 1.0, 0.40011811, 1.0, 0.0, 0.0, 0.0]


def test_foolsgold_matches_flpoison() -> None:
    weights = foolsgold_weights(torch.tensor(FOOLSGOLD_CASE))
    assert weights.tolist() == pytest.approx(FLPOISON_FOOLSGOLD, abs=1e-4)


def test_foolsgold_strategy_weighs_by_history() -> None:
    strategy = _strategy("foolsgold", aggregation="dense")
    decision = strategy.aggregate(_updates([{1: [1.0, 0.0]}, {1: [0.0, 1.0]}, {1: [1.0, 0.0]}]))
    assert decision.flagged.tolist() == [True, False, True]  # the two equal ones weigh 0
    assert _row(decision.gradient, 1) == pytest.approx([0.0, 3.0])  # user 1's update times U = 3
    # the next round compares histories: user 0's [1, 0] + [0, 1] is no longer user 2's [1, 0] + [1, 0]
    decision = strategy.aggregate(_updates([{1: [0.0, 1.0]}, {1: [0.0, 1.0]}, {1: [1.0, 0.0]}]))
    assert strategy.history[0][2:4].tolist() == [1.0, 1.0] and strategy.history[2][2:4].tolist() == [2.0, 0.0]
    assert decision.flagged.tolist() == [False, False, False]


# FLAME

FLAME_CASE = [[1.0, 0.0], [2.0, 0.1], [3.0, 0.0], [1.0, 0.05], [0.5, 0.0], [-1.0, 0.0], [0.0, 1.0]]


def test_flame_steps_by_hand() -> None:
    distances = cosine_distances(torch.tensor([[1.0, 0.0], [0.0, 2.0], [-3.0, 0.0]]))
    assert distances.flatten().tolist() == pytest.approx([0.0, 1.0, 2.0, 1.0, 0.0, 1.0, 2.0, 1.0, 0.0])
    # five updates along one direction, one opposite, one orthogonal: the majority cluster is the five
    assert majority_cluster(torch.tensor(FLAME_CASE)).tolist() == [True] * 5 + [False, False]
    clip, bound = median_norm_clipping(torch.tensor([[3.0, 4.0], [0.0, 1.0], [0.0, 2.0]]))
    assert bound == 2.0 and clip.tolist() == pytest.approx([0.4, 1.0, 1.0])  # norms 5, 1, 2


def test_flame_strategy_clips_averages_and_adds_seeded_noise() -> None:
    rows = [{1: row} for row in FLAME_CASE]
    decision = _strategy("flame", aggregation="dense", flame_noise=0.0).aggregate(_updates(rows))
    assert decision.flagged.tolist() == [False] * 5 + [True, True]
    # norms 1, 2.0025, 3, 1.00125, 0.5, 1, 1: median 1; admitted rows clipped to norm 1, averaged, times U = 7
    admitted = torch.tensor(FLAME_CASE[:5])
    expected = (admitted / admitted.norm(dim=1, keepdim=True).clamp(min=1.0)).mean(0) * 7
    assert _row(decision.gradient, 1) == pytest.approx(expected.tolist(), abs=1e-5)
    noisy = [_strategy("flame", flame_noise=0.5).aggregate(_updates(rows)).gradient for _ in range(2)]
    assert _row(noisy[0], 1) == _row(noisy[1], 1) != pytest.approx(expected.tolist(), abs=1e-3)  # same seed


# FLTrust


def test_fltrust_weights_by_hand() -> None:
    # reference (0, 2): cosines 0.8, -0.8, 1, 0 (a zero update); rescaled to norm 2: factors 2/5, 2/5, 2
    matrix = torch.tensor([[3.0, 4.0], [-3.0, -4.0], [0.0, 1.0], [0.0, 0.0]])
    trust, scale = fltrust_weights(matrix, torch.tensor([0.0, 2.0]))
    assert trust.tolist() == pytest.approx([0.8, 0.0, 1.0, 0.0])
    assert scale[:3].tolist() == pytest.approx([0.4, 0.4, 2.0])


def _fltrust(**overrides: object):  # type: ignore[no-untyped-def]
    """FLTrust on the synthetic data (300 users, 400 items), NCF d = 2, 10% of the interactions public."""
    settings = {"public_fraction": 0.1, **overrides}
    config = make_config(defense="fltrust", embedding_dim=DIM, hidden_layers="3", **settings)
    theta = NeuralCF(DIM, (3,)).init_theta(400, seed=0)
    return STRATEGIES.get("fltrust")(config, UserDirectory.from_nodes({1: np.arange(300)}), theta, (0,))


def _honest_updates(strategy, users: list[int]) -> UserUpdates:  # type: ignore[no-untyped-def]
    """The users' honest updates on the strategy's Θ from all their training items."""
    dataset = load_dataset(strategy.config)
    samples = [user_samples(user, dataset.train_items(user), dataset.num_items, 4, 0, 0) for user in users]
    embeddings = strategy.model.init_user_embeddings(np.array(users), 0)
    objective = Objective.of(strategy.config)
    return compute_user_updates(strategy.model, strategy.theta, np.array(users), embeddings, samples, objective).updates


def test_fltrust_root_data_is_the_attackers_public_share() -> None:
    strategy = _fltrust()
    public = public_interactions(load_dataset(strategy.config), 0.1, strategy.config.seed)
    assert strategy.root_users.tolist() == np.flatnonzero(np.diff(public.indptr)).tolist()
    assert sum(len(items) for items in strategy.root_items) == public.nnz > 0


def test_fltrust_strategy_weighs_by_trust_and_a_sign_flipped_user_gets_none() -> None:
    strategy, twin = _fltrust(aggregation="dense"), _fltrust(aggregation="dense")
    updates = _honest_updates(strategy, [0, 1, 2, 3, 4]).scaled(torch.tensor([1.0, 1.0, 1.0, 1.0, -1.0]))
    matrix = to_dense(updates, strategy.theta).double()
    reference = twin.reference_update().double()  # the same root data and Θ: the same reference
    cosine = matrix @ reference / (matrix.norm(dim=1) * reference.norm())
    assert (cosine[:4] > 0).all() and cosine[4] < 0  # user 4 sent the negative of its honest update
    decision = strategy.aggregate(updates)
    assert decision.flagged.tolist() == [False, False, False, False, True]
    rescaled = matrix * (reference.norm() / matrix.norm(dim=1))[:, None]
    expected = (cosine[:4, None] * rescaled[:4]).sum(0) / cosine[:4].sum() * 5
    got = torch.cat([decision.gradient.item_rows.flatten(), *[g.flatten() for g in decision.gradient.dense.values()]])
    assert got.double().tolist() == pytest.approx(expected.tolist(), rel=1e-4, abs=1e-7)


def test_fltrust_says_in_one_line_what_it_lacks() -> None:
    with pytest.raises(ConfigError, match="public-fraction > 0"):
        _fltrust(public_fraction=0.0)
    with pytest.raises(ConfigError, match="embedding models only"):
        config = make_config(defense="fltrust", model="sasrec", split="leave-last-out", public_fraction=0.1)
        STRATEGIES.get("fltrust")(config, UserDirectory.from_nodes({1: np.arange(300)}), {}, (0,))


# FLDetector


def test_lbfgs_hvp_recovers_a_known_hessian() -> None:
    # f(w) = w^T A w / 2 has gradient A w: the pairs (Δw, Δg = A Δw). Along A's eigenvectors, BFGS from σ I recovers
    # A exactly: diag(2, 5) from the unit steps; σ = Δg_2·Δw_2 / Δw_2·Δw_2 = 5.
    steps = torch.eye(2)
    assert lbfgs_hvp(steps, steps * torch.tensor([2.0, 5.0]), torch.tensor([[1.0, 1.0], [3.0, -1.0]])).tolist() == [
        [2.0, 5.0],
        [6.0, -5.0],
    ]
    # the same Hessian rotated by 30 degrees, stepped along its eigenvectors q1, q2
    q = torch.tensor([[3**0.5 / 2, -0.5], [0.5, 3**0.5 / 2]]).double()
    hessian = q @ torch.diag(torch.tensor([2.0, 5.0]).double()) @ q.T
    got = lbfgs_hvp(q.T, q.T @ hessian, torch.tensor([[1.0, 1.0]]))
    assert got[0].tolist() == pytest.approx((hessian @ torch.tensor([1.0, 1.0]).double()).tolist())
    # one dimension: H = Δg / Δw = 1.5 / 0.5 = 3, so H·2 = 6
    assert lbfgs_hvp(torch.tensor([[0.5]]), torch.tensor([[1.5]]), torch.tensor([[2.0]])).item() == pytest.approx(6.0)
    # any steps: the approximation meets the secant condition of the newest pair, H Δw_N = Δg_N
    generator = torch.Generator().manual_seed(0)
    root = torch.randn(5, 5, generator=generator, dtype=torch.float64)
    spd = root @ root.T + 5 * torch.eye(5, dtype=torch.float64)
    weight_diffs = torch.randn(3, 5, generator=generator, dtype=torch.float64)
    newest = lbfgs_hvp(weight_diffs, weight_diffs @ spd, weight_diffs[-1:])
    assert newest[0].tolist() == pytest.approx((spd @ weight_diffs[-1]).tolist())


def test_fldetector_flags_the_high_cluster_only_when_the_gap_statistic_sees_two() -> None:
    # exact 1-D k-means: {0, 1, 10, 11} in one cluster around 5.5 (W = 2 * 5.5^2 + 2 * 4.5^2 = 101), in two {0, 1},
    # {10, 11} (W = 4 * 0.5^2 = 1), in three (W = 0.5) and four (0)
    dispersion, labels = kmeans_1d(np.array([10.0, 0.0, 11.0, 1.0]), 4)
    assert dispersion.tolist() == pytest.approx([101.0, 1.0, 0.5, 0.0]) and labels.tolist() == [1, 0, 1, 0]
    scores = np.array([1.0, 1.02, 0.98, 1.01, 0.99, 1.0, 1.03, 0.97, 4.0, 4.2])
    assert gap_clusters(scores, np.random.default_rng(0)) >= 2
    assert fldetector_flags(scores, np.random.default_rng(0)).tolist() == [False] * 8 + [True, True]
    even = np.linspace(1.0, 2.0, 20)  # no structure: one cluster, nobody flagged
    assert gap_clusters(even, np.random.default_rng(0)) == 1
    assert not fldetector_flags(even, np.random.default_rng(0)).any()
    assert not fldetector_flags(np.ones(6), np.random.default_rng(0)).any()


def test_fldetector_strategy_scores_returning_users_and_drops_the_unpredictable_one() -> None:
    # Honest user i's update is the gradient of |w - c_i|^2 / 2 at the round's Θ: w - c_i (Hessian I), which L-BFGS
    # predicts exactly; user 9 sends noise. Rounds 0 and 1: no L-BFGS pair yet, so no scores and no flags.
    strategy = _strategy("fldetector", aggregation="dense")
    size = NUM_ITEMS * DIM + sum(p.numel() for name, p in strategy.theta.items() if name != ITEM_EMBEDDING)
    generator = torch.Generator().manual_seed(1)
    centers = torch.randn(10, size, generator=generator)
    for round_ in range(4):
        vectors = strategy.flat_theta() - centers
        vectors[9] = torch.randn(size, generator=generator)
        updates = from_dense(vectors, torch.arange(10), torch.full((10,), 10), strategy.theta)
        decision = strategy.aggregate(updates)
        assert decision.flagged.tolist() == [False] * 9 + [round_ >= 2]
        if round_ == 3:
            got = torch.cat(
                [decision.gradient.item_rows.flatten(), *[g.flatten() for g in decision.gradient.dense.values()]]
            )
            assert got.tolist() == pytest.approx((vectors[:9].mean(0) * 10).tolist(), abs=1e-5)
        strategy.server_step(decision.gradient)
    assert len(strategy.weight_diffs) == 3 and strategy.distances[0] and 9 in strategy.distances
    # a user seen for the first time has no score and is kept
    newcomer = from_dense(strategy.flat_theta()[None] * 100, torch.tensor([42]), torch.tensor([10]), strategy.theta)
    assert strategy.aggregate(newcomer).flagged.tolist() == [False] and 42 not in strategy.distances


# Realistic shapes: ML-100K's 1682 items, d = 8, NCF 8,8, a round of 64 users with 20-150 items each


@pytest.mark.parametrize("aggregation", ["per-item", "dense"])
def test_every_new_rule_aggregates_a_realistic_round(aggregation: str) -> None:
    num_items, dim, num_users = 1682, 8, 64
    theta = NeuralCF(dim, (8, 8)).init_theta(num_items, seed=0)
    generator = torch.Generator().manual_seed(0)
    ids = [
        torch.unique(
            torch.randint(0, num_items, (int(torch.randint(20, 150, (1,), generator=generator)),), generator=generator)
        )
    ]
    ids += [torch.unique(torch.randint(0, num_items, (60,), generator=generator)) for _ in range(num_users - 1)]
    dense = [{name: 0.01 * torch.randn(p.shape, generator=generator) for name, p in theta.items()} for _ in ids]
    updates = UserUpdates.from_users(
        list(range(num_users)),
        ids,
        [0.01 * torch.randn(len(items), dim, generator=generator) for items in ids],
        [{name: grads for name, grads in user.items() if name != ITEM_EMBEDDING} for user in dense],
        [10] * num_users,
    )
    for defense in ("rfa", "centered-clipping", "bucketing", "signguard", "dnc", "foolsgold", "flame", "fldetector"):
        config = make_config(defense=defense, embedding_dim=dim, hidden_layers="8,8", aggregation=aggregation)
        strategy = STRATEGIES.get(defense)(config, UserDirectory.from_nodes({1: np.arange(num_users)}), theta, (0,))
        decision = strategy.aggregate(updates)
        gradient = decision.gradient
        assert decision.flagged is not None and decision.flagged.shape == (num_users,), defense
        assert torch.isfinite(gradient.item_rows).all() and gradient.item_rows.shape[1] == dim, defense
        assert all(torch.isfinite(g).all() and g.shape == theta[name].shape for name, g in gradient.dense.items())
