"""Pseudo items: each user also uploads rows for k items it never interacted with, as fake positives.

A curious server reads a row's label from its sign: under BCE the row of item i is
(σ(s_ui) − y_i)/N·∂s_ui/∂q_i, and once p_u is known (exactly, for NCF) the coefficient σ(s_ui) − y_i is
negative for positives and positive for negatives. Pseudo items labelled 0 are just more negatives
and leave every positive's sign as telling as before. So here
they are labelled 1 (`pseudo-items-label = "positive"`, the default), and their rows are computed
honestly by the model at the user's p_u: to a gradient-inversion or sign attack they are exactly
real positives. Each pseudo positive brings its own r negatives, so the upload is the gradient of
the mean loss over (n_pos + k)·(1 + r) samples and `num-samples` reports that count: the count prior
N/(1+r) stays an integer and counts the pseudo items as positives. The upload is then exactly what
an honest user with the interaction set P ∪ S would send (S: its pseudo items):
- S is drawn once per user (keyed by seed and user, not epoch): fresh pseudo items every epoch would
  let the server intersect a user's id sets over epochs and keep the real positives;
- a sampled negative that lands on S is redrawn outside P ∪ S, which makes the negatives exactly
  uniform over the items outside P ∪ S, as that user would draw them; the pseudo positives' own
  negatives come from there too.
- with `resample-negatives` off, the redraws and the pseudo positives' negatives are drawn once per
  user too, so the whole uploaded id set is the same every epoch: id recurrence then finds nothing
  that popularity does not (measured in experiments/privacy/ml100k-idhiding.toml).
`"negative"` labels S 0 instead (no extra negatives; N + k samples), to show that it does not hide.

p_u steps on the real samples only: the node runs the honest pass over the user's real samples for
p_u's gradient and loss, and a second pass over real + pseudo samples for the upload alone.

What the server still learns: k is a public setting, so n_pos = N/(1+r) − k; only which uploaded
items are the positives is hidden. Over training the model fits p_u to the real positives only, so
their scores σ(s_ui) drift above the pseudo ones': a server that recovers p_u can rank the uploaded
positives by score.

Bias (the price): the upload's N'·U' = N·U + k(1+r)·U_S, where U is the honest upload on the real
samples (with any redrawn negative) and U_S the mean-loss gradient of the pseudo samples alone (BPR:
the same with r·n pairs). So U' = (n_pos/(n_pos+k))·U + (k/(n_pos+k))·U_S: the real signal shrinks
by n_pos/(n_pos+k), and each pseudo item i adds the row (σ(s_ui) − 1)/N'·∂s_ui/∂q_i (BCE; MF:
−(1 − σ(p_u·q_i))/N'·p_u, a push of q_i towards p_u, as a real positive gives), plus r negative rows
σ(s_uj)/N'·∂s_uj/∂q_j on random items and the dense gradients of these 1 + r samples. Θ is trained
as if every user had k more, random and fixed, interactions: with F_u the user's non-interacted
items, each j in F_u gets from u the expected extra row (k/|F_u|)·(σ(s_uj) − 1)/N'·∂s_uj/∂q_j per
epoch, a drift towards uniform exposure, strongest for unpopular items (free for most users).
"""

from typing import Any

import numpy as np
import torch

from fedrec.models.base import ITEM_EMBEDDING, RecModel, Theta
from fedrec.settings import Setting
from fedrec.training.local import LocalResult, Objective, compute_user_updates
from fedrec.training.sampling import UserSamples, sample_negatives
from privacy.defenses import ClientDefense

_PSEUDO_ITEMS_STREAM = 0x5053
_PSEUDO_NEGATIVES_STREAM = 0x504E
LABELS = ("positive", "negative")


def pseudo_items(positives: np.ndarray, num_items: int, count: int, seed: int, user: int) -> np.ndarray:
    """The user's pseudo items, sorted: `count` distinct items outside its positives, the same every epoch."""
    taken = np.unique(positives)
    free = num_items - len(taken)
    rng = np.random.default_rng([seed, _PSEUDO_ITEMS_STREAM, user])
    draws = np.sort(rng.choice(free, size=min(count, free), replace=False))
    # The draws index the free items; shift each past the taken items below it (as sample_negatives does).
    return draws + np.searchsorted(taken - np.arange(len(taken)), draws, side="right")


