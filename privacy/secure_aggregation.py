"""Secure aggregation: each node masks its users' sum before the reply leaves it; the server learns only the total.

FedRec's uploads are sparse: the ids of the item rows a user sends are its positives and sampled
negatives. A masked sum must add vectors of one shape, so a node's upload is dense over all M items
(zero rows for untouched items), plus the dense gradients, the summed `num_samples` and the benign
users' loss sum and count: one flat vector of `SumLayout.size` numbers, the same for every node.

How a round is masked (the pairwise masks of Bonawitz et al. 2017, without their dropout recovery):
each node holds an X25519 key pair (`new_private_key`; the private half never leaves the node's
state); the server relays the public keys of the round's participating nodes with the instruction;
each pair of nodes derives a shared secret (X25519, then HKDF with the round number), expands it to
a pseudo-random mask over Z_2^64, and the lower node id adds it, the higher subtracts it. A node
uploads `masked_upload`: its vector in fixed point (`FRACTION_BITS`) plus its masks. The masks
cancel only in the sum over *all* participants, so `unmask` of every participant's upload gives the
round's total, and any proper subset of the uploads looks uniformly random. A node that drops out
leaves its masks in the others' uploads: the round cannot be unmasked and is not applied
(strategies/base.py). The server is honest-but-curious: it relays the public keys as received (a
server that substitutes keys could read uploads; a deployment authenticates keys, e.g. with the
nodes' registered keys).

`secure_sum` is the same view computed in the clear from per-user updates (tests compare the two),
and the fold the server applies after the collusion channel: colluding clients' crafted updates
join the round's sum there (the colluders' own honest updates are the only per-user vectors that
reach the server process; attacks/collusion.py).

Not here, on purpose: client-side steps before masking. Clipping each user's whole update to L2 <= τ
(what `norm-bound` does on the server) or each item row (what `item-clip` does) can run on the
client, on its sparse update, before it is made dense and masked; the server then sums clipped
updates. That binds honest clients only: a malicious client skips the step, and the masked sum hides
that it did (enforcing a bound needs a zero-knowledge proof with each upload, e.g. RoFL, Lycklama et
al. 2023). See docs/privacy-secagg.md.
"""

from dataclasses import dataclass
from math import prod

import numpy as np
import torch
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.hashes import SHA256
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from fedrec.errors import ConfigError
from fedrec.models.base import ITEM_EMBEDDING, Theta
from fedrec.updates import UserUpdates

#: The user id of the pseudo-user that carries a round's sum (real and fake users are >= 0).
SUM_USER_ID = -1

#: Defenses whose aggregate is a function of the round's sum alone: FedAvg's sum, and Flower's
#: FedAvg and FedProx (a mean over users times their number, which on one pseudo-user is the sum).
COMPATIBLE_DEFENSES: tuple[str, ...] = ("fedavg", "flwr:FedAvg", "flwr:FedProx")

#: Fixed point: a value x is uploaded as round(x * 2**FRACTION_BITS) in Z_2^64 (resolution 9.3e-10).
FRACTION_BITS = 30
#: The largest |coordinate| a node may upload; with it the total of up to 2**12 nodes stays in int64.
NODE_BOUND = 2.0**20


