"""Id recurrence across a user's uploads: the multi-round attack that reads only the ids.

Every epoch a user uploads the rows of all its positives and of r fresh negatives per positive. Its
positives therefore appear in every one of its uploads, a negative only when it happens to be drawn
again: counting, per item, in how many of the user's recorded uploads it appears separates the two
after a few epochs (intersection of the id sets is the count reaching its maximum). Nothing in `ldp`
touches the ids, so the noise on the rows does not matter here. Ties (a negative drawn in every epoch,
common for heavy users whose negatives cover most of the catalogue) are broken by public popularity,
scaled below one so it never outweighs a count. The count prior (N/(1+r) minus the public k of pseudo
items) says how many items to mark. Pseudo items drawn once per user recur as real positives do: this
attack cannot tell them apart, only the popularity tie-break can.
"""

import torch

from privacy.base import PrivacyAttack, estimated_positives, pseudo_positives, top_items
from privacy.observed import Recovered, UserHistory


def recurrence_scores(history: UserHistory) -> list[torch.Tensor]:
    """Per upload, each uploaded item's number of the user's uploads carrying it, plus popularity in [0, 1)."""
    appearances = torch.bincount(
        torch.cat([upload.item_ids for upload in history.uploads]), minlength=len(history.item_uploads)
    )
    tie_break = history.item_uploads.double() / (float(history.item_uploads.max()) + 1.0)
    return [(appearances[upload.item_ids] + tie_break[upload.item_ids]) for upload in history.uploads]


class IdRecurrence(PrivacyAttack):
    """Scores each uploaded item by how many of the user's recorded uploads carry it; marks the count prior's n_pos."""

    multi_round = True

    def recover_history(self, history: UserHistory) -> list[Recovered]:
        pseudo = pseudo_positives(self.config)
        return [
            Recovered(
                scores.float(), top_items(scores, estimated_positives(upload, self.config.negatives, pseudo)), None
            )
            for upload, scores in zip(history.uploads, recurrence_scores(history))
        ]
