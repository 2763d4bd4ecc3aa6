"""Spattack (Zhang et al., AAAI 2025, "Rethinking Byzantine Robustness in Federated Recommendation from
Sparse Aggregation Perspective"): untargeted attacks on per-item (sparse) aggregation, where each item
row is aggregated only over the clients that uploaded it, so a few clients that upload many items
outnumber the benign senders of most of them.

Injected fake users (no data of their own), as in the reference code (zhongjian-zhang/Spattack):

- `spattack-o` (Spattack_O, omniscient): for each item it sends, a malicious client uploads
  -(1/c_i) * S_i, where S_i is the sum of the round's benign rows of item i and c_i the number of
  malicious clients of the round that send item i. The malicious rows of an item sum to -S_i, so its
  per-item mean (and FedAvg's sum) is exactly zero: no item trains. It needs `attacker-knowledge =
  full`: the clients upload placeholder rows for their items, and the collusion channel
  (attacks/collusion.py) fills them in from the round's benign uploads.
- `spattack-l` (Spattack_L): a fixed N(0, 1) row per item, drawn once from seed 0 (the reference's
  `torch.manual_seed(0)`), so the same for every malicious client and every run seed.

The items a malicious client sends (`spattack-sampled-items`): every item (the D variants, the
default), or, with a count k > 0, k items drawn without replacement with probability proportional to
their train + test interactions, once per client and seed (the S variants; the reference draws them at
the first attacked round with k = the most distinct items a benign client uploaded in that round, a
count the config states instead). Sampling needs the item popularity: `attacker-knowledge =
popularity` for `spattack-l`, which `full` includes for `spattack-o`.

Where the reference differs: its clients upload a repeated item (a negative drawn twice) as one row per
draw (`repeated-items = "separate"` here), and it sums only one of a client's rows of the item into S_i
(assignment, `grad[items] += g`); here S_i is the plain sum of the rows uploaded, so with `separate` it
also holds the other rows' L2 terms (l2-reg times the item row, about 1e-3 here). Both attacks
leave the dense (MLP) parameters alone (zero gradients); the reference attacks MF, which has none.
"""

from dataclasses import replace

import numpy as np
import torch

from attacks.base import Attack, AttackRound, AttackSetup
from attacks.collusion import CollusionAttack
from fedrec.config import RunConfig
from fedrec.errors import ConfigError
from fedrec.models.base import ITEM_EMBEDDING, Theta, dense_names
from fedrec.settings import Setting
from fedrec.training.local import LocalResult
from fedrec.updates import UserUpdates

#: The seed of Spattack_L's rows: the reference's `torch.manual_seed(0)`, whatever the run's seed.
RANDOM_ROWS_SEED = 0

_ITEMS_STREAM = 0x5350  # each malicious client's sampled items

SAMPLED_ITEMS = Setting(
    "spattack-sampled-items",
    int,
    "Spattack's S variants: items each malicious client sends, drawn by popularity (train + test interactions) "
    "once per client; 0 = every item (the D variants).",
    minimum=0,
)


def opposite_rows(benign_sum: torch.Tensor, malicious_senders: torch.Tensor) -> torch.Tensor:
    """[M, d] Spattack_O's row per item: -S_i / c_i for the benign sum S_i [M, d] and the c_i malicious
    clients sending item i [M] (0 where none does: no row is sent, the value is unused)."""
    return -benign_sum / malicious_senders.clamp(min=1)[:, None].to(benign_sum.dtype)


def random_rows(num_items: int, dim: int) -> torch.Tensor:
    """[M, d] Spattack_L's rows: N(0, 1) from seed 0, the same for every client and run."""
    return torch.normal(0.0, 1.0, size=(num_items, dim), generator=torch.Generator().manual_seed(RANDOM_ROWS_SEED))


def sampled_items(popularity: np.ndarray, count: int, rng: np.random.Generator) -> np.ndarray:
    """`count` distinct items, sorted, drawn without replacement with probability proportional to `popularity`."""
    return np.sort(rng.choice(len(popularity), size=count, replace=False, p=popularity / popularity.sum()))


