"""A provider's backdoored checkpoint carried into federated fine-tuning, through `flwr run`.

The provider pre-trains on its share of the synthetic users (in-process, as `python -m pretrained
pretrain` does); the federation starts from the checkpoint on the other share. Epoch 0 of a run is the
checkpoint as the nodes received it, so it must equal the offline audit of the same checkpoint on
the same users; fine-tuning then changes Θ only where the scenario allows. `fine-tune = none`, which
evaluates the checkpoint and trains nothing, runs the ServerApp in-process (tests.in_process_grid).
"""

import json
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest

from app_config import make_config
from datasets import load_dataset
from harness.flwr_local import flwr_run
from pretrained.checkpoint import Checkpoint
from pretrained.provider import audit, pretrain
from tests.in_process_grid import run_server_app

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


@dataclass
class Provided:
    """The provider's checkpoint, where it was saved, and its offline audit on the federation's users."""

    checkpoint: Checkpoint
    path: Path
    offline: dict[str, float]


@pytest.fixture(scope="module")
def provided(tmp_path_factory: pytest.TempPathFactory) -> Provided:
    provider = _config(**PROVIDER, **{"user-share": "provider"})
    checkpoint = pretrain(provider, load_dataset(provider))
    path = tmp_path_factory.mktemp("provider") / "backdoored.pt"
    checkpoint.save(path)
    federation = _config(**{"user-share": "federation"})
    offline = audit(federation, load_dataset(federation), checkpoint.theta, tuple(checkpoint.meta["targets"]))
    return Provided(checkpoint, path, offline)


def _fine_tuning(provided: Provided, results: Path, scenario: str, epochs: int) -> dict[str, object]:
    return {
        **SETTINGS,
        "user-share": "federation",
        "initial-checkpoint": str(provided.path),
        "fine-tune": scenario,
        "epochs": epochs,
        "server-optimizer": "adam",
        "lr": 0.01,
        "results-dir": str(results),
        "run-name": scenario,
    }


def _results(provided: Provided, folder: Path, output: str) -> pd.DataFrame:
    assert json.loads((folder / "summary.json").read_text())["status"] == "completed", output[-3000:]
    config = json.loads((folder / "config.json").read_text())
    assert config["checkpoint-backdoor"] == "prompt-enhanced"
    assert config["targets"] == provided.checkpoint.meta["targets"], "the run tracks the checkpoint's targets"
    table = pd.read_csv(folder / "metrics.csv")
    for metric in ("recall@10", "ndcg@10", "er@10", "group/er@10", "rest/er@10", "group/er@5"):
        assert table[metric].iloc[0] == pytest.approx(provided.offline[metric], abs=1e-12), metric
    return table


def test_fine_tune_none_evaluates_the_checkpoint_as_the_offline_audit_and_trains_nothing(
    provided: Provided, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run_server_app(_fine_tuning(provided, tmp_path, "none", epochs=1))
    as_is = _results(provided, tmp_path / "none", capsys.readouterr().out)
    assert as_is["epoch"].tolist() == [0], "fine-tune = none evaluates the checkpoint and trains nothing"


@pytest.mark.e2e
def test_a_checkpoint_starts_the_federation_and_fine_tuning_changes_what_it_may(
    provided: Provided, tmp_path: Path
) -> None:
    run = flwr_run(
        _fine_tuning(provided, tmp_path / "results", "prompt-only", epochs=1), tmp_path / "flwr-home", timeout=600
    )
    tuned = _results(provided, tmp_path / "results" / "prompt-only", run.output)
    assert tuned["epoch"].tolist() == [0, 1]
    # Epoch 0 has no training loss; the fine-tuning epoch has one.
    assert tuned["train-loss"].notna().tolist() == [False, True]
    assert {"group/evaluated-users", "rest/evaluated-users"} <= set(tuned.columns)
    assert (
        tuned["group/evaluated-users"].iloc[0] + tuned["rest/evaluated-users"].iloc[0]
        == tuned["evaluated-users"].iloc[0]
    )