def upload_samples(
    samples: UserSamples, pseudo: np.ndarray, num_items: int, negatives: int, label: str, rng: np.random.Generator
) -> UserSamples:
    """The samples the upload is computed on: the real ones (negatives that hit `pseudo` redrawn) plus the pseudo ones.

    Positives stay first and in place, so the real negatives' `partner` indices stay valid.
    """
    is_positive = samples.labels == 1
    positives, real_negatives = samples.items[is_positive], samples.items[~is_positive].copy()
    claimed = np.union1d(positives, pseudo)
    clash = np.isin(real_negatives, pseudo)
    real_negatives[clash] = sample_negatives(claimed, num_items, int(clash.sum()), rng)
    num_pos, k = len(positives), len(pseudo)
    if label == "positive":
        pseudo_negatives = sample_negatives(claimed, num_items, k * negatives, rng)
        items = [positives, pseudo, real_negatives, pseudo_negatives]
        labels = [np.ones(num_pos + k), np.zeros(len(real_negatives) + len(pseudo_negatives))]
        own_partners = num_pos + np.repeat(np.arange(k), negatives)  # each pseudo positive's block of negatives
        partner = [np.full(num_pos + k, -1), samples.partner[~is_positive], own_partners]
    else:
        # BPR needs a partner for every negative: pair the pseudo items with the real positives in turn.
        items = [positives, real_negatives, pseudo]
        labels = [np.ones(num_pos), np.zeros(len(real_negatives) + k)]
        partner = [np.full(num_pos, -1), samples.partner[~is_positive], np.arange(k) % num_pos]
    return UserSamples(
        items=np.concatenate(items).astype(np.int64),
        labels=np.concatenate(labels).astype(np.float32),
        partner=np.concatenate(partner).astype(np.int64),
    )


def pseudo_upload(samples: UserSamples, user: int, num_items: int, config: Any, epoch: int) -> UserSamples:
    """`user`'s upload samples in `epoch`: its fixed pseudo items; redraws and pseudo negatives keyed by
    (seed, epoch, user), or by (seed, 0, user) in every epoch when `resample-negatives` is off."""
    pseudo = pseudo_items(samples.items[samples.labels == 1], num_items, config.pseudo_items, config.seed, user)
    # With fixed real negatives, fresh pseudo negatives would be the only ids that come and go: keep them fixed too.
    negative_epoch = epoch if config.resample_negatives else 0
    rng = np.random.default_rng([config.seed, _PSEUDO_NEGATIVES_STREAM, negative_epoch, user])
    return upload_samples(samples, pseudo, num_items, config.negatives, config.pseudo_items_label, rng)


class PseudoItems(ClientDefense):
    """Uploads computed over the real samples plus k pseudo items per user; p_u trained on the real ones."""

    settings = (
        Setting("pseudo-items", int, "k: pseudo items each user uploads with the `pseudo-items` defense.", minimum=0),
        Setting(
            "pseudo-items-label",
            str,
            "Label of the pseudo items: `positive` (fake positives with their own negatives; hides the "
            "positives' signs) or `negative` (more negatives; does not hide them).",
            LABELS,
        ),
    )

    def local_update(
        self,
        model: RecModel,
        theta: Theta,
        user_ids: np.ndarray,
        user_emb: torch.Tensor,
        samples: list[UserSamples],
        config: Any,
        epoch: int,
    ) -> LocalResult:
        honest = compute_user_updates(model, theta, user_ids, user_emb, samples, Objective.of(config))
        num_items = theta[ITEM_EMBEDDING].shape[0]
        uploaded = [pseudo_upload(own, user, num_items, config, epoch) for user, own in zip(user_ids.tolist(), samples)]
        upload = compute_user_updates(model, theta, user_ids, user_emb, uploaded, Objective.of(config))
        return LocalResult(updates=upload.updates, user_emb_grad=honest.user_emb_grad, losses=honest.losses)
