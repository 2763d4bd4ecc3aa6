"""Central DP with fixed server-side clipping (`defense = "central-dp"`, Flower's own wrapper): the clipping checked by
hand, the noise's scale and reach, reproducibility, and the settings it refuses."""

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from app_config import make_config
from fedrec.config import RunConfig
from fedrec.directory import UserDirectory
from fedrec.errors import ConfigError
from fedrec.models.base import ITEM_EMBEDDING
from fedrec.models.ncf import NeuralCF
from fedrec.training.server_step import ThetaGradient
from fedrec.updates import UserUpdates
from strategies import STRATEGIES
from tests.conftest import SMALL_RUN
from tests.in_process_grid import run_server_app

NUM_ITEMS, DIM, HIDDEN = 400, 4, "3"


def _theta() -> dict[str, torch.Tensor]:
    return NeuralCF(DIM, (3,)).init_theta(NUM_ITEMS, seed=0)


def _strategy(**overrides: object):  # type: ignore[no-untyped-def]
    config = make_config(defense="central-dp", embedding_dim=DIM, hidden_layers=HIDDEN, **overrides)
    return STRATEGIES.get("central-dp")(config, UserDirectory.from_nodes({1: np.arange(50)}), _theta(), (0,))


def _updates() -> UserUpdates:
    """User 0: item 0's row (3, 4, 0, 0), MLP gradients 0 (norm 5); user 1: item 1's row (0.3, 0.4, 0, 0) (norm 0.5);
    user 2: item 2's row (1, 1, 1, 1) and every MLP gradient 1."""
    theta = _theta()
    rows = [[3.0, 4.0, 0.0, 0.0], [0.3, 0.4, 0.0, 0.0], [1.0, 1.0, 1.0, 1.0]]
    dense = [0.0, 0.0, 1.0]
    return UserUpdates.from_users(
        [0, 1, 2],
        [torch.tensor([user]) for user in range(3)],
        [torch.tensor([row]) for row in rows],
        [{name: torch.full_like(p, value) for name, p in theta.items() if name != ITEM_EMBEDDING} for value in dense],
        [10, 10, 10],
    )


def _dense(gradient: ThetaGradient) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    rows = torch.zeros(NUM_ITEMS, DIM).index_add_(0, gradient.item_ids, gradient.item_rows)
    return rows, gradient.dense


def test_without_noise_it_sums_the_updates_clipped_by_hand_and_flags_the_clipped_users() -> None:
    aggregate = _strategy(central_dp_clip=2.0, central_dp_noise=0.0).aggregate(_updates())
    rows, dense = _dense(aggregate.gradient)
    mlp_size = sum(p.numel() for name, p in _theta().items() if name != ITEM_EMBEDDING)
    user2_norm = math.sqrt(4 + mlp_size)  # four ones in its row, a one in every MLP coordinate
    assert user2_norm > 2.0
    # User 0 (norm 5) is scaled by 2/5, user 1 (norm 0.5) is not, user 2 by 2/user2_norm.
    torch.testing.assert_close(rows[0], torch.tensor([1.2, 1.6, 0.0, 0.0]))
    torch.testing.assert_close(rows[1], torch.tensor([0.3, 0.4, 0.0, 0.0]))
    torch.testing.assert_close(rows[2], torch.full((DIM,), 2.0 / user2_norm))
    assert rows[3:].abs().max() == 0
    for values in dense.values():
        torch.testing.assert_close(values, torch.full_like(values, 2.0 / user2_norm))
    assert aggregate.flagged.tolist() == [True, False, True]


def test_the_noise_has_std_z_times_c_on_the_sum_and_covers_rows_nobody_sent() -> None:
    clean = _strategy(central_dp_clip=2.0, central_dp_noise=0.0).aggregate(_updates())
    noisy = _strategy(central_dp_clip=2.0, central_dp_noise=0.5).aggregate(_updates())
    clean_rows, clean_dense = _dense(clean.gradient)
    noisy_rows, noisy_dense = _dense(noisy.gradient)
    noise = torch.cat(
        [(noisy_rows - clean_rows).flatten(), *[(noisy_dense[n] - clean_dense[n]).flatten() for n in clean_dense]]
    )
    # Flower's std on the mean of n = 3 users is z·C/n; times n, z·C = 1.0 on the sum. Over 1,600+ coordinates the
    # sample std is within 10% of it.
    assert noise.numel() > 1600
    assert noise.std().item() == pytest.approx(1.0, rel=0.1)
    assert noise.mean().item() == pytest.approx(0.0, abs=0.1)
    assert (noisy_rows[3:] != 0).all()  # items no user sent are noised too


