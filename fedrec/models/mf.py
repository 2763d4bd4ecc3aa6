"""Matrix factorisation: score = p_u . q_i. Θ is the item embedding alone."""

from typing import Any

import numpy as np
import torch

from fedrec.models.base import ITEM_EMBEDDING, Theta, embedding_init, paired_users, user_generator
from fedrec.models.embedding import EmbeddingModel
from fedrec.settings import Setting

EMBEDDING_INIT = Setting(
    "embedding-init",
    str,
    "How MF's user and item tables start: `normal` (N(0, 0.01²), the paper's) or `xavier-uniform` (U(-b, b) with "
    "b = sqrt(6 / (rows + embedding-dim)) per table, torch's xavier_uniform_ on an embedding table, as "
    "ClusterAttack-UNION's reference starts both). Either is drawn from `seed` (a user's row keyed by its id).",
    ("normal", "xavier-uniform"),
)


def xavier_bound(rows: int, dim: int) -> float:
    """torch.nn.init.xavier_uniform_'s bound for a [rows, dim] table (fan_in = dim, fan_out = rows)."""
    return float(np.sqrt(6.0 / (rows + dim)))


class MatrixFactorization(EmbeddingModel):
    settings = (EMBEDDING_INIT,)

    def __init__(self, embedding_dim: int, hidden_layers: tuple[int, ...], init: str = "normal") -> None:
        super().__init__(embedding_dim, hidden_layers)
        self.init = init

    @classmethod
    def from_config(cls, config: Any) -> "MatrixFactorization":
        return cls(config.embedding_dim, config.hidden_layers, config.embedding_init)

    def init_theta(self, num_items: int, seed: int) -> Theta:
        generator = torch.Generator().manual_seed(seed)
        if self.init == "xavier-uniform":
            bound = xavier_bound(num_items, self.embedding_dim)
            table = (torch.rand(num_items, self.embedding_dim, generator=generator) * 2 - 1) * bound
            return {ITEM_EMBEDDING: table}
        return {ITEM_EMBEDDING: embedding_init(num_items, self.embedding_dim, generator)}

    def init_user_embeddings(self, user_ids: np.ndarray, seed: int, num_users: int | None = None) -> torch.Tensor:
        if self.init != "xavier-uniform":
            return super().init_user_embeddings(user_ids, seed, num_users)
        if num_users is None:
            raise ValueError("xavier-uniform user rows need the user table's size (num_users)")
        bound = xavier_bound(num_users, self.embedding_dim)
        rows = [user_generator(seed, int(user)).uniform(-bound, bound, self.embedding_dim) for user in user_ids]
        return torch.from_numpy(np.stack(rows) if rows else np.zeros((0, self.embedding_dim))).float()

    def logits(self, theta: Theta, user_emb: torch.Tensor, item_emb: torch.Tensor) -> torch.Tensor:
        return (paired_users(user_emb, item_emb) * item_emb).sum(-1)

    def score_all_items(self, theta: Theta, user_emb: torch.Tensor) -> torch.Tensor:
        return user_emb @ theta[ITEM_EMBEDDING].T
