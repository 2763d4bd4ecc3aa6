"""NeuMF: the MLP tower of NCF plus a generalised matrix factorisation (GMF) head; FedAttack's victim.

score = h^T tanh-MLP(p_u ⊕ q_i) + g^T (p_u ⊙ q_i) + c, the "NCF" model of the FedAttack paper's public
notebook (64-d embeddings shared by both heads, tanh hidden layers 64, 64, Glorot-uniform dense weights
as Keras initialises them). Deliberate difference: that notebook applies dropout 0.2 to the embeddings;
here training is deterministic, so the same seed gives the same numbers on any node layout.
"""

import torch
import torch.nn.functional as F

from fedrec.models.base import ITEM_EMBEDDING, Theta, paired_users
from fedrec.models.ncf import NeuralCF, batched_linear

GMF_WEIGHT, GMF_BIAS = "gmf.weight", "gmf.bias"


class NeuMF(NeuralCF):
    activation = staticmethod(torch.tanh)
    init_weight = staticmethod(torch.nn.init.xavier_uniform_)

    def init_theta(self, num_items: int, seed: int) -> Theta:
        theta = super().init_theta(num_items, seed)
        generator = torch.Generator().manual_seed(seed + 1)  # GMF head drawn after, and apart from, the MLP
        weight = torch.empty(1, self.embedding_dim)
        self.init_weight(weight, generator=generator)
        theta[GMF_WEIGHT] = weight
        theta[GMF_BIAS] = torch.zeros(1)
        return theta

    def logits(self, theta: Theta, user_emb: torch.Tensor, item_emb: torch.Tensor) -> torch.Tensor:
        interaction = paired_users(user_emb, item_emb) * item_emb
        gmf = batched_linear(interaction, theta[GMF_WEIGHT], theta[GMF_BIAS]).squeeze(-1)
        return super().logits(theta, user_emb, item_emb) + gmf

    def score_all_items(self, theta: Theta, user_emb: torch.Tensor) -> torch.Tensor:
        # g^T (p ⊙ q) = p . (q ⊙ g): one [U, M] product instead of a [U, M, d] tensor.
        gmf = F.linear(user_emb, theta[ITEM_EMBEDDING] * theta[GMF_WEIGHT], theta[GMF_BIAS])
        return super().score_all_items(theta, user_emb) + gmf