@dataclass(frozen=True)
class SumLayout:
    """The flat vector a node masks: all M item rows, each dense gradient, then num_samples, the loss sum and count."""

    num_items: int
    dim: int
    dense_shapes: dict[str, tuple[int, ...]]

    @classmethod
    def of(cls, theta: Theta) -> "SumLayout":
        num_items, dim = theta[ITEM_EMBEDDING].shape
        return cls(num_items, dim, {name: tuple(p.shape) for name, p in theta.items() if name != ITEM_EMBEDDING})

    @property
    def size(self) -> int:
        return self.num_items * self.dim + sum(prod(shape) for shape in self.dense_shapes.values()) + 3

    def flatten(self, updates: UserUpdates, loss_sum: float, loss_count: int) -> np.ndarray:
        """The node's sum over its users (float64), dense over the items."""
        rows = torch.zeros(self.num_items, self.dim, dtype=torch.float64)
        rows.index_add_(0, updates.item_ids, updates.item_grads.double())
        parts = [rows.ravel()]
        parts += [updates.dense_grads[name].double().sum(0).ravel() for name in self.dense_shapes]
        parts.append(torch.tensor([float(updates.num_samples.sum()), loss_sum, float(loss_count)], dtype=torch.float64))
        return torch.cat(parts).numpy()

    def unflatten(self, vector: np.ndarray, dtype: torch.dtype) -> tuple[UserUpdates, float, int]:
        """(the sum as one dense pseudo-user, as `secure_sum` gives it; the loss sum; the loss count).

        A sum without samples (every user of the round stayed silent) is an empty batch, as `secure_sum`
        leaves it: the server does not step (a zero step would still move Θ under Adam).
        """
        values = torch.from_numpy(vector)
        rows_end = self.num_items * self.dim
        dense, start = {}, rows_end
        for name, shape in self.dense_shapes.items():
            dense[name] = values[start : start + prod(shape)].reshape(1, *shape).to(dtype)
            start += prod(shape)
        num_samples, loss_sum, loss_count = values[start:].tolist()
        if round(num_samples) == 0:
            empty = UserUpdates.empty({ITEM_EMBEDDING: torch.zeros(0, self.dim, dtype=dtype), **dense})
            return empty, loss_sum, round(loss_count)
        updates = UserUpdates(
            user_ids=torch.tensor([SUM_USER_ID], dtype=torch.int64),
            item_indptr=torch.tensor([0, self.num_items], dtype=torch.int64),
            item_ids=torch.arange(self.num_items, dtype=torch.int64),
            item_grads=values[:rows_end].reshape(self.num_items, self.dim).to(dtype),
            dense_grads=dense,
            num_samples=torch.tensor([round(num_samples)], dtype=torch.int64),
        )
        return updates, loss_sum, round(loss_count)


def new_private_key() -> bytes:
    """A node's X25519 private key (raw bytes, kept in the node's state)."""
    return X25519PrivateKey.generate().private_bytes_raw()


def public_key(private_key: bytes) -> bytes:
    return X25519PrivateKey.from_private_bytes(private_key).public_key().public_bytes_raw()


def _pair_stream(private_key: bytes, peer_public_key: bytes, server_round: int, size: int) -> np.ndarray:
    shared = X25519PrivateKey.from_private_bytes(private_key).exchange(
        X25519PublicKey.from_public_bytes(peer_public_key)
    )
    seed = HKDF(SHA256(), length=32, salt=None, info=b"fedrec-arena secure aggregation, round %d" % server_round)
    return np.random.Generator(np.random.PCG64(int.from_bytes(seed.derive(shared)))).bit_generator.random_raw(size)


def masked_upload(
    vector: np.ndarray, node: int, private_key: bytes, peers: dict[int, bytes], server_round: int
) -> np.ndarray:
    """The node's `vector` in fixed point plus its pairwise masks with every other participant (uint64).

    Raises a one-line ConfigError for a coordinate beyond ±NODE_BOUND, which fixed point cannot carry.
    """
    largest = float(np.abs(vector).max(initial=0.0))
    if not largest <= NODE_BOUND:
        raise ConfigError(
            f"secure aggregation: a node's sum reaches {largest:.3g}, beyond the fixed-point range ±{NODE_BOUND:g}"
        )
    upload = np.rint(vector * 2.0**FRACTION_BITS).astype(np.int64).view(np.uint64)
    for peer, peer_key in sorted(peers.items()):
        if peer == node:
            continue
        stream = _pair_stream(private_key, peer_key, server_round, len(vector))
        upload = upload + stream if node < peer else upload - stream  # uint64 arithmetic wraps: Z_2^64
    return upload


def unmask(uploads: list[np.ndarray]) -> np.ndarray:
    """The float64 total of every participant's masked upload (masks cancel only if all are there)."""
    total = np.zeros_like(uploads[0])
    for upload in uploads:
        total += upload
    return total.view(np.int64) / 2.0**FRACTION_BITS


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
