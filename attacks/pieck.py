"""PIECK's attacks ("Preventing the Popular Item Embedding Based Attack in Federated Recommendations",
Zhang et al., ICDE 2024), after the reference code (junzhang-zj/PIECK, MF-FRS, attack.py).

Both attacks mine the popular items from Θ alone: the `pieck-popular-items` (150) items whose embeddings
moved most over the first epoch, the targets left out (fedrec/training/item_movement.py; the node
watches the Θ it receives). Each malicious client uploads the gradient of its loss with respect to
the target rows only, unclipped (paper default: rho = 5%).

- PIECKIPE (popular item embedding): make the target's embedding resemble the popular items'. With
  c_j = w_j cos(e_j, e_t) for the j-th popular item, w_j = (P - j) / sum (j = 0..P-1, most moved first),
  the loss is -tau (sum_{c_j > 0} c_j / #{c_j > 0} + sum_{c_j <= 0} c_j / #{c_j <= 0}), an empty group
  left out, averaged over the targets; tau = 0.9 below 10% malicious clients, else 0.5 (the reference).
- PIECKUEA (user embedding approximation): the popular items' rows stand in for users. Split into
  `pieck-uea-batches` (5) batches of P // batches rows; for each batch and target, the gradient of
  (1 / batches)(1 / T) * mean_u BCE(sigmoid(<u, e_t>), 1), taken `pieck-uea-repeats` (3) times; the upload
  is the sum of the gradients so taken, each / repeats. In the reference the target's gradient is never
  zeroed inside that loop, so each taken gradient is the running sum of all gradients so far
  (`pieck-uea-accumulate`, on by default to reproduce it): the upload is then
  sum_b (K - 3b - 1) g_b for K = 3 * 5 with one target, about 8 times the plain sum and weighted towards
  the most moved batch. Off, the repeats are identical and the upload is the plain sum_b g_b.

Deliberate differences from the reference code: one ranking per node rather than per client (see
item_movement.py; every malicious client of a node uploads the same rows); in epoch 1, before any
movement is seen, the "popular" items are the lowest item ids (the reference's are an arbitrary
`topk` order over zeros). A client reports its number of popular items as its sample count.
"""

from abc import abstractmethod

import torch
import torch.nn.functional as F

from attacks.base import Attack, AttackRound, AttackSetup
from fedrec.errors import ConfigError
from fedrec.models.base import ITEM_EMBEDDING, Theta, dense_names
from fedrec.settings import Setting
from fedrec.training.item_movement import ItemMovement
from fedrec.training.local import LocalResult
from fedrec.updates import UserUpdates

#: Below this malicious fraction the reference's PIECKIPE takes tau = 0.9, at or above it 0.5.
IPE_TAU_THRESHOLD = 0.10
IPE_TAU_FEW, IPE_TAU_MANY = 0.9, 0.5

POPULAR_ITEMS = Setting(
    "pieck-popular-items", int, "Popular items PIECK mines: the most moved over epoch 1, targets excluded.", minimum=1
)


def linear_rank_weights(size: int) -> torch.Tensor:
    """PIECKIPE's weights of `size` ranked items, most moved first: size, size - 1, ..., 1, normalised."""
    ranks = torch.arange(size, 0, -1, dtype=torch.float32)
    return ranks / ranks.sum()


def ipe_loss(target_rows: torch.Tensor, popular_rows: torch.Tensor, tau: float) -> torch.Tensor:
    """PIECKIPE's loss of the target rows [T, d] against the popular rows [P, d] (most moved first)."""
    weights = linear_rank_weights(len(popular_rows))
    total = target_rows.new_zeros(())
    for target in target_rows:
        weighted = weights * F.cosine_similarity(popular_rows, target.unsqueeze(0), dim=1)
        positive, negative = weighted[weighted > 0], weighted[weighted <= 0]
        for group in (positive, negative):
            if len(group):
                total = total - tau * group.sum() / len(group)
    return total / len(target_rows)


