"""The informed baseline: what a curious server guesses with no gradient at all.

For each upload it ranks the uploaded ids by their public popularity (`UserHistory.item_uploads`: how
many uploads of all users in the recorded epochs carried the item, counted from the ids on the wire) and
marks as many as the count prior gives: n_pos = N/(1+r) minus the public k of pseudo items. It never
reads an item row, a dense gradient or Θ. Popular items are more often someone's positive than a
uniform negative draw, so this beats random chance by a wide margin; a defense is judged against this
line, not against chance.
"""

from privacy.base import PrivacyAttack, estimated_positives, pseudo_positives, top_items
from privacy.observed import Recovered, UserHistory


class PopularityPrior(PrivacyAttack):
    """Each upload's ids ranked by public popularity; the count prior decides how many are marked."""

    def recover_history(self, history: UserHistory) -> list[Recovered]:
        recovered = []
        for upload in history.uploads:
            scores = history.item_uploads[upload.item_ids].float()
            count = estimated_positives(upload, self.config.negatives, pseudo_positives(self.config))
            recovered.append(Recovered(scores, top_items(scores, count), None))
        return recovered
