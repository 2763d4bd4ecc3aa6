"""PIECK's client-side defense, Regula ("Preventing the Popular Item Embedding Based Attack in Federated
Recommendations", Zhang et al., ICDE 2024), after its reference code (junzhang-zj/PIECK, MF-FRS,
`FedRecClientDefense`).

Each benign user mines its own popular items, the `regula-size` (s = 10) items whose embeddings moved
most over the first epoch (fedrec/training/item_movement.py), weighted w_j = (s - j)^2 / sum_i i^2 for
the j-th most moved (j = 0..s-1), and adds two terms to its loss:

- IPE (against popular-item-embedding attacks): -sum_j w_j * mean_n cos(e_j, v_n), over the user's
  samples n whose item is not one of the s popular items; its gradient reaches the uploaded rows v_n.
  Only once the popular items are known (from epoch 2 on, as the reference's `epoch > 1`).
- UEA (against user-embedding approximation): -sum_j w_j * mean_k KL_k(softmax(p_u) || softmax(e_j)),
  the elementwise KL divergence (torch's `kl_div`) averaged over the d coordinates; its gradient reaches
  only p_u. From epoch 1 on (the reference runs it in epoch 1 too, on its arbitrary first ranking).

Both weighted by `regula-ipe-weight` and `regula-uea-weight` (mu = 1 each in the reference); the
popular rows e_j come from the Θ the user received and carry no gradient. A user with no non-popular
sample gets IPE 0 (the reference's mean over an empty set is NaN).
"""

import torch
import torch.nn.functional as F

from client_defenses.base import TrainingDefense
from fedrec.models.base import ITEM_EMBEDDING, Theta
from fedrec.settings import Setting
from fedrec.training.item_movement import ItemMovement
from fedrec.training.local import LossTerm


def rank_weights(size: int) -> torch.Tensor:
    """Regula's weights of the `size` most moved items, most moved first: (size - j)^2, normalised to sum 1."""
    squares = torch.arange(size, 0, -1, dtype=torch.float32).pow(2)
    return squares / squares.sum()


def ipe_term(
    item_emb: torch.Tensor,
    items: torch.Tensor,
    mask: torch.Tensor,
    popular_ids: torch.Tensor,
    popular_rows: torch.Tensor,
    weights: torch.Tensor,
) -> torch.Tensor:
    """Each user's IPE term [U] from its padded sample rows [U, W, d], ids and mask [U, W]."""
    cosine = F.cosine_similarity(item_emb.unsqueeze(2), popular_rows[None, None], dim=-1)  # [U, W, s]
    unpopular = (mask & ~torch.isin(items, popular_ids)).to(cosine.dtype).unsqueeze(-1)
    mean_cosine = (cosine * unpopular).sum(1) / unpopular.sum(1).clamp(min=1.0)  # [U, s]
    return -(weights * mean_cosine).sum(-1)


def uea_term(user_emb: torch.Tensor, popular_rows: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """Each user's UEA term [U] from its embedding [U, d]."""
    users = F.softmax(user_emb, dim=-1).unsqueeze(1).expand(-1, len(popular_rows), -1)  # [U, s, d]
    popular = F.log_softmax(popular_rows, dim=-1).unsqueeze(0).expand_as(users)
    divergence = F.kl_div(popular, users, reduction="none").mean(-1)  # [U, s]
    return -(weights * divergence).sum(-1)


class Regula(TrainingDefense):
    """PIECK's Regula: benign users keep their items near, and their embeddings away from, popular items."""

    observes_item_movement = True
    settings = (
        Setting("regula-size", int, "s: popular items (most moved over epoch 1) each benign user mines.", minimum=1),
        Setting("regula-ipe-weight", float, "mu of Regula's IPE term (against item-embedding attacks).", minimum=0.0),
        Setting("regula-uea-weight", float, "mu of Regula's UEA term (against user approximation).", minimum=0.0),
    )

    def loss_term(self, theta: Theta, epoch: int, movement: ItemMovement | None) -> LossTerm:
        table = theta[ITEM_EMBEDDING].detach()
        movement = movement or ItemMovement()
        popular_ids = movement.most_moved(self.config.regula_size, len(table))
        popular_rows = table[popular_ids]
        weights = rank_weights(len(popular_ids))
        with_ipe = movement.order is not None and self.config.regula_ipe_weight > 0
        ipe_weight, uea_weight = self.config.regula_ipe_weight, self.config.regula_uea_weight

        def term(user_emb: torch.Tensor, item_emb: torch.Tensor, items: torch.Tensor, mask: torch.Tensor):
            total = uea_weight * uea_term(user_emb, popular_rows, weights)
            if with_ipe:
                total = total + ipe_weight * ipe_term(item_emb, items, mask, popular_ids, popular_rows, weights)
            return total

        return term
