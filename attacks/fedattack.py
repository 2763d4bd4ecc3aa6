"""FedAttack ("FedAttack: Effective and Covert Poisoning Attack on Federated Recommendation via Hard
Sampling", Wu et al., 2022), untargeted, and its random-sampling control.

A compromised client infers its user embedding from its own profile: its current local p_u (the
public notebook of the paper reads the initial, never-updated embedding; a bug not copied here).
It ranks the non-interacted items (the candidates) by Υ(p_u, ·) and builds poisoned samples of the
same number and form as its normal ones from the globally hardest samples: every positive is the
candidate farthest from it (the bottom of its ranking), and each positive's r negatives are the r
candidates most relevant to it (the top). This is the paper's "globally hardest samples" and what
its public notebook does (bottom item as the positive, top item as the negative, for each of the
user's samples). It then uploads the gradient of its normal loss on those samples.

An earlier version of this class spread the samples over the ranking instead (the n hardest distinct
negatives and the n farthest distinct positives); with the per-user mean loss that dilutes each
item's push by 1/n, and measured on MovieLens-1M it did no more harm than random samples
(docs/attack-experiments.md).

With `fedattack-norm = honest` (not in the paper) each client also computes its honest update of the
round and scales the poisoned one to that update's L2 norm, so the size of its upload cannot give it
away; by default (`free`) the poisoned gradient is uploaded as it is, as the paper does.

`random-samples` is the control of the paper's comparison: the same compromised clients, the same
sample counts, but positives and negatives drawn uniformly at random.
"""

import numpy as np
import torch

from attacks.base import AttackRound, ProfileAttack
from fedrec.reporting.update_stats import user_update_norms
from fedrec.settings import Setting
from fedrec.training.local import LocalResult, Objective, compute_user_updates
from fedrec.training.sampling import UserSamples, epoch_samples

_RANDOM_SAMPLES_STREAM = 0x5253


FEDATTACK_NORM = Setting(
    "fedattack-norm",
    str,
    "FedAttack's upload: `free` as computed (the paper) or `honest`, scaled to the L2 norm of the client's honest "
    "update of the round (not in the paper).",
    ("free", "honest"),
)


class FedAttack(ProfileAttack):
    default_mode = "compromised"
    needs_own_data = True
    targeted = False
    settings = (FEDATTACK_NORM,)

    def samples(self, attack_round: AttackRound, index: int) -> UserSamples:
        own = attack_round.own_items[index]
        with torch.no_grad():
            scores = self.model.score_all_items(attack_round.theta, attack_round.user_emb[index : index + 1])[0]
        scores[torch.from_numpy(own)] = float("-inf")
        ranking = torch.argsort(scores, descending=True).numpy()
        candidates = ranking[: self.setup.num_items - len(own)]  # own items (-inf) sort last
        num_pos, per_positive = len(own), self.config.negatives
        hardest_negatives = np.tile(np.resize(candidates[:per_positive], per_positive), num_pos)
        hardest_positives = np.full(num_pos, candidates[-1])
        return UserSamples.paired(hardest_positives, hardest_negatives, per_positive)

    def poison(self, attack_round: AttackRound) -> LocalResult:
        poisoned = super().poison(attack_round)
        if self.config.fedattack_norm == "free":
            return poisoned
        honest_samples = [
            epoch_samples(int(user), own, self.setup.num_items, self.config, attack_round.epoch)
            for user, own in zip(attack_round.user_ids, attack_round.own_items)
        ]
        honest = compute_user_updates(
            self.model,
            attack_round.theta,
            attack_round.user_ids,
            attack_round.user_emb,
            honest_samples,
            Objective.of(self.config),
        )
        scale = user_update_norms(honest.updates) / user_update_norms(poisoned.updates).clamp(min=1e-30)
        return LocalResult(poisoned.updates.scaled(scale.float()), poisoned.user_emb_grad, poisoned.losses)


class RandomSamples(ProfileAttack):
    default_mode = "compromised"
    needs_own_data = True
    targeted = False

    def samples(self, attack_round: AttackRound, index: int) -> UserSamples:
        num_pos = len(attack_round.own_items[index])
        rng = self.rng(_RANDOM_SAMPLES_STREAM, attack_round.epoch, int(attack_round.user_ids[index]))
        items = rng.integers(0, self.setup.num_items, size=num_pos * (1 + self.config.negatives))
        return UserSamples.paired(items[:num_pos], items[num_pos:], self.config.negatives)
