"""Analytic baselines: closed-form recovery where the model's gradient structure gives it away.

Every uploaded item row is g_i = k_i · J_i with J_i = ∂s_i/∂q_i and one scalar k_i per item:
under BCE k_i = (c_i/N)(σ(s_i) − y_i) (c_i = copies of item i among the N samples), negative exactly
for the real interactions; under BPR k_i is negative for positives and positive for negatives too.
Once p_u is known, J_i follows from Θ and k_i = <g_i, J_i>/|J_i|² labels every item, except one whose
score does not depend on its embedding there (J_i = 0: every ReLU path off, common at NCF's zero-bias
initialisation): its row is 0 whatever its label, so it scores a neutral 0 and only the count prior
places it.

- NCF / NeuMF: p_u enters the first MLP layer linearly, so that layer's weight gradient on the user
  columns is rank one, G_u = a p_u^T with a = the layer's bias gradient: p_u = G_u^T a / |a|², exactly.
- MF: J_i = p_u, so all rows are parallel to p_u. The top right singular vector v of the rows gives
  its direction; (p, y) and (−p, 1 − y) give identical BCE gradients, so the sign is the one whose
  positive count is closest to the count prior N/(1+r); the norm solves the positives' 1-D equation
  N <g_i, v> = t(σ(t <q_i, v>) − 1) (c_i = 1 for a positive), by least squares over the positives.
"""

from typing import Any

import numpy as np
import torch
from scipy.optimize import least_squares

from fedrec.errors import ConfigError
from fedrec.models.base import ITEM_EMBEDDING, RecModel, Theta
from fedrec.models.mf import MatrixFactorization
from fedrec.models.ncf import NeuralCF
from privacy.base import SingleUploadAttack, decide_interactions, expected_positives, pseudo_positives
from privacy.observed import ObservedUpload, Recovered


def item_coefficients(model: RecModel, theta: Theta, user_emb: torch.Tensor, upload: ObservedUpload) -> torch.Tensor:
    """k_i = <g_i, J_i>/|J_i|² for each uploaded item, J_i = ∂s_i/∂q_i at p_u = `user_emb` (0 where J_i = 0)."""
    items = theta[ITEM_EMBEDDING][upload.item_ids].clone().requires_grad_()
    # Each item's score depends on its own embedding only, so one backward of the sum gives every J_i.
    (jacobians,) = torch.autograd.grad(model.logits(theta, user_emb, items).sum(), items)
    rows = upload.item_rows.to(jacobians.dtype)
    squared = (jacobians * jacobians).sum(1)
    # An item with J_i = 0 (every ReLU unit off) carries no label information: it scores neutral 0.
    return torch.where(squared > 0, (rows * jacobians).sum(1) / squared.clamp(min=torch.finfo(squared.dtype).tiny), 0.0)


class AnalyticAttack(SingleUploadAttack):
    """Closed-form label and p_u recovery for NCF, NeuMF (any loss) and MF (BCE)."""

    def __init__(self, model: RecModel, config: Any) -> None:
        super().__init__(model, config)
        if not isinstance(model, (NeuralCF, MatrixFactorization)):
            raise ConfigError(f"the analytic attack supports the models ncf, neumf and mf, not {type(model).__name__}")
        if isinstance(model, MatrixFactorization) and config.loss != "bce":
            raise ConfigError(
                f"the analytic attack on mf needs loss 'bce' (it solves BCE's gradient for |p_u|), not {config.loss!r}"
            )

    def recover(self, upload: ObservedUpload) -> Recovered:
        # Double precision: the rows are O(1/N) and the rank-one solves divide small numbers.
        theta = {name: tensor.double() for name, tensor in upload.theta.items()}
        if isinstance(self.model, NeuralCF):
            user_emb = self._first_layer_user(upload)
            coefficients = item_coefficients(self.model, theta, user_emb, upload)
        else:
            user_emb, coefficients = self._rank_one(theta, upload)
        scores = -coefficients
        decision = decide_interactions(
            scores, coefficients < 0, upload, self.config.negatives, pseudo_positives(self.config)
        )
        return Recovered(
            interaction_scores=scores.float(),
            is_interaction=decision,
            user_embedding=None if user_emb is None else user_emb.float(),
        )

    def _first_layer_user(self, upload: ObservedUpload) -> torch.Tensor:
        """p_u = G_u^T a / |a|²: G_u the first layer's weight gradient on the user half, a its bias gradient."""
        d = self.model.embedding_dim
        user_columns = upload.dense["mlp.0.weight"].double()[:, :d]  # [h1, d]; ncf.py applies [:, :d] to p_u
        bias = upload.dense["mlp.0.bias"].double()
        return user_columns.T @ bias / (bias @ bias).clamp(min=torch.finfo(bias.dtype).tiny)

    def _rank_one(self, theta: Theta, upload: ObservedUpload) -> tuple[torch.Tensor | None, torch.Tensor]:
        """MF: p_u = t·v from the rows' top singular vector v; item coefficients k_i = <g_i, v>/t."""
        rows = upload.item_rows.double()
        direction = torch.linalg.svd(rows, full_matrices=False).Vh[0]
        along = rows @ direction  # k_i · t
        projected = theta[ITEM_EMBEDDING][upload.item_ids] @ direction  # <q_i, v>
        expected = expected_positives(upload.num_samples, self.config.negatives)
        # With p = s|t|v the positives are the items with s·along < 0; pick the sign the count prior fits.
        sign = 1.0 if abs(int((along < 0).sum()) - expected) <= abs(int((along > 0).sum()) - expected) else -1.0
        positives = sign * along < 0
        if not positives.any():  # nothing to anchor |t| on: labels only
            return None, sign * along
        norm = _fit_norm(sign, projected[positives].numpy(), upload.num_samples * along[positives].numpy())
        return sign * norm * direction, sign * along / norm


def _fit_norm(sign: float, projected: np.ndarray, scaled_along: np.ndarray) -> float:
    """|t| solving N<g_i, v> = t(σ(t<q_i, v>) − 1), t = sign·|t|, in least squares over the positives."""

    def residuals(norm: np.ndarray) -> np.ndarray:
        t = sign * norm[0]
        return t * (1.0 / (1.0 + np.exp(-t * projected)) - 1.0) - scaled_along

    # Start from the small-score solution σ ≈ 1/2, t ≈ -2N<g_i, v>: what init and early training look like.
    start = max(float(np.mean(-2.0 * sign * scaled_along)), np.finfo(float).tiny)
    return float(least_squares(residuals, [start], bounds=(0.0, np.inf), xtol=1e-15, ftol=1e-15, gtol=1e-15).x[0])
