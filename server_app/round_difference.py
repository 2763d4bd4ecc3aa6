"""The curious sampler: under secure aggregation, isolate each recorded user by the difference of two rounds' sums.

The threat model lets the server choose who takes part in a round. After each applied round holding
users it records (`privacy-users`, in `privacy-epochs`), this server reruns the round, once per such user
u, with the round's users but u, and decodes that extra round's total as it decodes any round: the masks
hide everything else. The difference is u's update up to the others' drift (privacy/round_difference.py):
each other user's p_u moves by one local step in every round it trains, and the rows move with it.

- `round-difference = stepped`: the round as applied against one rerun without u at the Θ after the
  server's step, the pair an honest-looking schedule makes (two consecutive rounds): the others' rows
  differ by a whole server step of Θ and one step of their p_u.
- `resent`: every rerun gets the Θ the round was sent, and after the rerun without u the server reruns
  the whole round again; the two rounds with u on either side of the one without it, averaged, cancel the
  others' p_u drift to first order (their steps are evenly spaced). Two extra rounds per user.

The isolated update is recorded as u's upload, at the Θ u computed it on, and every privacy attack then
reads it as it reads an upload in the clear. The extra rounds are not applied; their only trace on
training is the other users' extra local steps of p_u (each trains once more per rerun it takes part in).

Nothing here reads a per-user vector: it is handed decoded totals and a way to run more rounds.
For the scoring only, each isolation's raw difference is kept (`differences`), to measure after
training how far it is from the user's true update (privacy/ground_truth.py brings that truth).
"""

import numpy as np
import pandas as pd
import torch

from fedrec.models.base import ITEM_EMBEDDING
from fedrec.updates import UserUpdates
from privacy.observed import Truth
from privacy.recording import RecordedUpload, UploadRecorder
from privacy.round_difference import difference, isolate, isolation_error, midpoint
from strategies.base import SecureRound

ISOLATION_CSV = "round-difference.csv"
DIFFERENCES_FILE = "round-difference-raw.pt"


class RoundDifferenceProbe:
    """Reruns each applied secure round without one recorded user at a time and records the difference as its upload.

    `theta` is 'resent' (the extra round gets the Θ the round was sent) or 'stepped' (the Θ after the server step);
    `negatives` the run's public r, from which the isolated user's sample count tells how many rows are its.
    """

    def __init__(self, recorder: UploadRecorder, theta: str, negatives: int) -> None:
        self.recorder = recorder
        self.theta = theta
        self.negatives = negatives  # public: r negatives per positive, for how many rows are the user's
        self.differences: dict[tuple[int, int], UserUpdates] = {}  # (epoch, user) -> the raw difference
        self.failed = 0  # extra rounds that could not be unmasked

    def __call__(self, secure_round: SecureRound) -> None:
        epoch, users = secure_round.epoch, secure_round.users
        if not self.recorder.wants(epoch):
            return
        theta = secure_round.theta_sent if self.theta == "resent" else secure_round.theta_stepped
        num_items = int(secure_round.theta_sent[ITEM_EMBEDDING].shape[0])
        with_before = secure_round.total
        for user in sorted(self.recorder.sampled[epoch] & {int(u) for u in users}):
            others = users[users != user]
            without = secure_round.rerun(others, theta) if len(others) else None
            with_after = secure_round.rerun(users, theta) if self.theta == "resent" and len(others) else None
            if len(others) and (without is None or (self.theta == "resent" and with_after is None)):
                self.failed += 1
                continue
            # resent: the rounds with u on either side of the one without it, averaged, cancel the others' drift
            # to first order; stepped: the round as applied, against one at the next Θ.
            reference = secure_round.total if with_after is None else midpoint(with_before, with_after)
            with_before = with_after if with_after is not None else with_before
            isolated = isolate(reference, without, user, negatives=self.negatives)
            self.differences[(epoch, user)] = difference(reference, without)
            self.recorder.count_items(isolated, num_items)
            self.recorder.record(epoch, isolated, secure_round.theta_sent)


def aligned_truth(upload: RecordedUpload) -> Truth:
    """The user's truth (joined to `upload`) laid over the ids the isolation found: an isolated id is an interaction
    when it is one of the user's uploaded positives (a positive the isolation missed is reported by
    `isolation_table`)."""
    truth = upload.truth
    assert truth is not None and truth.upload is not None, "the truth of an isolated user carries its true update"
    positives = truth.upload.item_ids[truth.is_interaction]
    return Truth(torch.isin(upload.observed.item_ids, positives), truth.user_embedding, truth.upload)


def isolation_table(probe: RoundDifferenceProbe, uploads: list[RecordedUpload]) -> pd.DataFrame:
    """One row per isolated upload: how the isolated update (`*_error`, ids) and the raw difference (`raw_*`)
    compare with the user's true update, and how many of its true positives the isolated ids hold."""
    rows = []
    for upload in uploads:
        truth = upload.truth
        assert truth is not None and truth.upload is not None, "the truth of an isolated user carries its true update"
        num_items = int(upload.observed.theta[ITEM_EMBEDDING].shape[0])
        observed = upload.observed
        isolated = UserUpdates.from_users(
            [upload.user], [observed.item_ids], [observed.item_rows], [observed.dense], [observed.num_samples]
        )
        raw = probe.differences[(upload.epoch, upload.user)]
        raw_error = isolation_error(raw, truth.upload, num_items)
        positives = truth.upload.item_ids[truth.is_interaction]
        rows.append(
            {
                "epoch": upload.epoch,
                "user": upload.user,
                "uploaded_items": len(truth.upload.item_ids),
                "isolated_items": len(observed.item_ids),
                "true_positives": len(positives),
                "found_positives": int(np.isin(positives.numpy(), observed.item_ids.numpy()).sum()),
                **isolation_error(isolated, truth.upload, num_items),
                "raw_row_error": raw_error["row_error"],
                "raw_dense_error": raw_error["dense_error"],
            }
        )
    return pd.DataFrame(rows)
