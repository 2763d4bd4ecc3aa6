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

- Surrogate fit. By default (`fedrecattack-surrogates = "refit"`) every `poison` call refits the surrogate
  users from a deterministic init (keyed by seed and epoch) with `fedrecattack-surrogate-steps`
  (default 30) full-batch Adam steps over all surrogate users at once, one negative per public positive
  redrawn each step. The reference keeps its surrogate embeddings and Adam state across rounds and
  trains one pass of mini-batches of 256 users per round, so its surrogates keep fitting as the rounds
  go on; `fedrecattack-surrogates = "kept"` does the same, the embeddings and Adam state kept in the
  node's state (docs/fedrecattack-vs-reference.md measures both).
- Surrogate users are the users with at least one public interaction (the reference keeps an
  embedding, never trained, for users without any).
- BPR and the attack loss use the model's own logits, the MLP frozen while fitting, so the attack
  also runs on NCF (the reference is MF only). For NCF the center gradient includes the MLP: every
  malicious client of a call uploads that part scaled by 1 / (its number of clients), so their sum
  is the center gradient's MLP part; it is not clipped.
- By default a client's item set is redrawn every round, from the residual of that round, with a
  generator keyed by (seed, epoch, user); the reference fixes a client's set at its first participation,
  which `fedrecattack-item-sets = "first-round"` does too (kept in the node's state).
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
#: `fedrecattack-surrogates`: refit the surrogate users every round, or keep them (and their Adam state).
REFIT, KEPT = "refit", "kept"
SURROGATE_CHOICES = (REFIT, KEPT)
#: Surrogate users per Adam step when they are kept (the reference code's attack batch size).
KEPT_BATCH_USERS = 256

# Keys of the attack's kept state (AttackRound.state).
_ITEM_SET_KEY = "item-set/{user}"
_SURROGATES, _ADAM_EXP_AVG, _ADAM_EXP_AVG_SQ, _ADAM_STEPS = (
    "surrogates",
    "adam-exp-avg",
    "adam-exp-avg-sq",
    "adam-steps",
)

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
            "Full-batch Adam steps fitting FedRecAttack's surrogate users in each round, from a fresh start "
            "(fedrecattack-surrogates = refit).",
            minimum=1,
        ),
        Setting(
            "fedrecattack-item-sets",
            str,
            "Each FedRecAttack client's kappa items: redrawn every round (per-round) or kept from its first round "
            "as in the reference code (first-round).",
            choices=ITEM_SET_CHOICES,
        ),
        Setting(
            "fedrecattack-surrogates",
            str,
            "FedRecAttack's surrogate users: refit from a fresh start every round (refit) or kept with their Adam "
            "state and trained one pass of mini-batches of 256 users per round, as in the reference code (kept).",
            choices=SURROGATE_CHOICES,
        ),
    )

    @classmethod
    def keeps_state(cls, config: RunConfig) -> bool:
        return config.fedrecattack_item_sets == FIRST_ROUND or config.fedrecattack_surrogates == KEPT

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

    def _negatives(self, rng: np.random.Generator, positions: np.ndarray | None = None) -> np.ndarray:
        """One uniformly drawn item per public positive (those at `positions`, default all), redrawn where it
        is a public positive of its user."""
        users = self._pos_users if positions is None else self._pos_users[positions]
        negatives = rng.integers(self.num_items, size=len(users))
        for _ in range(_NEGATIVE_RETRIES):
            clash = np.flatnonzero(self._is_public(users, negatives))
            if len(clash) == 0:
                break
            negatives[clash] = rng.integers(self.num_items, size=len(clash))
        return negatives

    def _bpr_loss(
        self, theta: Theta, users: torch.Tensor, positions: np.ndarray, negatives: np.ndarray
    ) -> torch.Tensor:
        """Summed BPR loss of the public positives at `positions` against `negatives`, Θ frozen."""
        dense = {name: theta[name].detach() for name in dense_names(theta)}
        item_emb = theta[ITEM_EMBEDDING].detach()
        own = users[torch.from_numpy(self._pos_users[positions])]
        positives = item_emb[torch.from_numpy(self._pos_items[positions])]
        negatives_emb = item_emb[torch.from_numpy(negatives)]
        gap = self.model.logits(dense, own, positives) - self.model.logits(dense, own, negatives_emb)
        return F.softplus(-gap).sum()  # -log sigmoid(s_pos - s_neg)

    def surrogate_users(self, theta: Theta, epoch: int, state: dict[str, np.ndarray] | None = None) -> torch.Tensor:
        """[S, d] embeddings of the surrogate users, fitted by BPR on the public data with Θ frozen: refit from a
        fresh start, or (`fedrecattack-surrogates = "kept"`) trained further from those kept in `state`."""
        if self.config.fedrecattack_surrogates == KEPT:
            return self._kept_surrogate_users(theta, {} if state is None else state)
        rng = np.random.default_rng([self.config.seed, _CENTER_STREAM, epoch])
        dim = theta[ITEM_EMBEDDING].shape[1]
        init = rng.standard_normal((self.num_surrogates, dim)) * SURROGATE_INIT_STD
        users = torch.from_numpy(init).float().requires_grad_()
        if len(self._pos_items) == 0:
            return users.detach()
        every_positive = np.arange(len(self._pos_items))
        optimizer = torch.optim.Adam([users], lr=SURROGATE_LR)
        for _ in range(self.config.fedrecattack_surrogate_steps):
            loss = self._bpr_loss(theta, users, every_positive, self._negatives(rng))
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        return users.detach()

    def _kept_surrogate_users(self, theta: Theta, state: dict[str, np.ndarray]) -> torch.Tensor:
        """The kept surrogate users after one more pass: the users shuffled, one Adam step per batch of
        `KEPT_BATCH_USERS`, one fresh negative per public positive; embeddings and Adam state kept in `state`."""
        steps = int(state[_ADAM_STEPS][0]) if _ADAM_STEPS in state else 0
        if _SURROGATES in state:
            users = torch.from_numpy(state[_SURROGATES]).requires_grad_()
        else:
            dim = theta[ITEM_EMBEDDING].shape[1]
            init = np.random.default_rng([self.config.seed, _CENTER_STREAM]).standard_normal((self.num_surrogates, dim))
            users = torch.from_numpy(init * SURROGATE_INIT_STD).float().requires_grad_()
        optimizer = torch.optim.Adam([users], lr=SURROGATE_LR)
        if steps:
            optimizer.state[users] = {
                "step": torch.tensor(float(steps)),
                "exp_avg": torch.from_numpy(state[_ADAM_EXP_AVG]),
                "exp_avg_sq": torch.from_numpy(state[_ADAM_EXP_AVG_SQ]),
            }
        rng = np.random.default_rng([self.config.seed, _CENTER_STREAM, steps])  # a new stream for every pass
        order = rng.permutation(self.num_surrogates)
        indptr = self.public.indptr
        for start in range(0, self.num_surrogates, KEPT_BATCH_USERS):
            batch = order[start : start + KEPT_BATCH_USERS]
            positions = np.concatenate([np.arange(indptr[user], indptr[user + 1]) for user in batch])
            if len(positions) == 0:
                continue
            loss = self._bpr_loss(theta, users, positions, self._negatives(rng, positions))
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        adam = optimizer.state[users]
        if adam:
            state[_ADAM_STEPS] = np.array([int(adam["step"])])
            state[_ADAM_EXP_AVG] = adam["exp_avg"].numpy().copy()
            state[_ADAM_EXP_AVG_SQ] = adam["exp_avg_sq"].numpy().copy()
        state[_SURROGATES] = users.detach().numpy().copy()
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

    def center_gradient(
        self, theta: Theta, epoch: int, state: dict[str, np.ndarray] | None = None
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """Gradient of the attack loss w.r.t. all item embeddings [M, d] and the dense parameters (`state`: the
        attack's kept state, read and updated when the surrogate users are kept)."""
        users = self.surrogate_users(theta, epoch, state)
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
        state = {} if attack_round.state is None else attack_round.state
        item_grad, dense_grad = self.center_gradient(attack_round.theta, attack_round.epoch, state)
        keeps_item_sets = self.config.fedrecattack_item_sets == FIRST_ROUND
        residual = item_grad.detach().clone()
        num_clients = len(attack_round.user_ids)
        dense_share = {name: grad.detach() / num_clients for name, grad in dense_grad.items()}
        item_ids, rows = [], []
        for user in attack_round.user_ids:
            rng = self.rng(_CLIENT_STREAM, attack_round.epoch, int(user))
            kept_key = _ITEM_SET_KEY.format(user=int(user))
            if keeps_item_sets and kept_key in state:
                items = torch.from_numpy(state[kept_key])
            else:
                items = self._draw_items(residual, rng)
                if keeps_item_sets:
                    state[kept_key] = items.numpy()
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