def test_the_noise_is_seeded_by_the_run_and_leaves_numpys_global_generator_alone() -> None:
    np.random.seed(123)
    before = np.random.get_state()[1].copy()
    first = _strategy(central_dp_noise=1.0, seed=7)
    second = _strategy(central_dp_noise=1.0, seed=7)
    a1, a2 = first.aggregate(_updates()), first.aggregate(_updates())
    b1 = second.aggregate(_updates())
    torch.testing.assert_close(a1.gradient.item_rows, b1.gradient.item_rows)
    assert not torch.equal(a1.gradient.item_rows, a2.gradient.item_rows)  # a fresh draw every round
    other = _strategy(central_dp_noise=1.0, seed=8).aggregate(_updates())
    assert not torch.equal(a1.gradient.item_rows, other.gradient.item_rows)
    assert (np.random.get_state()[1] == before).all()


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"central_dp_clip": 0.0}, "'central-dp-clip' must be > 0"),
        ({"central_dp_noise": -1.0}, "central-dp-noise"),
    ],
)
def test_settings_it_cannot_honour_are_one_line_errors(overrides: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        STRATEGIES.get("central-dp").check_run(make_config(defense="central-dp", **overrides))


def test_it_refuses_a_fine_tuning_that_freezes_entries() -> None:
    # Built past validation: a real prompt-only run also needs a checkpoint, which this check does not read.
    frozen = RunConfig({**dict(make_config(defense="central-dp")._values), "fine-tune": "prompt-only"})
    with pytest.raises(ConfigError, match="would move the entries fine-tune = 'prompt-only' freezes"):
        STRATEGIES.get("central-dp").check_run(frozen)


def test_a_run_with_a_bound_no_update_reaches_and_no_noise_trains_as_fedavg(tmp_path: Path) -> None:
    """Through the ServerApp: clipping that never binds and zero noise leave the plain sum, so the run's metrics are
    FedAvg's (to float rounding: the wrapper averages in float64); a tight bound flags users."""
    metrics = {}
    for name, overrides in (
        ("fedavg", {"defense": "fedavg"}),
        ("loose", {"defense": "central-dp", "central-dp-clip": 1e9, "central-dp-noise": 0.0}),
        ("tight", {"defense": "central-dp", "central-dp-clip": 1e-6, "central-dp-noise": 0.0}),
    ):
        run_server_app({**SMALL_RUN, **overrides, "results-dir": str(tmp_path), "run-name": name})
        assert json.loads((tmp_path / name / "summary.json").read_text())["status"] == "completed"
        metrics[name] = pd.read_csv(tmp_path / name / "metrics.csv")
    for column in ("train-loss", "recall@10", "ndcg@10"):
        assert metrics["loose"][column].tolist() == pytest.approx(metrics["fedavg"][column].tolist(), rel=1e-4)
    assert (metrics["tight"]["flagged-users"] > 0).all()


def test_fine_tuning_a_checkpoint_under_central_dp_records_detection_from_epoch_1(tmp_path: Path) -> None:
    """Epoch 0 evaluates the checkpoint before any round (no detection yet); the rule's flags start at epoch 1."""
    from datasets import load_dataset
    from fedrec.models.sasrec import SASRec
    from pretrained.checkpoint import Checkpoint

    settings = {"dataset": "synthetic", "model": "sasrec", "split": "leave-last-out", "embedding-dim": 8}
    config = make_config(settings)
    theta = SASRec.from_config(config).init_theta(load_dataset(config).num_items, seed=1)
    Checkpoint(theta, config.as_dict(), {"backdoor": "none", "targets": [3]}).save(tmp_path / "ckpt.pt")
    overrides = {
        **settings,
        "initial-checkpoint": str(tmp_path / "ckpt.pt"),
        "fine-tune": "full",
        "epochs": 1,
        "defense": "central-dp",
        "central-dp-clip": 1e-3,
        "results-dir": str(tmp_path),
        "run-name": "dp",
    }
    run_server_app(overrides)
    assert json.loads((tmp_path / "dp" / "summary.json").read_text())["status"] == "completed"
    table = pd.read_csv(tmp_path / "dp" / "metrics.csv")
    assert table["epoch"].tolist() == [0, 1]
    assert math.isnan(table["flagged-users"][0]) and table["flagged-users"][1] > 0
