"""Scan and reset (`scan-reset-items`): the rows of the items the federated exposure scan finds most suspicious are
re-initialised before fine-tuning, and nothing else of Θ moves."""

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from app_config import make_config
from datasets import load_dataset
from fedrec.errors import ConfigError
from fedrec.models.base import ITEM_EMBEDDING
from fedrec.models.sasrec import SASRec
from fedrec.sequential.sequences import history_batch, user_sequences
from pretrained.checkpoint import Checkpoint
from pretrained.exposure_scan import GroupExposure, evasion_ceiling, exposure_scan, scan_counts
from pretrained.item_reset import reset_item_rows
from server_app.stopping import RunStopped
from tests.in_process_grid import run_server_app
from tests.test_federated_scan import SETTINGS


def test_only_the_named_rows_take_the_fresh_values() -> None:
    theta = {ITEM_EMBEDDING: torch.arange(12.0).reshape(6, 2), "dense": torch.ones(3)}
    fresh = -torch.ones(6, 2)
    reset = reset_item_rows(theta, [1, 4], fresh)
    assert torch.equal(reset[ITEM_EMBEDDING][[1, 4]], fresh[[1, 4]])
    assert torch.equal(reset[ITEM_EMBEDDING][[0, 2, 3, 5]], theta[ITEM_EMBEDDING][[0, 2, 3, 5]])
    assert reset["dense"] is theta["dense"]
    assert torch.equal(theta[ITEM_EMBEDDING], torch.arange(12.0).reshape(6, 2)), "Θ itself is left as it was"
    with pytest.raises(ValueError, match="do not match"):
        reset_item_rows(theta, [1], torch.zeros(5, 2))


def _planted_checkpoint(tmp_path: Path) -> tuple[Path, int, np.ndarray]:
    """A checkpoint whose item 7 sits along the users' mean hidden state (in nearly every top 10), and the scan
    of it over all users."""
    config = make_config(SETTINGS)
    dataset = load_dataset(config)
    model = SASRec.from_config(config)
    theta = model.init_theta(dataset.num_items, seed=4)
    users = np.arange(dataset.num_users)
    with torch.no_grad():
        states = model.user_states(theta, history_batch(*user_sequences(dataset, users), model.max_len))
    table = theta[ITEM_EMBEDDING].clone()
    table[7] = 5 * states.mean(0) / states.mean(0).norm() * table.norm(dim=1).max()
    theta = {**theta, ITEM_EMBEDDING: table}
    path = tmp_path / "planted.pt"
    Checkpoint(theta, config.as_dict(), {"backdoor": "none", "targets": [7]}).save(path)
    return path, 7, np.asarray(exposure_scan(model, theta, dataset, k=10, min_group=20).index)


def _epoch0(tmp_path: Path, checkpoint: Path, name: str, reset: int) -> tuple[pd.Series, Path]:
    overrides = {
        **SETTINGS,
        "initial-checkpoint": str(checkpoint),
        "fine-tune": "none",
        "scan-reset-items": reset,
        "exposure-scan": True,
        "target-group": "gender=F",
        "results-dir": str(tmp_path),
        "run-name": name,
    }
    run_server_app(overrides, num_nodes=2)
    return pd.read_csv(tmp_path / name / "metrics.csv").iloc[0], tmp_path / name


def test_the_reset_removes_a_planted_items_exposure_and_reports_what_it_reset(tmp_path: Path) -> None:
    checkpoint, target, central = _planted_checkpoint(tmp_path)
    assert central[0] == target, "the planted item is the scan's most suspicious"
    kept, kept_folder = _epoch0(tmp_path, checkpoint, "kept", reset=0)
    reset, folder = _epoch0(tmp_path, checkpoint, "reset", reset=3)
    assert kept["er@10"] > 0.9
    assert reset["er@10"] < 0.2
    report = json.loads((folder / "exposure-scan.json").read_text())
    assert report["reset-items"] == [int(item) for item in central[:3]]
    assert report["targets-reset"] == 1.0
    # The nodes' sums give the group's ER@10 of the evaluation exactly (the scan ran on the Θ evaluated at epoch 0).
    evasion = json.loads((kept_folder / "exposure-scan.json").read_text())["evasion"]
    assert evasion["er"] == pytest.approx(kept["group/er@10"])
    assert evasion["ceiling-er"] < evasion["er"]
    curve = json.loads((kept_folder / "exposure-scan.json").read_text())["evasion-ceiling-by-reset"]
    assert curve["10"] == evasion["ceiling-er"]
    assert list(curve.values()) == sorted(curve.values(), reverse=True), "a larger reset leaves the provider less"


def test_the_evasion_ceiling_keeps_each_target_below_the_other_items_threshold_in_its_group_and_everyone() -> None:
    counts = {
        "everyone": GroupExposure(20, np.array([10, 4, 3, 0]), np.array([3, 1, 0, 6])),
        "gender=F": GroupExposure(10, np.array([7, 1, 3, 0]), np.array([2, 1, 0, 2])),
    }
    scan = scan_counts(counts, min_group=5)  # suspicion: item 2 4.0, item 0 2.75, item 1 2.5, item 3 0.33
    ceiling = evasion_ceiling(counts, scan, (0,), inspected=2, group="gender=F")
    assert ceiling["threshold"] == pytest.approx(2.5)  # the 2nd most suspicious item other than the target
    # gender=F: (e + 1) / 3 < 2.5 -> e <= 6; everyone: (e + 1) / 4 < 2.5 -> e <= 8; 8 women never interacted.
    assert ceiling["targets"] == [{"item": 0, "eligible": 8, "exposed": 7, "max-exposed-unflagged": 6}]
    assert ceiling["er"] == pytest.approx(7 / 8) and ceiling["ceiling-er"] == pytest.approx(6 / 8)
    assert evasion_ceiling(counts, scan, (0,), inspected=1, group="gender=F")["ceiling-er"] == pytest.approx(1.0)


def test_a_group_that_raises_no_items_suspicion_leaves_the_scan_as_the_other_groups_make_it() -> None:
    counts = {
        "everyone": GroupExposure(20, np.array([10, 4, 3]), np.array([3, 1, 0])),
        "age=18-24": GroupExposure(10, np.array([0, 0, 0]), np.array([3, 1, 2])),  # scores below everyone's
    }
    scan = scan_counts(counts, min_group=5)
    assert scan.index.tolist() == [2, 0, 1] and set(scan["group"]) == {"everyone"}
    assert scan["suspicion"].tolist() == pytest.approx([4.0, 11 / 4, 5 / 2])


def test_a_reset_of_every_item_or_without_a_checkpoint_is_a_one_line_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="'scan-reset-items' resets items of a pre-trained sasrec checkpoint"):
        make_config({**SETTINGS, "scan-reset-items": 3})
    checkpoint, _, central = _planted_checkpoint(tmp_path)
    with pytest.raises(RunStopped, match="would reset every one of the"):
        _epoch0(tmp_path, checkpoint, "everything", reset=len(central))