def uea_gradient(
    logits_of, target_rows: torch.Tensor, popular_rows: torch.Tensor, batches: int, repeats: int, accumulate: bool
) -> torch.Tensor:
    """PIECKUEA's upload [T, d]: `logits_of(users [B, d], items [B, d])` scores the popular rows as users."""
    batch_size = len(popular_rows) // batches
    num_targets = len(target_rows)
    total = torch.zeros_like(target_rows)
    taken = torch.zeros_like(target_rows)
    for batch in range(batches):
        users = popular_rows[batch * batch_size : (batch + 1) * batch_size]
        for target in range(num_targets):
            rows = target_rows.detach().clone().requires_grad_()
            logits = logits_of(users, rows[target].expand_as(users))
            loss = F.binary_cross_entropy_with_logits(logits, torch.ones_like(logits)) / (batches * num_targets)
            (gradient,) = torch.autograd.grad(loss, [rows])
            for _ in range(repeats):
                taken = taken + gradient if accumulate else gradient
                total = total + taken / repeats
    return total


class PopularItemAttack(Attack):
    """A PIECK attack: every malicious client uploads the same crafted target rows, from the popular items."""

    observes_item_movement = True

    def popular_items(self, movement: ItemMovement | None, num_items: int) -> torch.Tensor:
        """The mined popular items, most moved first."""
        movement = movement or ItemMovement()
        return movement.most_moved(self.config.pieck_popular_items, num_items, torch.from_numpy(self.targets))

    @abstractmethod
    def target_gradient(self, theta: Theta, popular_rows: torch.Tensor) -> torch.Tensor:
        """The gradient [T, d] each malicious client uploads for the target rows."""

    def poison(self, attack_round: AttackRound) -> LocalResult:
        theta = attack_round.theta
        table = theta[ITEM_EMBEDDING].detach()
        popular = self.popular_items(attack_round.item_movement, len(table))
        gradient = self.target_gradient(theta, table[popular]).detach()
        num_clients = len(attack_round.user_ids)
        targets = torch.from_numpy(self.targets)
        no_dense = {name: torch.zeros_like(theta[name]) for name in dense_names(theta)}
        updates = UserUpdates.from_users(
            attack_round.user_ids.tolist(),
            [targets] * num_clients,
            [gradient] * num_clients,
            [no_dense] * num_clients,
            [len(popular)] * num_clients,
        )
        # Fake users own no embedding worth training: theirs stays where it is.
        return LocalResult(updates, torch.zeros_like(attack_round.user_emb), torch.zeros(num_clients))


class PieckIPE(PopularItemAttack):
    """PIECKIPE: pull the target's embedding towards the popular items' (weighted cosine)."""

    settings = (POPULAR_ITEMS,)

    def target_gradient(self, theta: Theta, popular_rows: torch.Tensor) -> torch.Tensor:
        tau = IPE_TAU_FEW if self.config.malicious_fraction < IPE_TAU_THRESHOLD else IPE_TAU_MANY
        rows = theta[ITEM_EMBEDDING][torch.from_numpy(self.targets)].detach().clone().requires_grad_()
        (gradient,) = torch.autograd.grad(ipe_loss(rows, popular_rows, tau), [rows])
        return gradient


class PieckUEA(PopularItemAttack):
    """PIECKUEA: the popular items' rows as approximated users, each pushed to like the target."""

    settings = (
        POPULAR_ITEMS,
        Setting("pieck-uea-batches", int, "Batches the popular items are split into as approximated users.", minimum=1),
        Setting("pieck-uea-repeats", int, "Times PIECKUEA takes each batch's gradient (the reference: 3).", minimum=1),
        Setting(
            "pieck-uea-accumulate",
            bool,
            "Each taken PIECKUEA gradient is the running sum of all taken so far, as the reference code never zeroes "
            "it (false: the plain gradients).",
        ),
    )

    def __init__(self, setup: AttackSetup) -> None:
        super().__init__(setup)
        if self.config.pieck_uea_batches > self.config.pieck_popular_items:
            raise ConfigError(
                f"pieck-uea-batches {self.config.pieck_uea_batches} exceeds pieck-popular-items "
                f"{self.config.pieck_popular_items}: every batch needs at least one popular item"
            )

    def target_gradient(self, theta: Theta, popular_rows: torch.Tensor) -> torch.Tensor:
        dense = {name: theta[name].detach() for name in dense_names(theta)}
        rows = theta[ITEM_EMBEDDING][torch.from_numpy(self.targets)].detach()
        config = self.config
        return uea_gradient(
            lambda users, items: self.model.logits(dense, users, items),
            rows,
            popular_rows,
            config.pieck_uea_batches,
            config.pieck_uea_repeats,
            config.pieck_uea_accumulate,
        )
