"""Run a privacy attack over recorded uploads and score each recovery: the table behind `privacy.csv`."""

import math
import time
from collections.abc import Sequence
from typing import Any

import pandas as pd
import torch

from privacy.base import PrivacyAttack
from privacy.observed import UserHistory
from privacy.recording import RecordedUpload, uploads_by_user
from privacy.scoring import METRICS, aggregate, score_upload

PRIVACY_CSV = "privacy.csv"


def attack_uploads(
    attack: PrivacyAttack, uploads: Sequence[RecordedUpload], item_uploads: torch.Tensor
) -> pd.DataFrame:
    """One row per upload (in the order given): epoch, user, uploads of that user the answer drew on, uploaded items,
    real interactions, every score, seconds spent (the user's time shared evenly over its uploads).

    The attack is handed, per user, a `UserHistory` of that user's observed uploads in epoch order and the
    public `item_uploads`; the truth is read here, after it answered.
    """
    rows = {}
    for user, own in uploads_by_user(uploads).items():
        started = time.perf_counter()
        answers = attack.recover_history(UserHistory(tuple(upload.observed for upload in own), item_uploads))
        seconds = (time.perf_counter() - started) / len(own)
        for upload, recovered in zip(own, answers, strict=True):
            rows[id(upload)] = {
                "epoch": upload.epoch,
                "user": user,
                "rounds": len(own) if attack.multi_round else 1,
                "items": len(upload.observed.item_ids),
                "interactions": int(upload.truth.is_interaction.sum()),
                **score_upload(recovered, upload.truth),
                "seconds": seconds,
            }
    columns = ["epoch", "user", "rounds", "items", "interactions", *METRICS, "seconds"]
    return pd.DataFrame([rows[id(upload)] for upload in uploads], columns=columns)


def summarise(table: pd.DataFrame) -> dict[str, Any]:
    """Means over the attacked uploads (as in privacy/scoring.aggregate), rounded for summary.json."""
    summary = aggregate(table[list(METRICS)].to_dict("records")) if len(table) else {"count": 0.0}
    return {name: (None if math.isnan(value) else round(value, 6)) for name, value in summary.items()}
