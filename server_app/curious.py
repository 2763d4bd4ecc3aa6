"""The ServerApp as an honest-but-curious server: record sampled users' uploads, attack them after training.

Training is unchanged: the recorder only reads each round's good replies (the strategy's `on_replies` hook)
as they came over the wire, and the attack runs once the last epoch is done, so it does not slow
training. What it recovers is scored against the simulation's ground truth, which reaches the scoring
only then, and not through any message (privacy/ground_truth.py), and written next to the run's metrics
(`privacy.csv`, and means in `summary.json`).
"""

from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from fedrec.config import RunConfig
from fedrec.models.base import ITEM_EMBEDDING, RecModel, Theta
from fedrec.protocol import TrainReply
from privacy import PRIVACY_ATTACKS, records_truth
from privacy.evaluation import PRIVACY_CSV, attack_uploads, summarise
from privacy.ground_truth import collect_truth
from privacy.recording import UploadRecorder, sample_users
from server_app.round_difference import (
    DIFFERENCES_FILE,
    ISOLATION_CSV,
    RoundDifferenceProbe,
    aligned_truth,
    isolation_table,
)


def upload_recorder(config: RunConfig, user_ids: np.ndarray, malicious_ids: np.ndarray) -> UploadRecorder | None:
    """A recorder of the same `privacy-users` benign users in every recorded epoch whose truth the nodes
    keep, or None without a privacy attack.

    Whom to score is the experimenter's choice: the recorder is handed the sample, not who is malicious.
    """
    if config.privacy_attack == "none":
        return None
    users = sample_users(np.setdiff1d(user_ids, malicious_ids), config.privacy_users, config.seed)
    epochs = [epoch for epoch in config.privacy_epochs if epoch <= config.epochs and records_truth(config, epoch - 1)]
    return UploadRecorder({epoch: users for epoch in epochs})


def record_replies(recorder: UploadRecorder, epoch: int, replies: list[TrainReply], theta: Theta) -> None:
    """Keep what the wire carried for the sampled users, and count the ids of every reply: the item
    popularity the server sees."""
    if not recorder.wants(epoch):
        return
    for reply in replies:
        recorder.count_items(reply.updates, int(theta[ITEM_EMBEDDING].shape[0]))
        recorder.record(epoch, reply.updates, theta)


def attack_recorded(
    config: RunConfig,
    model: RecModel,
    recorder: UploadRecorder,
    folder: Path,
    run_id: int,
    probe: RoundDifferenceProbe | None = None,
) -> dict[str, Any]:
    """Join the nodes' ground truth of run `run_id` to the recorded uploads, save them, run the configured
    attack on them, write `privacy.csv`; the summary means. Uploads isolated by a round-difference `probe` are
    first measured against the users' true updates (`round-difference.csv`), and their truth laid over the ids
    the isolation found."""
    recorder.join_truth(collect_truth(run_id))
    isolation = {}
    if probe is not None:
        table = isolation_table(probe, recorder.uploads)
        table.to_csv(folder / ISOLATION_CSV, index=False)
        torch.save(probe.differences, folder / DIFFERENCES_FILE)  # the raw differences, to study the row rule offline
        isolation = {"round-difference": {**table.drop(columns=["epoch", "user"]).mean().round(6).to_dict()}}
        recorder.uploads = [replace(upload, truth=aligned_truth(upload)) for upload in recorder.uploads]
    recorder.save(folder)
    attack = PRIVACY_ATTACKS.selected(config)(model, config)
    table = attack_uploads(attack, recorder.uploads, recorder.item_uploads)
    table.to_csv(folder / PRIVACY_CSV, index=False)
    return {"privacy": {"attack": config.privacy_attack, **summarise(table), **isolation}}
