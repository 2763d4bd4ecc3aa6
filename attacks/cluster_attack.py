"""ClusterAttack (Yu et al., AAAI 2023, "Untargeted Attack against Federated Recommendation Systems via
Poisonous Item Embeddings and the Defense"), after its reference code (yflyl613/FedRec,
`attacker/ClusterAttack.py`).

An untargeted attack: the malicious clients make the item embeddings collapse into a few clusters, so that
the model cannot tell items apart and its ranking degrades. In each round they cluster the received item
embeddings E by k-means into k clusters (centroids c, labels l) and upload, for every item i, the gradient of
the within-cluster distance loss

    L = sum_i ||e_i - c_{l_i}||^2 / k,    dL/de_i = 2 (e_i - c_{l_i}) / k

(the centroids held fixed), so the server's descent step pulls each item towards its cluster's centroid. To
look like benign uploads, each row is rescaled to the norm mean + U(0, 1) * scale * std, the mean and standard
deviation of the item-row norms of the attackers' own honest gradients (every item row of every attacker,
rows an attacker's samples do not touch counting as norm 0), a fresh U(0, 1) per item and client. The user
embedding (and, for models with dense parameters, those) take the honest gradient of the client's own data;
a client reports its number of samples, as a benign one does. Paper defaults: k starts at 2, scale 3.

Deliberate differences from the reference code:

- Fixed k (`cluster-attack-clusters`). The reference adapts k between 1 and 50 by the trend of a debiased
  moving average of L over rounds; nothing is kept between rounds here (a deployed node starts a fresh process
  per message), and the reference's adaptation stops the run with an AttributeError (`CLUSTER_RATE` is read
  but never defined) the first time it would change k, so its completed runs keep k = 2.
- The norm statistics come from the honest gradients of the malicious clients of this call (one node, one
  round); the reference samples up to 50 of all its attackers. Its benign gradients also carry weight decay on
  every item row (so untouched rows have a tiny norm, not 0).
- k-means is scikit-learn's (Lloyd, random initial centroids drawn from the rows, one start, seeded by the run's
  seed, epoch and the call's first client); the reference runs its own Lloyd loop from random rows until the
  centroids move by less than 1e-4. All malicious clients of a call share the clustering.
"""

from dataclasses import replace

import numpy as np
import torch

from attacks.base import Attack, AttackRound
from fedrec.models.base import ITEM_EMBEDDING, Theta
from fedrec.settings import Setting
from fedrec.training.local import LocalResult, Objective, compute_user_updates
from fedrec.training.sampling import epoch_samples
from fedrec.updates import UserUpdates

_CLUSTER_STREAM = 0x434C  # the k-means initialisation, shared by a call's clients
_SCALE_STREAM = 0x4353  # each client's row norms


def cluster_pull(item_emb: torch.Tensor, clusters: int, seed: int) -> torch.Tensor:
    """[M, d] gradient of sum_i ||e_i - c_{l_i}||^2 / k for k-means (k = `clusters`) of the rows of `item_emb`."""
    clusters = min(clusters, len(item_emb))
    from sklearn.cluster import KMeans  # here, not at the top: sklearn costs each node ~0.8 s and ~100 MB to import

    kmeans = KMeans(n_clusters=clusters, init="random", n_init=1, random_state=seed).fit(item_emb.double().numpy())
    centroids = torch.from_numpy(kmeans.cluster_centers_).to(item_emb.dtype)
    return 2.0 * (item_emb - centroids[torch.from_numpy(kmeans.labels_).long()]) / clusters


def rescaled_rows(rows: torch.Tensor, norm_mean: float, norm_std: float, scale: float, rng: np.random.Generator):
    """`rows` [M, d], each rescaled to L2 norm `norm_mean` + U(0, 1) * `scale` * `norm_std` (zero rows stay 0)."""
    target = norm_mean + torch.from_numpy(rng.uniform(size=(len(rows), 1))).to(rows.dtype) * scale * norm_std
    return rows * target / (rows.norm(dim=1, keepdim=True) + 1e-8)


def item_row_norm_stats(updates: UserUpdates, num_items: int) -> tuple[float, float]:
    """Mean and (unbiased) standard deviation of the norms of all U x M item rows of `updates`, unsent ones 0 (a
    user's rows of one item, with `repeated-items = "separate"`, summed first)."""
    keys, inverse = torch.unique(updates.item_owner() * num_items + updates.item_ids, return_inverse=True)
    rows = torch.zeros(len(keys), updates.item_grads.shape[1], dtype=torch.float64)
    rows.index_add_(0, inverse, updates.item_grads.double())
    norms = torch.zeros(updates.num_users * num_items, dtype=torch.float64)
    norms[keys] = rows.norm(dim=1)
    return float(norms.mean()), float(norms.std()) if len(norms) > 1 else 0.0


class ClusterAttack(Attack):
    """Untargeted model poisoning: every item row pulled towards its k-means centroid, at benign-looking norms."""

    targeted = False
    default_mode = "compromised"
    needs_own_data = True
    settings = (
        Setting(
            "cluster-attack-clusters", int, "k: clusters ClusterAttack pulls the items into (paper: 2).", minimum=1
        ),
        Setting(
            "cluster-attack-scale",
            float,
            "ClusterAttack's row norms are the honest mean + U(0,1) * this * the honest std (reference: 3).",
            minimum=0.0,
        ),
    )

    def honest(self, theta: Theta, attack_round: AttackRound) -> LocalResult:
        """What the round's malicious clients would upload on their own data, without any client-side defense term."""
        samples = [
            epoch_samples(int(user), own, self.setup.num_items, self.config, attack_round.epoch)
            for user, own in zip(attack_round.user_ids, attack_round.own_items)
        ]
        objective = replace(Objective.of(self.config), uniformity=0.0)
        return compute_user_updates(self.model, theta, attack_round.user_ids, attack_round.user_emb, samples, objective)

    def poison(self, attack_round: AttackRound) -> LocalResult:
        theta = attack_round.theta
        honest = self.honest(theta, attack_round)
        norm_mean, norm_std = item_row_norm_stats(honest.updates, self.setup.num_items)
        seed = int(self.rng(_CLUSTER_STREAM, attack_round.epoch, int(attack_round.user_ids[0])).integers(2**31))
        pull = cluster_pull(theta[ITEM_EMBEDDING].detach(), self.config.cluster_attack_clusters, seed)
        all_items = torch.arange(self.setup.num_items)
        rows = [
            rescaled_rows(
                pull,
                norm_mean,
                norm_std,
                self.config.cluster_attack_scale,
                self.rng(_SCALE_STREAM, attack_round.epoch, int(user)),
            )
            for user in attack_round.user_ids
        ]
        dense = [{name: grads[k] for name, grads in honest.updates.dense_grads.items()} for k in range(len(rows))]
        updates = UserUpdates.from_users(
            attack_round.user_ids.tolist(),
            [all_items] * len(rows),
            rows,
            dense,
            honest.updates.num_samples.tolist(),
        )
        return LocalResult(updates, honest.user_emb_grad, honest.losses)
