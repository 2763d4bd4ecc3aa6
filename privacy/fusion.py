"""A gradient attack and the informed baseline together: each upload's items ranked by both at once.

The informed baseline (privacy/popularity.py) knows which ids are popular; a gradient attack knows what
the rows say. A server holds both, so the strongest attacker combines them. Without a calibrated
likelihood for either, the combination here is the mean of the two within-upload rank fractions (a Borda
count): an item both call likely comes first. It is a heuristic, not a Bayes-optimal fusion: when the
gradient attack is pure noise it dilutes the prior, which is why the tables keep every attack as its own
row and judge a defense by the best of them.
"""

import torch
from scipy.stats import rankdata

from privacy.base import PrivacyAttack, estimated_positives, pseudo_positives, top_items
from privacy.observed import Recovered, UserHistory


def rank_fraction(scores: torch.Tensor) -> torch.Tensor:
    """Each score's rank among `scores` over their number, in (0, 1]; ties share their mean rank."""
    return torch.from_numpy(rankdata(scores.double().numpy()) / max(len(scores), 1))


class PopularityFusion(PrivacyAttack):
    """`attack`'s scores and public popularity, fused by the mean of their rank fractions in each upload."""

    def __init__(self, attack: PrivacyAttack) -> None:
        super().__init__(attack.model, attack.config)
        self.attack = attack
        self.multi_round = attack.multi_round

    def recover_history(self, history: UserHistory) -> list[Recovered]:
        pseudo = pseudo_positives(self.config)
        fused = []
        for upload, own in zip(history.uploads, self.attack.recover_history(history), strict=True):
            popularity = history.item_uploads[upload.item_ids]
            scores = (rank_fraction(own.interaction_scores) + rank_fraction(popularity)) / 2
            count = estimated_positives(upload, self.config.negatives, pseudo)
            fused.append(Recovered(scores.float(), top_items(scores, count), own.user_embedding))
        return fused
