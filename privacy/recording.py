"""The curious server's notebook: the uploads of sampled users in chosen epochs, kept with the Θ it sent.

Which users: `privacy-users` real, benign users drawn with the seed once for the run, the same in every
recorded epoch (each user uploads once per epoch), so a multi-round attack sees all of a user's
uploads. What is kept is exactly what the wire carried for them (`ObservedUpload`) and, over every
received upload of the recorded epochs, how many carried each item id (`item_uploads`): the popularity
the server counts from the wire. The simulation's ground truth for scoring (`Truth`) is joined to the
uploads after training, from where the nodes left it (privacy/ground_truth.py), never from a message.
The notebook is saved with `torch.save` before any attack runs, so other attacks can run offline on it
(experiments/privacy.py does) and a crashing attack loses nothing.
"""

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import torch

from fedrec.models.base import Theta
from fedrec.updates import TruthBatch, UserUpdates
from privacy.observed import ObservedUpload, Truth

_SAMPLE_STREAM = 0x5052
UPLOADS_FILE = "privacy-uploads.pt"


def sample_users(candidates: np.ndarray, count: int, seed: int) -> set[int]:
    """`count` of the candidate users (all of them if fewer), drawn per seed: the same users in every epoch."""
    rng = np.random.default_rng([seed, _SAMPLE_STREAM])
    chosen = rng.choice(np.sort(candidates), size=min(count, len(candidates)), replace=False)
    return {int(user) for user in chosen}


@dataclass(frozen=True)
class RecordedUpload:
    epoch: int  # 1-based
    user: int
    observed: ObservedUpload
    truth: Truth | None = None  # joined after training (`UploadRecorder.join_truth`), for scoring only


@dataclass
class UploadRecorder:
    """Keeps the uploads of `sampled[epoch]` users and counts every upload's ids in those epochs (1-based)."""

    sampled: dict[int, set[int]]
    uploads: list[RecordedUpload] = field(default_factory=list)
    item_uploads: torch.Tensor = field(default_factory=lambda: torch.zeros(0, dtype=torch.int64))

    def wants(self, epoch: int) -> bool:
        return bool(self.sampled.get(epoch))

    def record(self, epoch: int, updates: UserUpdates, theta: Theta) -> None:
        """Keep the sampled users of a received batch. `theta` is the Θ the server sent for this round."""
        wanted = self.sampled.get(epoch, set())
        positions = {int(user): k for k, user in enumerate(updates.user_ids.tolist())}
        snapshot = None
        for user in sorted(wanted & set(positions)):
            snapshot = snapshot if snapshot is not None else {name: value.clone() for name, value in theta.items()}
            self.uploads.append(RecordedUpload(epoch, user, ObservedUpload.of_user(updates, positions[user], snapshot)))

    def join_truth(self, truths: dict[tuple[int, int], Truth]) -> None:
        """Attach to each recorded upload its ground truth, `truths[(epoch, user)]`."""
        missing = [(upload.epoch, upload.user) for upload in self.uploads if (upload.epoch, upload.user) not in truths]
        if missing:
            epoch, user = missing[0]
            raise RuntimeError(
                f"no ground truth for {len(missing)} recorded upload(s) (user {user} in epoch {epoch}): privacy scores "
                "need the nodes to run on the ServerApp's machine (a simulation or a local federation)"
            )
        self.uploads = [replace(upload, truth=truths[(upload.epoch, upload.user)]) for upload in self.uploads]

    def count_items(self, updates: UserUpdates, num_items: int) -> None:
        """Add a received batch's ids to `item_uploads` (each user's ids are unique: one count per upload)."""
        counts = torch.bincount(updates.item_ids, minlength=max(num_items, len(self.item_uploads)))
        self.item_uploads = counts + torch.nn.functional.pad(
            self.item_uploads, (0, len(counts) - len(self.item_uploads))
        )

    def save(self, folder: Path) -> Path:
        path = folder / UPLOADS_FILE
        torch.save({"uploads": self.uploads, "item_uploads": self.item_uploads}, path)
        return path


def load_uploads(folder: Path) -> tuple[list[RecordedUpload], torch.Tensor]:
    """A run's recorded uploads (`privacy-uploads.pt`) and the item popularity counted over all uploads."""
    saved = torch.load(folder / UPLOADS_FILE, weights_only=False)
    return saved["uploads"], saved["item_uploads"]


def uploads_by_user(uploads: Sequence[RecordedUpload]) -> dict[int, list[RecordedUpload]]:
    """Each user's recorded uploads in epoch order, users in order of first appearance."""
    by_user: dict[int, list[RecordedUpload]] = defaultdict(list)
    for upload in sorted(uploads, key=lambda upload: upload.epoch):
        by_user[upload.user].append(upload)
    return dict(by_user)


def truth_of_user(batch: TruthBatch, user: int) -> Truth:
    """One user's ground truth out of its node's batch."""
    k = batch.positions[user]
    start, end = int(batch.item_indptr[k]), int(batch.item_indptr[k + 1])
    upload = None if batch.uploads is None else batch.uploads.select(batch.uploads.user_ids == user)
    return Truth(
        is_interaction=batch.is_interaction[start:end].clone(),
        user_embedding=batch.user_embeddings[k].clone(),
        upload=upload,
    )


def truth_of(
    updates: UserUpdates, interactions: list[np.ndarray], user_embeddings: torch.Tensor, keep_uploads: bool = False
) -> TruthBatch:
    """The truth of a batch: `interactions[k]` are user k's real (training) items, `user_embeddings` its p_u;
    with `keep_uploads` (secure aggregation) the true updates too."""
    flags = [
        np.isin(updates.item_ids[updates.item_indptr[k] : updates.item_indptr[k + 1]].numpy(), own)
        for k, own in enumerate(interactions)
    ]
    is_interaction = torch.from_numpy(np.concatenate(flags)) if flags else torch.zeros(0, dtype=torch.bool)
    return TruthBatch(
        updates.user_ids,
        updates.item_indptr,
        is_interaction,
        user_embeddings.detach().clone(),
        updates if keep_uploads else None,
    )
