"""Spattack_O through `flwr run`: the opposite of the benign sum stops per-item-mean training."""

import json
from pathlib import Path

import pandas as pd
import pytest

from app_config import make_config
from harness.flwr_local import flwr_run
from harness.plain_loop import run_plain

pytestmark = pytest.mark.e2e

#: MF that learns in 4 epochs of one round with every user (Recall@10 0.07 at start, 0.19 after).
TINY = {
    "synthetic-users": 120,
    "synthetic-items": 150,
    "synthetic-interactions": 20,
    "model": "mf",
    "embedding-dim": 8,
    "clients-per-round": 200,
    "epochs": 4,
    "seed": 7,
    "lr": 5.0,
    "user-lr": 5.0,
}


def test_spattack_o_against_the_per_item_mean_keeps_utility_at_the_untrained_level(tmp_path: Path) -> None:
    attacked = {
        **TINY,
        "attack": "spattack-o",
        "attacker-knowledge": "full",
        "malicious-fraction": 0.1,
        "defense": "trimmed-mean",  # trim 0, per item: each row's mean over its senders
        "trim-fraction": 0.0,
        "aggregation": "per-item",
        "results-dir": str(tmp_path / "results"),
        "run-name": "spattack-o",
    }
    run = flwr_run(attacked, tmp_path / "flwr-home", timeout=600)
    folder = tmp_path / "results" / "spattack-o"
    assert (folder / "summary.json").exists(), run.output[-3000:]
    assert json.loads((folder / "summary.json").read_text())["status"] == "completed"
    under_attack = pd.read_csv(folder / "metrics.csv").iloc[-1]["recall@10"]
    untrained = run_plain(make_config(TINY, epochs=1, lr=0.0, user_lr=0.0), log=False)["recall@10"]
    clean = run_plain(make_config(TINY), log=False)["recall@10"]  # FedAvg's sum: the per-item mean times its senders
    assert clean > 2 * untrained, "without the attack the model learns"
    assert under_attack < (clean + untrained) / 2, (under_attack, clean, untrained)
