"""FedRecAttack ("FedRecAttack: Model Poisoning Attack to Federated Recommendation", Rong et al.,
ICDE 2022), after the public reference code (rdz98/FedRecAttack).

The attacker knows a small public share of real users' interactions (paper: ξ = 1%). Its "center"
approximates those users: it fits surrogate user embeddings by BPR on the public interactions, with
Θ as received and frozen (Adam, lr 0.01, init N(0, 0.01²)). For each surrogate user u and each
target t that u has not interacted with publicly, let s_t be u's score of t and s_k the score of the
K-th (K = 10) highest-scored item among u's items that are neither public interactions nor targets.
The attack loss is Σ_u Σ_t g(s_k − s_t), g(x) = x for x ≥ 0 and e^x − 1 for x < 0, and the *center
gradient* is its gradient with respect to every item embedding (and, for NCF, the MLP).

The malicious clients collude through a residual, initially the center gradient. Each one in turn
picks κ item rows: the targets plus κ − |targets| other items drawn without replacement with
probability ∝ the L2 norm of their residual row; it uploads those rows, each clipped to L2 norm
≤ grad-limit (plus a tiny noise), and subtracts what it uploaded from the residual, so the next
client covers what is left. Paper defaults: ρ = 5%, κ = 60, ξ = 1%, grad limit 1.

Deliberate differences from the reference code:

- Stateless rounds. A deployed node starts a fresh process per message, so nothing is kept
  between rounds: every `poison` call refits the surrogate users from a deterministic init
  (keyed by seed and epoch) with `fedrecattack-surrogate-steps` (default 30) full-batch Adam steps over
  all surrogate users at once, one negative per public positive redrawn each step. The reference keeps
  its surrogate embeddings and Adam state across rounds and trains one mini-batch epoch per round, so
  its surrogates keep fitting as the rounds go on (docs/fedrecattack-vs-reference.md measures more steps).
- Surrogate users are the users with at least one public interaction (the reference keeps an
  embedding, never trained, for users without any).
- BPR and the attack loss use the model's own logits, the MLP frozen while fitting, so the attack
  also runs on NCF (the reference is MF only). For NCF the center gradient includes the MLP: every
  malicious client of a call uploads that part scaled by 1 / (its number of clients), so their sum
  is the center gradient's MLP part; it is not clipped.
- By default a client's item set is redrawn every round, from the residual of that round, with a
  generator keyed by (seed, epoch, user); the reference fixes a client's set at its first participation,
  which `fedrecattack-item-sets = "first-round"` does too (the node keeps the sets in its state).
  The draw weights get a relative floor (1e-9 of the largest) so every non-target item can be
  drawn: the reference adds noise to the norms instead.
- Collusion spans one `poison` call, i.e. the malicious clients of one node in one round. Injected
  fake users get the highest user ids, so with contiguous partitions they mostly sit on one node;
  malicious clients on other nodes start from the full center gradient again.
- The noise on uploaded rows has std 1e-6 × grad-limit (the reference: covariance 1e-7 I) and is
  added before clipping, so every uploaded row's norm is at most grad-limit.
- κ smaller than the number of targets uploads the targets only; κ above the item count uploads
  every item. A client reports its number of uploaded rows as its sample count.
"""

import numpy as np
import scipy.sparse as sp
import torch
import torch.nn.functional as F

from attacks.base import Attack, AttackRound, AttackSetup
from fedrec.config import RunConfig
from fedrec.errors import ConfigError
from fedrec.models.base import ITEM_EMBEDDING, Theta, dense_names
from fedrec.settings import Setting
from fedrec.training.local import LocalResult
from fedrec.updates import UserUpdates

#: Adam learning rate of the surrogate fit (the reference code's attack lr).
SURROGATE_LR = 0.01
#: Std of the surrogate users' initial embeddings (the reference code's init).
SURROGATE_INIT_STD = 0.01
#: The target is pushed above the K-th highest-scored non-interacted item of each surrogate user.
TOP_K = 10
#: Std of the noise on uploaded rows, relative to the grad limit.
NOISE_STD = 1e-6
#: Tries at redrawing a negative that hit one of the user's public positives.
_NEGATIVE_RETRIES = 10
#: Surrogate users' scores held at once when finding their K-th item (~16 MB of float32).
_SCORE_CHUNK_ELEMENTS = 1 << 22

#: `fedrecattack-item-sets`: redraw each client's items every round, or keep those of its first round.
PER_ROUND, FIRST_ROUND = "per-round", "first-round"
ITEM_SET_CHOICES = (PER_ROUND, FIRST_ROUND)

_CENTER_STREAM = 0x4652  # surrogate init and negatives, shared by a call's clients
_CLIENT_STREAM = 0x4643  # each client's item set and noise


def _attack_loss(gap: torch.Tensor) -> torch.Tensor:
    """g(x) = x for x >= 0, e^x - 1 for x < 0 (continuous, with slope 1 at 0)."""
    return torch.where(gap >= 0, gap, torch.expm1(gap.clamp(max=0.0)))


