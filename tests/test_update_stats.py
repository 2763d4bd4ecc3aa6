"""Per-epoch statistics of uploads: update norms by group and the net push on the target rows."""

import math

import numpy as np
import pandas as pd
import pytest
import torch

from experiments.plot_target_pushes import plot
from fedrec.reporting.update_stats import EpochUpdateStats, target_row_sum, user_update_norms
from fedrec.updates import UserUpdates


def _updates(user_ids: list[int], items: list[list[int]], rows: list[list[list[float]]]) -> UserUpdates:
    return UserUpdates.from_users(
        user_ids,
        [torch.tensor(i) for i in items],
        [torch.tensor(r) for r in rows],
        [{"w": torch.zeros(2)} for _ in user_ids],
        [1] * len(user_ids),
    )


def test_target_row_sum_adds_only_the_selected_users_target_rows():
    updates = _updates(
        [10, 11, 12],
        [[0, 7], [7], [3, 7]],
        [[[1.0, 1.0], [2.0, 0.0]], [[0.5, 0.5]], [[9.0, 9.0], [0.0, 4.0]]],
    )
    total, rows = target_row_sum(updates, torch.tensor([7, 3]), torch.tensor([True, False, True]))
    assert rows == 3
    assert torch.equal(total, torch.tensor([[2.0, 4.0], [9.0, 9.0]], dtype=torch.float64))


def test_epoch_stats_push_opposes_gradients_and_resets():
    stats = EpochUpdateStats((7,), malicious_ids=np.array([11]))
    # Two rounds: benign users 10, 12 pull item 7 down (positive gradient), attacker 11 pushes it up.
    stats.add(_updates([10, 11], [[7], [7]], [[[1.0, 0.0]], [[-3.0, 0.0]]]))
    is_malicious = stats.add(_updates([12], [[7, 1]], [[[1.0, 0.0], [5.0, 5.0]]]))
    assert is_malicious.tolist() == [False]
    benign, malicious = stats.push_rows()
    assert benign == {"group": "benign", "target-rows": 2, "push-norm": 2.0, "cosine-to-other": -1.0}
    assert malicious["group"] == "malicious" and malicious["target-rows"] == 1 and malicious["push-norm"] == 3.0
    norm_rows = {group: count for group, _, count in stats.norm_rows()}
    assert norm_rows == {"benign": 2, "malicious": 1}
    stats.reset()
    assert stats.push_rows() == [] and stats.norm_rows() == []


def test_epoch_stats_without_attackers_or_targets():
    updates = _updates([0, 1], [[2], [2]], [[[3.0, 4.0]], [[0.0, 0.0]]])
    no_attackers = EpochUpdateStats((2,), malicious_ids=np.array([], dtype=np.int64))
    no_attackers.add(updates)
    benign, malicious = no_attackers.push_rows()
    assert benign["push-norm"] == 5.0 and malicious["push-norm"] == 0.0 and math.isnan(benign["cosine-to-other"])
    group, quartiles, count = no_attackers.norm_rows()[0]
    assert (group, count) == ("benign", 2)
    assert quartiles["max"] == float(user_update_norms(updates).max())
    untargeted = EpochUpdateStats((), malicious_ids=np.array([1]))
    untargeted.add(updates)
    assert untargeted.push_rows() == []


def test_target_push_figure_reads_a_run_and_names_a_missing_file(tmp_path) -> None:
    run = tmp_path / "run"
    run.mkdir()
    pd.DataFrame({"epoch": [1, 2], "er@10": [0.5, 1.0], "recall@20": [0.01, 0.02]}).to_csv(
        run / "metrics.csv", index=False
    )
    with pytest.raises(SystemExit, match="target-pushes.csv not found"):
        plot([run], tmp_path / "figure.png")
    pd.DataFrame(
        {
            "epoch": [1, 1, 2, 2],
            "group": ["benign", "malicious"] * 2,
            "target-rows": [30, 6, 31, 6],
            "push-norm": [0.1, 0.3, 0.2, 0.1],
            "cosine-to-other": [-0.9, -0.9, -0.5, -0.5],
        }
    ).to_csv(run / "target-pushes.csv", index=False)
    assert plot([run], tmp_path / "figure.png").stat().st_size > 0
