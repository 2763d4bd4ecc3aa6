"""The exposure scan run federated (`exposure-scan = true`): the nodes' per-group sums give the central scan exactly,
they survive the wire, and a run writes the scan of the checkpoint it starts from."""

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from app_config import make_config
from datasets import load_dataset
from fedrec.errors import ConfigError
from fedrec.models.sasrec import SASRec
from fedrec.protocol import ExposureStatistics, exposure_messages
from pretrained.checkpoint import Checkpoint
from pretrained.exposure_scan import exposure_counts, exposure_scan, merge_counts, scan_counts
from tests.in_process_grid import run_server_app

SETTINGS = {
    "dataset": "synthetic",
    "model": "sasrec",
    "split": "leave-last-out",
    "embedding-dim": 8,
    "max-sequence-length": 20,
    "seed": 3,
}


def _model_and_data():  # type: ignore[no-untyped-def]
    config = make_config(SETTINGS)
    dataset = load_dataset(config)
    model = SASRec.from_config(config)
    return model, model.init_theta(dataset.num_items, seed=4), dataset


def test_the_sums_of_disjoint_users_give_the_central_scan_exactly() -> None:
    model, theta, dataset = _model_and_data()
    users = np.random.default_rng(0).permutation(dataset.num_users)
    parts = [exposure_counts(model, theta, dataset, share, k=10) for share in np.array_split(users, 3)]
    federated = scan_counts(merge_counts(parts), min_group=20)
    central = exposure_scan(model, theta, dataset, k=10, min_group=20)
    pd.testing.assert_frame_equal(federated, central)
    # Sums: every user counted once, each top-10 list adds 10 exposures.
    total = merge_counts(parts)["everyone"]
    assert total.users == dataset.num_users and total.exposed.sum() == 10 * dataset.num_users
    assert {"gender=F", "gender=M"} <= set(merge_counts(parts))


def test_the_node_statistics_survive_the_wire() -> None:
    model, theta, dataset = _model_and_data()
    counts = exposure_counts(model, theta, dataset, np.arange(25), k=5)
    sent = ExposureStatistics(
        users={g: c.users for g, c in counts.items()},
        exposed={g: c.exposed for g, c in counts.items()},
        interactions={g: c.interactions for g, c in counts.items()},
    )
    query = exposure_messages(theta, 5, [1])[0]
    received = ExposureStatistics.parse(sent.reply_to(query))
    assert received.users == sent.users
    for group in sent.users:
        assert np.array_equal(received.exposed[group], sent.exposed[group])
        assert np.array_equal(received.interactions[group], sent.interactions[group])


def test_a_run_writes_the_federated_scan_of_its_starting_checkpoint(tmp_path: Path) -> None:
    model, theta, dataset = _model_and_data()
    path = tmp_path / "ckpt.pt"
    Checkpoint(theta, make_config(SETTINGS).as_dict(), {"backdoor": "none", "targets": [5, 7]}).save(path)
    overrides = {
        **SETTINGS,
        "initial-checkpoint": str(path),
        "fine-tune": "none",
        "exposure-scan": True,
        "results-dir": str(tmp_path),
        "run-name": "scan",
    }
    run_server_app(overrides, num_nodes=2)
    report = json.loads((tmp_path / "scan" / "exposure-scan.json").read_text())
    central = exposure_scan(model, theta, dataset, k=10, min_group=20)
    assert [row["item"] for row in report["most-suspicious"]] == list(central.index[:10])
    assert all(isinstance(row["item"], int) and isinstance(row["exposed"], int) for row in report["most-suspicious"])
    expected = float(np.isin([5, 7], central.index[:10]).mean())
    assert report["targets-among-top-10"] == pytest.approx(expected)


def test_a_scan_without_a_checkpoint_is_a_one_line_error() -> None:
    with pytest.raises(ConfigError, match="'exposure-scan' audits a pre-trained sasrec checkpoint"):
        make_config({**SETTINGS, "exposure-scan": True})