class _SpattackItems:
    """The items each malicious client sends: all of them, or its popularity sample (S variants)."""

    def __init__(self, setup: AttackSetup) -> None:
        count = setup.config.spattack_sampled_items
        self.num_items = setup.num_items
        self.popularity = setup.knowledge.item_popularity
        if count:
            if self.popularity is None:
                raise ConfigError(
                    f"attack '{setup.config.attack}' with spattack-sampled-items > 0 needs the popularity"
                )
            available = int(np.count_nonzero(self.popularity))
            if count > available:
                raise ConfigError(f"spattack-sampled-items is {count}, but only {available} items have interactions")

    def items_of(self, config: RunConfig, user: int) -> np.ndarray:
        count = config.spattack_sampled_items
        if not count:
            return np.arange(self.num_items)
        return sampled_items(self.popularity, count, np.random.default_rng([config.seed, _ITEMS_STREAM, user]))

    def uploads(self, config: RunConfig, attack_round: AttackRound, rows: torch.Tensor) -> LocalResult:
        """Each malicious client's `rows` [M, d] for its items; no dense gradients, no user training."""
        users = [int(user) for user in attack_round.user_ids]
        item_ids = [torch.from_numpy(self.items_of(config, user)) for user in users]
        theta = attack_round.theta
        dense = {name: torch.zeros_like(theta[name]) for name in dense_names(theta)}
        updates = UserUpdates.from_users(
            users, item_ids, [rows[ids] for ids in item_ids], [dense] * len(users), [len(ids) for ids in item_ids]
        )
        return LocalResult(updates, torch.zeros_like(attack_round.user_emb), torch.zeros(len(users)))


class SpattackO(CollusionAttack):
    """Spattack_O: per item, the opposite of the benign sum, shared among the malicious senders."""

    targeted = False
    settings = (SAMPLED_ITEMS,)

    @classmethod
    def required_knowledge(cls, config: RunConfig) -> str | None:
        return "full"

    def __init__(self, setup: AttackSetup) -> None:
        super().__init__(setup)
        self._items: _SpattackItems | None = None  # on the nodes only: the channel's copy never poisons

    def poison(self, attack_round: AttackRound) -> LocalResult:
        """Placeholder (zero) rows for the client's items; the collusion channel writes their values."""
        if self._items is None:
            self._items = _SpattackItems(self.setup)
        placeholder = torch.zeros_like(attack_round.theta[ITEM_EMBEDDING])
        return self._items.uploads(self.config, attack_round, placeholder)

    def rewrite(self, updates: UserUpdates, is_malicious: torch.Tensor, theta: Theta, server_round: int) -> UserUpdates:
        benign, malicious = updates.select(~is_malicious), updates.select(is_malicious)
        items = theta[ITEM_EMBEDDING]
        benign_sum = torch.zeros(items.shape, dtype=benign.item_grads.dtype)
        benign_sum.index_add_(0, benign.item_ids, benign.item_grads)
        senders = torch.bincount(malicious.item_ids, minlength=items.shape[0])
        crafted = replace(malicious, item_grads=opposite_rows(benign_sum, senders)[malicious.item_ids])
        return UserUpdates.concat([benign, crafted])


class SpattackL(Attack):
    """Spattack_L: the same fixed random row per item from every malicious client."""

    targeted = False
    default_mode = "injected"
    settings = (SAMPLED_ITEMS,)

    @classmethod
    def required_knowledge(cls, config: RunConfig) -> str | None:
        return "popularity" if config.spattack_sampled_items else None

    def __init__(self, setup: AttackSetup) -> None:
        super().__init__(setup)
        self._items = _SpattackItems(setup)

    def poison(self, attack_round: AttackRound) -> LocalResult:
        num_items, dim = attack_round.theta[ITEM_EMBEDDING].shape
        return self._items.uploads(self.config, attack_round, random_rows(num_items, dim))
