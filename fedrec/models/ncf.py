"""Neural collaborative filtering with an MLP interaction function (the reference paper's victim).

score = h^T MLP(p_u ⊕ q_i) with ReLU hidden layers; the caller applies the sigmoid (inside the loss).
The first layer's weight [h1, 2d] is applied as two halves (user part, item part) instead of
concatenating inputs: same math, and ranking all items then costs one [M, h1] product per model
rather than one [U*M, 2d] input.
"""

import torch
import torch.nn.functional as F

from fedrec.models.base import ITEM_EMBEDDING, Theta, embedding_init, paired_users
from fedrec.models.embedding import EmbeddingModel
from fedrec.settings import Setting, positive_int_list

# Users per chunk when scoring every item; bounds the [chunk, M, h1] activation to ~1 MB (measured fastest on CPU).
_SCORE_CHUNK_ELEMENTS = 1 << 18


def batched_linear(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
    """x @ weight^T + bias, where weight/bias may carry a leading per-user dimension matching x's."""
    if weight.dim() == 3:
        return torch.baddbmm(bias.unsqueeze(1), x, weight.transpose(1, 2))
    return F.linear(x, weight, bias)


HIDDEN_LAYERS = Setting(
    "hidden-layers", str, "MLP hidden sizes, a comma list of positive integers.", convert=positive_int_list
)


class NeuralCF(EmbeddingModel):
    settings = (HIDDEN_LAYERS,)
    #: Hidden-layer nonlinearity and dense-weight initialiser; subclasses may swap them.
    activation = staticmethod(torch.relu)
    init_weight = staticmethod(torch.nn.init.kaiming_uniform_)

    def layer_names(self) -> list[tuple[str, str]]:
        return [(f"mlp.{i}.weight", f"mlp.{i}.bias") for i in range(len(self.hidden_layers) + 1)]

    def init_theta(self, num_items: int, seed: int) -> Theta:
        generator = torch.Generator().manual_seed(seed)
        theta: Theta = {ITEM_EMBEDDING: embedding_init(num_items, self.embedding_dim, generator)}
        sizes = [2 * self.embedding_dim, *self.hidden_layers, 1]
        for (weight_name, bias_name), fan_in, fan_out in zip(self.layer_names(), sizes, sizes[1:]):
            weight = torch.empty(fan_out, fan_in)
            # Zero biases; weights from `init_weight` (NCF: Kaiming-uniform, the reference code's init).
            self.init_weight(weight, generator=generator)
            theta[weight_name] = weight
            theta[bias_name] = torch.zeros(fan_out)
        return theta

    def _hidden_from_first_layer(self, theta: Theta, first: torch.Tensor) -> torch.Tensor:
        hidden = self.activation(first)
        layers = self.layer_names()
        for weight_name, bias_name in layers[1:-1]:
            hidden = self.activation(batched_linear(hidden, theta[weight_name], theta[bias_name]))
        weight_name, bias_name = layers[-1]
        return batched_linear(hidden, theta[weight_name], theta[bias_name]).squeeze(-1)

    def logits(self, theta: Theta, user_emb: torch.Tensor, item_emb: torch.Tensor) -> torch.Tensor:
        weight, bias = theta["mlp.0.weight"], theta["mlp.0.bias"]
        d = self.embedding_dim
        user_part, item_part = weight[..., :d], weight[..., d:]
        if weight.dim() == 3:  # per-user replicas: user_emb [U, d], item_emb [U, L, d]
            from_user = torch.baddbmm(bias.unsqueeze(1), user_emb.unsqueeze(1), user_part.transpose(1, 2))
            first = from_user + torch.bmm(item_emb, item_part.transpose(1, 2))
        else:
            user_emb = paired_users(user_emb, item_emb)
            first = F.linear(user_emb, user_part, bias) + F.linear(item_emb, item_part)
        return self._hidden_from_first_layer(theta, first)

    def score_all_items(self, theta: Theta, user_emb: torch.Tensor) -> torch.Tensor:
        weight, bias = theta["mlp.0.weight"], theta["mlp.0.bias"]
        d = self.embedding_dim
        from_items = F.linear(theta[ITEM_EMBEDDING], weight[:, d:])  # [M, h1]
        from_users = F.linear(user_emb, weight[:, :d], bias)  # [U, h1]
        chunk = max(1, _SCORE_CHUNK_ELEMENTS // max(1, from_items.numel()))
        return torch.cat(
            [
                self._hidden_from_first_layer(theta, users.unsqueeze(1) + from_items.unsqueeze(0))
                for users in from_users.split(chunk)
            ]
        )
