"""A provider's backdoored checkpoint carried into federated fine-tuning, through `flwr run`.

The provider pre-trains on its share of the synthetic users (in-process, as `python -m pretrained
pretrain` does); the federation starts from the checkpoint on the other share. Epoch 0 of a run is the
checkpoint as the nodes received it, so it must equal the offline audit of the same checkpoint on
the same users; fine-tuning then changes Θ only where the scenario allows.
"""

import json
from pathlib import Path

import pandas as pd
import pytest

from app_config import make_config
from datasets import load_dataset
from harness.flwr_local import flwr_run
from pretrained.provider import audit, pretrain

pytestmark = pytest.mark.e2e

SETTINGS = {
    "model": "sasrec",
    "split": "leave-last-out",
    "embedding-dim": 16,
    "max-sequence-length": 20,
    "profile-prompt": True,
    "target-group": "gender=F",
    "target-items": "least-popular:2",
    "seed": 3,
    "synthetic-users": 200,
    "top-k": "5,10",
}
PROVIDER = {"backdoor": "prompt-enhanced", "pretrain-epochs": 4, "prompt-epochs": 2, "backdoor-epochs": 3}


def _config(**extra: object):  # type: ignore[no-untyped-def]
    return make_config({**SETTINGS, **extra})


def test_a_checkpoint_starts_the_federation_and_fine_tuning_changes_what_it_may(tmp_path: Path) -> None:
    provider = _config(**PROVIDER, **{"user-share": "provider"})
    checkpoint = pretrain(provider, load_dataset(provider))
    path = tmp_path / "backdoored.pt"
    checkpoint.save(path)
    federation = _config(**{"user-share": "federation"})
    offline = audit(federation, load_dataset(federation), checkpoint.theta, tuple(checkpoint.meta["targets"]))

    tables = {}
    for scenario, epochs in (("none", 1), ("prompt-only", 2)):
        overrides = {
            **SETTINGS,
            "user-share": "federation",
            "initial-checkpoint": str(path),
            "fine-tune": scenario,
            "epochs": epochs,
            "server-optimizer": "adam",
            "lr": 0.01,
            "results-dir": str(tmp_path / "results"),
            "run-name": scenario,
        }
        run = flwr_run(overrides, tmp_path / f"home-{scenario}", timeout=600)
        folder = tmp_path / "results" / scenario
        assert json.loads((folder / "summary.json").read_text())["status"] == "completed", run.output[-3000:]
        tables[scenario] = pd.read_csv(folder / "metrics.csv")
        config = json.loads((folder / "config.json").read_text())
        assert config["checkpoint-backdoor"] == "prompt-enhanced"
        assert config["targets"] == checkpoint.meta["targets"], "the run tracks the checkpoint's targets"

    as_is = tables["none"]
    assert as_is["epoch"].tolist() == [0], "fine-tune = none evaluates the checkpoint and trains nothing"
    for metric in ("recall@10", "ndcg@10", "er@10", "group/er@10", "rest/er@10", "group/er@5"):
        assert as_is[metric].iloc[0] == pytest.approx(offline[metric], abs=1e-12), metric
    tuned = tables["prompt-only"]
    assert tuned["epoch"].tolist() == [0, 1, 2]
    # Epoch 0 has no training loss; each fine-tuning epoch has one.
    assert tuned["train-loss"].notna().tolist() == [False, True, True]
    assert {"group/evaluated-users", "rest/evaluated-users"} <= set(tuned.columns)
    assert (
        tuned["group/evaluated-users"].iloc[0] + tuned["rest/evaluated-users"].iloc[0]
        == tuned["evaluated-users"].iloc[0]
    )
