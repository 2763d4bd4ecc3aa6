"""ClusterAttack against the mean and against UNION, through `flwr run` on a tiny synthetic setting.

MF, BPR, server Adam and the sample-weighted mean as in the reference code's setting, 10% compromised users.
Without a defense the attack lowers Recall@10; UNION (its client-side term and its server filter) rejects the
attackers and trains as well as without them.
"""

import json
from pathlib import Path

import pandas as pd
import pytest

from harness.flwr_local import flwr_run

pytestmark = pytest.mark.e2e

TINY = {
    "synthetic-users": 200,
    "synthetic-items": 150,
    "synthetic-interactions": 20,
    "clients-per-round": 50,
    "epochs": 6,
    "seed": 7,
    "model": "mf",
    "embedding-dim": 16,
    "loss": "bpr",
    "negatives": 1,
    "server-optimizer": "adam",
    "lr": 0.01,
    "user-lr": 0.1,
    "fedavg-mode": "weighted",
    "malicious-fraction": 0.1,
    "malicious-mode": "compromised",
    "tolerated-attackers": 5,
}


def _final(tmp_path: Path, name: str, **extra: object) -> pd.Series:
    overrides = {**TINY, **extra, "results-dir": str(tmp_path / "results"), "run-name": name}
    run = flwr_run(overrides, tmp_path / f"flwr-home-{name}", timeout=900)
    folder = tmp_path / "results" / name
    assert (folder / "summary.json").exists(), run.output[-3000:]
    assert json.loads((folder / "summary.json").read_text())["status"] == "completed"
    return pd.read_csv(folder / "metrics.csv").iloc[-1]


def test_cluster_attack_lowers_recall_against_the_mean_and_union_recovers_it(tmp_path: Path) -> None:
    clean = _final(tmp_path, "mean-none", defense="fedavg")
    attacked = _final(tmp_path, "mean-attack", defense="fedavg", attack="cluster-attack")
    defended = _final(tmp_path, "union-attack", defense="union", attack="cluster-attack", **{"uniformity-reg": 1.0})
    assert attacked["recall@10"] < clean["recall@10"] - 0.02
    assert defended["recall@10"] > attacked["recall@10"] + 0.05
    assert defended["detection-precision"] > 0.5 and defended["detection-recall"] > 0.5
