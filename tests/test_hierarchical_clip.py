"""PSMU's hierarchical gradient clipping: hand-computed cases of both levels, and its detection in a run."""

import json
import math
from pathlib import Path

import pandas as pd
import torch

from fedrec.robust.hierarchical_clipping import hierarchical_clip
from fedrec.updates import UserUpdates
from tests.conftest import SMALL_RUN
from tests.in_process_grid import run_server_app


def _updates() -> UserUpdates:
    """User 0: rows (3, 4) and (0, 1); user 1: (0.3, 0.4); user 2: four rows (0.5, 0.5) and a dense gradient (1)."""
    return UserUpdates.from_users(
        [0, 1, 2],
        [torch.tensor([0, 1]), torch.tensor([0]), torch.tensor([0, 1, 2, 3])],
        [torch.tensor([[3.0, 4.0], [0.0, 1.0]]), torch.tensor([[0.3, 0.4]]), torch.full((4, 2), 0.5)],
        [{"bias": torch.tensor([0.0])}, {"bias": torch.tensor([0.0])}, {"bias": torch.tensor([1.0])}],
        [2, 1, 4],
    )


def test_rows_are_clipped_first_then_each_clients_whole_update() -> None:
    clipped, flagged = hierarchical_clip(_updates(), item_bound=2.0, client_bound=2.0)
    # User 0: (3, 4) has norm 5 -> (1.2, 1.6); whole norm sqrt(1.2² + 1.6² + 1²) = sqrt(5) > 2 -> times 2/sqrt(5).
    shrink = 2 / math.sqrt(5)
    torch.testing.assert_close(clipped.item_grads[:2], torch.tensor([[1.2, 1.6], [0.0, 1.0]]) * shrink)
    # User 1: norm 0.5, under both bounds: unchanged.
    torch.testing.assert_close(clipped.item_grads[2], torch.tensor([0.3, 0.4]))
    # User 2: rows of norm 0.707 pass level 1; whole norm sqrt(4 * 0.5 + 1²) = sqrt(3) <= 2: unchanged.
    torch.testing.assert_close(clipped.item_grads[3:], torch.full((4, 2), 0.5))
    assert flagged.tolist() == [True, False, False]
    # A client bound of 1: user 2's whole update (dense gradient included) is scaled by 1/sqrt(3).
    clipped, flagged = hierarchical_clip(_updates(), item_bound=2.0, client_bound=1.0)
    torch.testing.assert_close(clipped.item_grads[3:], torch.full((4, 2), 0.5 / math.sqrt(3)))
    torch.testing.assert_close(clipped.dense_grads["bias"][2], torch.tensor([1 / math.sqrt(3)]))
    assert flagged.tolist() == [True, False, True]


def test_a_loose_client_bound_leaves_the_row_level_alone() -> None:
    clipped, flagged = hierarchical_clip(_updates(), item_bound=1.0, client_bound=100.0)
    torch.testing.assert_close(clipped.item_grads[0], torch.tensor([0.6, 0.8]))
    torch.testing.assert_close(clipped.item_grads[1:], _updates().item_grads[1:])
    assert flagged.tolist() == [True, False, False]


def test_a_run_reports_which_clients_hierarchical_clipping_flags(tmp_path: Path) -> None:
    """Spattack_L's N(0, 1) rows (norm about sqrt(8)) all exceed a row bound of 1; benign BCE rows do not."""
    overrides = {
        **SMALL_RUN,
        "attack": "spattack-l",
        "malicious-fraction": 0.05,
        "defense": "hierarchical-clip",
        "hgc-item-bound": 1.0,
        "hgc-client-bound": 10.0,
        "results-dir": str(tmp_path),
        "run-name": "hgc",
    }
    run_server_app(overrides)
    assert json.loads((tmp_path / "hgc" / "summary.json").read_text())["status"] == "completed"
    table = pd.read_csv(tmp_path / "hgc" / "metrics.csv")
    assert table["detection-recall"].tolist() == [1.0, 1.0]
    assert table["detection-precision"].tolist() == [1.0, 1.0]
