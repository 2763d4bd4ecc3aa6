"""The curious server on Flower's runtime: what it recorded is what the clients sent, and it leaks.

A short `flwr run` with `privacy-attack = "analytic"` records the uploads of sampled users. Each
recorded upload is recomputed here, independently, from what only the client had (its samples of
the epoch, its p_u from the ground truth) and the Θ the server recorded sending: the two agree, so
the server observed exactly the client's upload. The attack's scores are in privacy.csv. The same
run under secure aggregation leaves the server nothing to attack and trains alike. Both runs are
made once for the module.
"""

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from app_config import make_config
from datasets import load_dataset
from fedrec.models.registry import MODELS
from fedrec.training.local import Objective, compute_user_updates
from fedrec.training.sampling import epoch_samples
from harness.flwr_local import flwr_run
from privacy.recording import load_uploads

pytestmark = pytest.mark.e2e

SMALL = {
    "synthetic-users": 80,
    "synthetic-items": 100,
    "synthetic-interactions": 15,
    "clients-per-round": 32,
    "epochs": 2,
    "seed": 3,
    "lr": 0.05,
    "user-lr": 0.05,
    "privacy-attack": "analytic",
    "privacy-users": 6,
    "privacy-epochs": "1,2",
}


RUNS = {"plain": {}, "secure": {"secure-aggregation": True}}


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], Path]:
    """The results folder of each run of RUNS, run on first use; a run that wrote no summary fails its tests."""
    base = tmp_path_factory.mktemp("privacy")
    outputs: dict[str, str] = {}

    def folder(name: str) -> Path:
        if name not in outputs:
            overrides = {**SMALL, **RUNS[name], "results-dir": str(base / "results"), "run-name": name}
            outputs[name] = flwr_run(overrides, base / f"home-{name}").output
        assert (base / "results" / name / "summary.json").exists(), outputs[name][-3000:]
        return base / "results" / name

    return folder


def test_the_curious_server_records_exactly_the_clients_uploads_and_recovers_them(results: Callable) -> None:
    folder = results("plain")
    assert (folder / "privacy-uploads.pt").exists()
    config = make_config(SMALL)
    dataset = load_dataset(config)
    model = MODELS.get(config.model)(config.embedding_dim, config.hidden_layers)
    uploads, item_uploads = load_uploads(folder)
    assert sorted({(upload.epoch, len([u for u in uploads if u.epoch == upload.epoch])) for upload in uploads}) == [
        (1, 6),
        (2, 6),
    ]
    # The same users in every recorded epoch, so a multi-round attack sees each one's every upload.
    assert {u.user for u in uploads if u.epoch == 1} == {u.user for u in uploads if u.epoch == 2}
    # The popularity counted from the wire covers every upload of the recorded epochs, the sampled ones included.
    assert len(item_uploads) == dataset.num_items and int(item_uploads.sum()) > sum(
        len(u.observed.item_ids) for u in uploads
    )
    for upload in uploads:
        samples = epoch_samples(
            upload.user, dataset.train_items(upload.user), dataset.num_items, config, upload.epoch - 1
        )
        sent = compute_user_updates(
            model,
            upload.observed.theta,
            np.array([upload.user]),
            upload.truth.user_embedding[None],
            [samples],
            Objective.of(config),
        ).updates
        assert torch.equal(upload.observed.item_ids, sent.item_ids)
        torch.testing.assert_close(upload.observed.item_rows, sent.item_grads, rtol=1e-5, atol=1e-9)
        for name, grads in sent.dense_grads.items():
            torch.testing.assert_close(upload.observed.dense[name], grads[0], rtol=1e-5, atol=1e-9)
    scores = pd.read_csv(folder / "privacy.csv")
    assert len(scores) == 12 and (scores["f1"] == 1.0).all() and (scores["cosine"] > 0.999).all()
    assert (scores["chance_f1"] < 0.5).all()
    summary = json.loads((folder / "summary.json").read_text())
    assert summary["privacy"]["attack"] == "analytic" and summary["privacy"]["f1"] == 1.0


def test_under_secure_aggregation_the_server_has_no_upload_to_attack_and_trains_alike(results: Callable) -> None:
    secure = json.loads((results("secure") / "summary.json").read_text())
    assert secure["status"] == "completed" and secure["privacy"]["count"] == 0
    assert not (results("secure") / "privacy.csv").read_text().strip().splitlines()[1:], "no per-user upload recorded"
    # The strategy steps Θ with the dense round sum instead of the per-user rows: the same sum, up to float order.
    plain, masked = (pd.read_csv(results(name) / "metrics.csv") for name in ("plain", "secure"))
    for metric in ("train-loss", "recall@10", "ndcg@10"):
        np.testing.assert_allclose(masked[metric], plain[metric], rtol=1e-3, atol=1e-4, err_msg=metric)
