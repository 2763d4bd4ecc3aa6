"""The analytic attack on a user's uploads averaged over rounds: what fixed ids give back to the server.

A defense that keeps a user's id set the same every epoch (fixed negatives, fixed pseudo items) leaves
id recurrence nothing to find, but it hands the server T uploads of the same rows: under `ldp` each
carries fresh noise, so the mean over the rounds has 1/T of its variance (the maximum-likelihood
estimate of a constant signal under independent Gaussian noise), while Θ and p_u move only a little
between epochs. This attack pools the user's recorded uploads (each item row averaged over the uploads
carrying it, the dense gradients and Θ over all of them) and runs the closed-form recovery of
privacy/analytic.py once on the pool: p_u and one coefficient k_i per item.

Labels come from the sign of k_i (negative: the user's positive). Among the items so labelled, a fake
positive of `pseudo-items` is told from a real one by its score: the user's p_u is trained on its real
positives only, so σ(s_ui) at the recovered p_u is higher for them. The score is therefore
1[k_i < 0] + σ(s_ui): the sign first, the model's own score within each side. The count prior (N/(1+r)
minus the public k) says how many to mark. Without a defense this is exact, as the analytic attack is.
"""

from typing import Any

import torch

from fedrec.models.base import ITEM_EMBEDDING, RecModel
from privacy.analytic import AnalyticAttack
from privacy.base import PrivacyAttack, estimated_positives, pseudo_positives, top_items
from privacy.observed import ObservedUpload, Recovered, UserHistory


def pooled_upload(uploads: tuple[ObservedUpload, ...]) -> ObservedUpload:
    """One upload standing for all: every uploaded id once, its row averaged over the uploads carrying it;
    dense gradients and Θ averaged over all; `num_samples` the mean, rounded."""
    item_ids = torch.unique(torch.cat([upload.item_ids for upload in uploads]))
    width = uploads[0].item_rows.shape[1]
    sums = torch.zeros(len(item_ids), width, dtype=torch.float64)
    counts = torch.zeros(len(item_ids), dtype=torch.float64)
    for upload in uploads:
        positions = torch.searchsorted(item_ids, upload.item_ids)
        sums.index_add_(0, positions, upload.item_rows.double())
        counts.index_add_(0, positions, torch.ones(len(positions), dtype=torch.float64))
    return ObservedUpload(
        theta={
            name: torch.stack([upload.theta[name].double() for upload in uploads]).mean(0) for name in uploads[0].theta
        },
        item_ids=item_ids,
        item_rows=sums / counts[:, None],
        dense={
            name: torch.stack([upload.dense[name].double() for upload in uploads]).mean(0) for name in uploads[0].dense
        },
        num_samples=round(sum(upload.num_samples for upload in uploads) / len(uploads)),
    )


class PooledAnalytic(PrivacyAttack):
    """The analytic recovery on the user's uploads averaged over rounds; sign first, then the recovered score."""

    multi_round = True

    def __init__(self, model: RecModel, config: Any) -> None:
        super().__init__(model, config)
        self.analytic = AnalyticAttack(model, config)  # validates the model and loss as the analytic attack does

    def recover_history(self, history: UserHistory) -> list[Recovered]:
        pool = pooled_upload(history.uploads)
        recovered = self.analytic.recover(pool)  # its scores are -k_i
        scores = recovered.interaction_scores.double()
        if recovered.user_embedding is not None:
            theta, user_emb = pool.theta, recovered.user_embedding.double()
            with torch.no_grad():
                fit = torch.sigmoid(self.model.logits(theta, user_emb, theta[ITEM_EMBEDDING][pool.item_ids]))
            scores = (scores > 0).double() + fit.reshape(-1)
        pseudo = pseudo_positives(self.config)
        answers = []
        for upload in history.uploads:
            own = scores[torch.searchsorted(pool.item_ids, upload.item_ids)]
            count = estimated_positives(upload, self.config.negatives, pseudo)
            answers.append(Recovered(own.float(), top_items(own, count), recovered.user_embedding))
        return answers