class FedRecAttack(Attack):
    """Model poisoning from public interactions: clipped, colluding uploads of the center gradient."""

    requires_knowledge = "public-interactions"
    settings = (
        Setting(
            "fedrecattack-items", int, "kappa: items each FedRecAttack client uploads, targets included.", minimum=1
        ),
        Setting("fedrecattack-grad-limit", float, "Per-item L2 limit of a FedRecAttack client's rows.", minimum=0.0),
        Setting(
            "fedrecattack-surrogate-steps",
            int,
            "Full-batch Adam steps fitting FedRecAttack's surrogate users in each round, from a fresh start.",
            minimum=1,
        ),
        Setting(
            "fedrecattack-item-sets",
            str,
            "Each FedRecAttack client's kappa items: redrawn every round (per-round) or kept from its first round "
            "as in the reference code (first-round).",
            choices=ITEM_SET_CHOICES,
        ),
    )

    @classmethod
    def keeps_item_sets(cls, config: RunConfig) -> bool:
        return config.fedrecattack_item_sets == FIRST_ROUND

    def __init__(self, setup: AttackSetup) -> None:
        super().__init__(setup)
        public = setup.knowledge.public_interactions
        if public is None:
            raise ConfigError("attack 'fedrecattack' needs run-config attacker-knowledge='public-interactions'")
        public = sp.csr_array(public, copy=True)
        public.sum_duplicates()
        public.data[:] = 1
        public.eliminate_zeros()
        users = np.flatnonzero(np.diff(public.indptr))
        #: Surrogate users' public interactions, rows = surrogate users (those with any).
        self.public = sp.csr_array(public[users, :])
        self.public.sort_indices()
        self.num_items = setup.num_items
        counts = np.diff(self.public.indptr)
        self._pos_users = np.repeat(np.arange(len(users)), counts)
        self._pos_items = self.public.indices.astype(np.int64)
        self._pos_keys = self._pos_users * self.num_items + self._pos_items  # sorted: csr order

    @property
    def num_surrogates(self) -> int:
        return self.public.shape[0]

    # -- the center -----------------------------------------------------------------------------

    def _is_public(self, users: np.ndarray, items: np.ndarray) -> np.ndarray:
        keys = users * self.num_items + items
        where = np.searchsorted(self._pos_keys, keys).clip(max=max(len(self._pos_keys) - 1, 0))
        return (self._pos_keys[where] == keys) if len(self._pos_keys) else np.zeros(len(keys), dtype=bool)

    def _negatives(self, rng: np.random.Generator) -> np.ndarray:
        """One uniformly drawn item per public positive, redrawn where it is a public positive."""
        negatives = rng.integers(self.num_items, size=len(self._pos_items))
        for _ in range(_NEGATIVE_RETRIES):
            clash = np.flatnonzero(self._is_public(self._pos_users, negatives))
            if len(clash) == 0:
                break
            negatives[clash] = rng.integers(self.num_items, size=len(clash))
        return negatives

    def surrogate_users(self, theta: Theta, epoch: int) -> torch.Tensor:
        """[S, d] embeddings of the surrogate users, fitted by BPR on the public data with Θ frozen."""
        rng = np.random.default_rng([self.config.seed, _CENTER_STREAM, epoch])
        dim = theta[ITEM_EMBEDDING].shape[1]
        init = rng.standard_normal((self.num_surrogates, dim)) * SURROGATE_INIT_STD
        users = torch.from_numpy(init).float().requires_grad_()
        if len(self._pos_items) == 0:
            return users.detach()
        frozen = {name: tensor.detach() for name, tensor in theta.items()}
        dense = {name: frozen[name] for name in dense_names(frozen)}
        item_emb = frozen[ITEM_EMBEDDING]
        rows = torch.from_numpy(self._pos_users)
        positives = item_emb[torch.from_numpy(self._pos_items)]
        optimizer = torch.optim.Adam([users], lr=SURROGATE_LR)
        for _ in range(self.config.fedrecattack_surrogate_steps):
            negatives = item_emb[torch.from_numpy(self._negatives(rng))]
            own = users[rows]
            gap = self.model.logits(dense, own, positives) - self.model.logits(dense, own, negatives)
            loss = F.softplus(-gap).sum()  # -log sigmoid(s_pos - s_neg)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        return users.detach()

    def _kth_items(self, theta: Theta, users: torch.Tensor) -> torch.Tensor:
        """Each surrogate user's K-th highest-scored item among non-public, non-target items (-1: none)."""
        kth = torch.full((len(users),), -1, dtype=torch.int64)
        k = min(TOP_K, self.num_items)
        chunk = max(1, _SCORE_CHUNK_ELEMENTS // max(1, self.num_items))
        targets = torch.from_numpy(self.targets)
        with torch.no_grad():
            for start in range(0, len(users), chunk):
                end = min(start + chunk, len(users))
                scores = self.model.score_all_items(theta, users[start:end])
                block = self.public[start:end].tocoo()
                scores[
                    torch.from_numpy(block.row.astype(np.int64)), torch.from_numpy(block.col.astype(np.int64))
                ] = -torch.inf
                scores[:, targets] = -torch.inf
                values, items = torch.topk(scores, k, dim=1)
                found = torch.isfinite(values[:, -1])
                kth[start:end] = torch.where(found, items[:, -1], -1)
        return kth

    def center_gradient(self, theta: Theta, epoch: int) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """Gradient of the attack loss w.r.t. all item embeddings [M, d] and the dense parameters."""
        users = self.surrogate_users(theta, epoch)
        names = dense_names(theta)
        item_emb = theta[ITEM_EMBEDDING].detach().clone().requires_grad_()
        dense = {name: theta[name].detach().clone().requires_grad_() for name in names}
        if self.num_surrogates == 0:
            return torch.zeros_like(item_emb), {name: torch.zeros_like(p) for name, p in dense.items()}
        kth = self._kth_items(theta, users)
        # Pairs (surrogate user, target) where the user has not interacted with the target publicly.
        eligible = self.public[:, self.targets].toarray() == 0  # [S, T]
        eligible &= (kth >= 0).numpy()[:, None]
        pair_users, pair_targets = np.nonzero(eligible)
        if len(pair_users) == 0:
            return torch.zeros_like(item_emb), {name: torch.zeros_like(p) for name, p in dense.items()}
        pair_users_t = torch.from_numpy(pair_users)
        own = users[pair_users_t]
        target_scores = self.model.logits(dense, own, item_emb[torch.from_numpy(self.targets[pair_targets])])
        kth_scores = self.model.logits(dense, own, item_emb[kth[pair_users_t]])
        loss = _attack_loss(kth_scores - target_scores).sum()
        grads = torch.autograd.grad(loss, [item_emb, *dense.values()], allow_unused=True)
        dense_grads = {
            name: grad if grad is not None else torch.zeros_like(dense[name]) for name, grad in zip(names, grads[1:])
        }
        return grads[0], dense_grads

    # -- the colluding clients ------------------------------------------------------------------

    def upload_size(self) -> int:
        return min(max(self.config.fedrecattack_items, len(self.targets)), self.num_items)

    def _draw_items(self, residual: torch.Tensor, rng: np.random.Generator) -> torch.Tensor:
        """A client's item ids: the targets first, then items drawn with probability ∝ their residual row's norm."""
        norms = residual.norm(dim=1).double().numpy()
        others = np.setdiff1d(np.arange(self.num_items), self.targets)
        weights = norms[others]
        weights = weights + (1e-9 * weights.max() if weights.max() > 0 else 1.0)
        chosen = rng.choice(others, self.upload_size() - len(self.targets), replace=False, p=weights / weights.sum())
        return torch.from_numpy(np.concatenate([self.targets, chosen]).astype(np.int64))

    def _clipped_rows(self, residual: torch.Tensor, items: torch.Tensor, rng: np.random.Generator) -> torch.Tensor:
        """The residual's rows of `items`, noised and clipped to the grad limit."""
        limit = self.config.fedrecattack_grad_limit
        noise = rng.normal(0.0, NOISE_STD * limit, size=(len(items), residual.shape[1]))
        rows = residual[items] + torch.from_numpy(noise).to(residual.dtype)
        row_norms = rows.norm(dim=1, keepdim=True)
        scale = torch.where(row_norms > limit, limit / row_norms.clamp(min=1e-30), torch.ones_like(row_norms))
        return rows * scale

    def poison(self, attack_round: AttackRound) -> LocalResult:
        item_grad, dense_grad = self.center_gradient(attack_round.theta, attack_round.epoch)
        residual = item_grad.detach().clone()
        num_clients = len(attack_round.user_ids)
        dense_share = {name: grad.detach() / num_clients for name, grad in dense_grad.items()}
        item_ids, rows = [], []
        kept = attack_round.kept_item_sets or [None] * num_clients
        for user, kept_items in zip(attack_round.user_ids, kept):
            rng = self.rng(_CLIENT_STREAM, attack_round.epoch, int(user))
            items = self._draw_items(residual, rng) if kept_items is None else torch.from_numpy(kept_items)
            uploaded = self._clipped_rows(residual, items, rng)
            residual[items] -= uploaded
            item_ids.append(items)
            rows.append(uploaded)
        updates = UserUpdates.from_users(
            attack_round.user_ids.tolist(),
            item_ids,
            rows,
            [dense_share] * num_clients,
            [len(items) for items in item_ids],
        )
        # Fake users own no embedding worth training: theirs stays where it is.
        return LocalResult(updates, torch.zeros_like(attack_round.user_emb), torch.zeros(num_clients))
