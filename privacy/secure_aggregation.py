"""Secure aggregation, simulated: the server learns only the sum of a round's updates.

Under secure aggregation (e.g. SecAgg+, Bell et al. 2020; Flower's `SecAggPlusWorkflow`) every
upload is masked so that only the sum over the round's participants can be unmasked. FedRec's
uploads are sparse: the ids of the item rows a user sends are its positives and sampled negatives.
A masked sum must add vectors of one shape, so every upload becomes dense over all M items (zero
rows for untouched items), and which items anyone touched is hidden with the rest.

`secure_sum` turns a round's per-user updates into exactly that view: one pseudo-user
(`SUM_USER_ID`) whose upload is the sum, a row for every item. Plugged in where the collusion
channel is (after it: colluding clients craft before they mask), a strategy sees only the sum.
Only rules that need nothing but the sum keep working: `check_defense` says which.

Not here, on purpose: client-side steps before masking. Clipping each user's whole update to L2 <= τ
(what `norm-bound` does on the server) or each item row (what `item-clip` does) can run on the
client, on its sparse update, before it is made dense and masked; the server then sums clipped
updates. That binds honest clients only: a malicious client skips the step, and the masked sum hides
that it did (enforcing a bound needs a zero-knowledge proof with each upload, e.g. RoFL, Lycklama et
al. 2023). See docs/privacy-secagg.md.
"""

import torch

from fedrec.errors import ConfigError
from fedrec.models.base import ITEM_EMBEDDING, Theta
from fedrec.updates import UserUpdates

#: The user id of the pseudo-user that carries a round's sum (real and fake users are >= 0).
SUM_USER_ID = -1

#: Defenses whose aggregate is a function of the round's sum alone: FedAvg's sum, and Flower's
#: FedAvg and FedProx (a mean over users times their number, which on one pseudo-user is the sum).
COMPATIBLE_DEFENSES: tuple[str, ...] = ("fedavg", "flwr:FedAvg", "flwr:FedProx")


def secure_sum(updates: UserUpdates, theta: Theta) -> UserUpdates:
    """What the server sees of a round under secure aggregation: the sum, as one dense pseudo-user.

    Item rows are summed per item (repeated ids accumulate, as in the server step) into a row for
    every item 0..M-1; dense gradients and `num_samples` are summed. A round without updates stays
    empty: there is nothing to unmask, and the server does not step (a zero step would still move
    Θ under Adam).
    """
    if updates.num_users == 0:
        return updates
    num_items, dim = theta[ITEM_EMBEDDING].shape
    rows = torch.zeros(num_items, dim, dtype=updates.item_grads.dtype)
    rows.index_add_(0, updates.item_ids, updates.item_grads)
    return UserUpdates(
        user_ids=torch.tensor([SUM_USER_ID], dtype=torch.int64),
        item_indptr=torch.tensor([0, num_items], dtype=torch.int64),
        item_ids=torch.arange(num_items, dtype=torch.int64),
        item_grads=rows,
        dense_grads={name: grads.sum(0, keepdim=True) for name, grads in updates.dense_grads.items()},
        num_samples=updates.num_samples.sum().reshape(1),
    )


def check_defense(defense: str, fedavg_mode: str = "sum") -> None:
    """Raise a one-line ConfigError unless `defense` works on the sum that secure aggregation reveals.

    A per-user rule would not fail on the single pseudo-user, it would degrade silently (a median or
    Krum of one update is that update: plain FedAvg; norm-bound would clip the whole round's sum to
    τ), hence a check by name. `fedavg-mode = "mean"` is refused too: the server does know the
    round's user count (Flower's SecAgg+ sums each client's weight with its masked vector), but the
    FedAvg strategy divides by the users it is given, here the one pseudo-user.
    """
    compatible = "fedavg (fedavg-mode 'sum'), " + ", ".join(COMPATIBLE_DEFENSES[1:])
    if defense not in COMPATIBLE_DEFENSES:
        raise ConfigError(
            f"defense {defense!r} needs per-user updates, which secure aggregation hides; compatible: {compatible}"
        )
    if defense == "fedavg" and fedavg_mode != "sum":
        raise ConfigError(
            f"fedavg-mode {fedavg_mode!r} divides by the round's users, but under secure aggregation the strategy "
            f"sees one summed pseudo-user; use fedavg-mode 'sum' (compatible: {compatible})"
        )
