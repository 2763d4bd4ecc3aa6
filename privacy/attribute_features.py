"""What attribute inference reads of each recorded user: the features a curious server builds from an attack.

Per user, from the uploads the server recorded of that user (all rounds it saw) and an attack's answers:
- `marked_items`: the multi-hot over the catalogue of the item ids the attack marked as interactions in
  any of the user's uploads (e.g. `recurrence`, which needs only the ids on the wire);
- `recovered_embeddings`: the p_u the attack recovered from the user's last recorded upload (e.g. `analytic`),
  the latest state of the user's private embedding the server saw;
- `true_items`: the multi-hot of the user's real interactions among its uploads, from the simulation's
  ground truth: the ceiling, what a full leak of the user's (training) history gives.
Rows follow `histories`' order of users.
"""

from collections.abc import Sequence

import numpy as np
import torch

from privacy.base import PrivacyAttack
from privacy.observed import UserHistory
from privacy.recording import RecordedUpload, uploads_by_user


def user_histories(
    uploads: Sequence[RecordedUpload], item_uploads: torch.Tensor
) -> dict[int, tuple[UserHistory, list[RecordedUpload]]]:
    """Per user: the `UserHistory` an attack is handed, and the recorded uploads behind it (epoch order)."""
    return {
        user: (UserHistory(tuple(upload.observed for upload in own), item_uploads), own)
        for user, own in uploads_by_user(uploads).items()
    }


def marked_items(
    attack: PrivacyAttack, histories: dict[int, tuple[UserHistory, list[RecordedUpload]]], num_items: int
) -> np.ndarray:
    """[users, num_items] float: 1 where the attack marked the item an interaction in some upload of the user."""
    features = np.zeros((len(histories), num_items), dtype=np.float32)
    for row, (history, _) in enumerate(histories.values()):
        for upload, recovered in zip(history.uploads, attack.recover_history(history), strict=True):
            features[row, upload.item_ids[recovered.is_interaction].numpy()] = 1.0
    return features


def recovered_embeddings(
    attack: PrivacyAttack, histories: dict[int, tuple[UserHistory, list[RecordedUpload]]]
) -> np.ndarray:
    """[users, d]: the p_u the attack recovered from each user's last recorded upload."""
    rows = []
    for history, _ in histories.values():
        *_, last = attack.recover_history(UserHistory(history.uploads[-1:], history.item_uploads))
        if last.user_embedding is None:
            raise ValueError(f"the attack {type(attack).__name__} recovers no p_u")
        rows.append(last.user_embedding.numpy())
    return np.stack(rows)


def true_items(histories: dict[int, tuple[UserHistory, list[RecordedUpload]]], num_items: int) -> np.ndarray:
    """[users, num_items] float: 1 where an upload of the user carried the item as a real interaction."""
    features = np.zeros((len(histories), num_items), dtype=np.float32)
    for row, (_, recorded) in enumerate(histories.values()):
        for upload in recorded:
            if upload.truth is None:
                raise ValueError(f"user {upload.user}'s upload in epoch {upload.epoch} has no ground truth joined")
            features[row, upload.observed.item_ids[upload.truth.is_interaction].numpy()] = 1.0
    return features
