"""Matrix factorisation: score = p_u . q_i. Θ is the item embedding alone."""

import torch

from fedrec.models.base import ITEM_EMBEDDING, Theta, embedding_init, paired_users
from fedrec.models.embedding import EmbeddingModel


class MatrixFactorization(EmbeddingModel):
    def init_theta(self, num_items: int, seed: int) -> Theta:
        generator = torch.Generator().manual_seed(seed)
        return {ITEM_EMBEDDING: embedding_init(num_items, self.embedding_dim, generator)}

    def logits(self, theta: Theta, user_emb: torch.Tensor, item_emb: torch.Tensor) -> torch.Tensor:
        return (paired_users(user_emb, item_emb) * item_emb).sum(-1)

    def score_all_items(self, theta: Theta, user_emb: torch.Tensor) -> torch.Tensor:
        return user_emb @ theta[ITEM_EMBEDDING].T
