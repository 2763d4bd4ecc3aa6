"""What every recommender model provides to the federated protocol.

Θ (theta) is a name -> tensor dict of everything except the user embeddings: the item embedding
(`ITEM_EMBEDDING`, rows uploaded sparsely) and any dense parameters (an MLP). User embeddings p_u
never leave the clients. `logits` accepts dense parameters either shared ([out, in]) or replicated
per user ([U, out, in]); the replicated form is how a node gets every user's own gradient from one
backward pass.
"""

from abc import ABC, abstractmethod
from typing import Any, ClassVar

import numpy as np
import torch

from fedrec.settings import Setting

ITEM_EMBEDDING = "item-embedding"
Theta = dict[str, torch.Tensor]

#: Settings of every model (the model family's own).
EMBEDDING_DIM = Setting("embedding-dim", int, "Size of user and item embeddings.", minimum=1)


def dense_names(theta: Theta) -> list[str]:
    """The names of Θ's dense parameters: everything but the item embedding."""
    return [name for name in theta if name != ITEM_EMBEDDING]


def paired_users(user_emb: torch.Tensor, item_emb: torch.Tensor) -> torch.Tensor:
    """`user_emb` shaped to broadcast against `item_emb`: [..., d] gains an item axis when items are [..., L, d]."""
    return user_emb.unsqueeze(-2) if item_emb.dim() == user_emb.dim() + 1 else user_emb


def user_generator(seed: int, user: int) -> np.random.Generator:
    """The generator of user `user`'s starting row: keyed by (seed, user id), not by the user's node."""
    return np.random.default_rng([seed, 0x5EED, user])


def embedding_init(rows: int, dim: int, generator: torch.Generator) -> torch.Tensor:
    """N(0, 0.01^2), the paper's initialisation for user and item embeddings."""
    return torch.randn(rows, dim, generator=generator) * 0.01


class RecModel(ABC):
    """A scoring function over (user embedding, item embedding) pairs plus dense item-side weights."""

    #: Run-config settings this model reads besides the family's (`fedrec.registry`).
    settings: ClassVar[tuple[Setting, ...]] = ()
    #: Sequential models score a user's own item sequence instead of a private user embedding.
    sequential: ClassVar[bool] = False

    def __init__(self, embedding_dim: int, hidden_layers: tuple[int, ...]) -> None:
        self.embedding_dim = embedding_dim
        self.hidden_layers = hidden_layers

    @classmethod
    def from_config(cls, config: Any) -> "RecModel":
        """The model a validated run config describes (`RunConfig`; fedrec.config imports this module)."""
        return cls(config.embedding_dim, config.hidden_layers)

    @abstractmethod
    def init_theta(self, num_items: int, seed: int) -> Theta:
        """Server-side parameters at the start of training."""

    @abstractmethod
    def logits(self, theta: Theta, user_emb: torch.Tensor, item_emb: torch.Tensor) -> torch.Tensor:
        """Pre-sigmoid scores. user_emb [..., d] broadcasts against item_emb [..., L, d] or [..., d]."""

    @abstractmethod
    def score_all_items(self, theta: Theta, user_emb: torch.Tensor) -> torch.Tensor:
        """Scores [U, M] of every item for each of U users (ranking order only; no sigmoid)."""

    @abstractmethod
    def evaluate_counts(
        self,
        theta: Theta,
        dataset: Any,
        users: np.ndarray,
        embeddings: torch.Tensor,
        ks: tuple[int, ...],
        targets: tuple[int, ...],
        sampled: Any = None,
        exposure_masks_test: bool = True,
    ) -> Any:
        """`EvalCounts` of `users`, rows of the `RecDataset` (the family's evaluation on a node); the sampled
        metrics too with a `fedrec.evaluation.sampled.SampledRanking`; exposure with the test items masked
        too unless `exposure_masks_test` is false (`fedrec.evaluation.ranking.ranking_counts`)."""

    @abstractmethod
    def honest_updates(self, theta: Theta, dataset: Any, users: np.ndarray, embeddings: torch.Tensor, step: Any) -> Any:
        """The benign users' `LocalResult` for a `fedrec.training.local.LocalStep` (the family's local step)."""

    def init_user_embeddings(self, user_ids: np.ndarray, seed: int, num_users: int | None = None) -> torch.Tensor:
        """p_u ~ N(0, 0.01^2), keyed by (seed, user id) so a user's start does not depend on its node (`num_users`,
        the size of the whole user table, is for initialisations that scale with it)."""
        rows = [user_generator(seed, int(user)).standard_normal(self.embedding_dim) for user in user_ids]
        stacked = np.stack(rows) if rows else np.zeros((0, self.embedding_dim))
        return torch.from_numpy(stacked * 0.01).float()
