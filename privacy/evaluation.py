"""Run a privacy attack over recorded uploads and score each recovery: the table behind `privacy.csv`."""

import math
import time
from collections.abc import Sequence
from typing import Any

import pandas as pd

from privacy.base import PrivacyAttack
from privacy.recording import RecordedUpload
from privacy.scoring import METRICS, aggregate, score_upload

PRIVACY_CSV = "privacy.csv"


def attack_uploads(attack: PrivacyAttack, uploads: Sequence[RecordedUpload]) -> pd.DataFrame:
    """One row per upload: epoch, user, uploaded items, real interactions, every score, seconds spent.

    The attack is handed `upload.observed` only; the truth is read here, after it answered.
    """
    rows = []
    for upload in uploads:
        started = time.perf_counter()
        recovered = attack.recover(upload.observed)
        seconds = time.perf_counter() - started
        rows.append(
            {
                "epoch": upload.epoch,
                "user": upload.user,
                "items": len(upload.observed.item_ids),
                "interactions": int(upload.truth.is_interaction.sum()),
                **score_upload(recovered, upload.truth),
                "seconds": seconds,
            }
        )
    return pd.DataFrame(rows, columns=["epoch", "user", "items", "interactions", *METRICS, "seconds"])


def summarise(table: pd.DataFrame) -> dict[str, Any]:
    """Means over the attacked uploads (as in privacy/scoring.aggregate), rounded for summary.json."""
    summary = aggregate(table[list(METRICS)].to_dict("records")) if len(table) else {"count": 0.0}
    return {name: (None if math.isnan(value) else round(value, 6)) for name, value in summary.items()}
