"""Deep Leakage from Gradients (Zhu et al., 2019) adapted to a federated recommender's upload.

DLG treats the private inputs as unknowns and fits them so that the gradient they would produce matches
the observed one. Here the unknowns are a dummy p_u (d values) and a relaxed label y_i per uploaded item
(a sigmoid of a free logit, `relaxed_labels`); the item embeddings and dense weights are the Θ the server
sent. The predicted upload is autograd of the model's own BCE loss (its `logits`, mean over the observed
N samples) with respect to the uploaded items' embeddings and the dense weights. L-BFGS (the paper's
optimiser) minimises the squared distance to the observed upload, each tensor normalised by its observed
norm, the item rows weighing as much as the dense tensors together; random restarts keep the best match.
Labels are read off the optimum (the top N/(1+r) relaxed labels, or y > 1/2), and MF's exact mirror
(−p, 1 − y) is resolved with the same count prior.

Approximation: every uploaded item is taken as one sample. A negative drawn c > 1 times (its rows
merged into one by the client) is then one sample with label (1 − c)σ(s) < 0, which the relaxed labels'
range admits down to −1, so the fit stays exact while c ≤ 1 + 1/σ(s); the dense gradients see the same
c-fold weight, so they agree.
"""

from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from fedrec.errors import ConfigError
from fedrec.models.base import ITEM_EMBEDDING, RecModel, dense_names
from fedrec.settings import Setting
from privacy.base import SingleUploadAttack, decide_interactions, expected_positives, pseudo_positives
from privacy.observed import ObservedUpload, Recovered

_DLG_STREAM = 0x444C
# Two fits are the same solution up to float error when their normalised objectives differ by less.
_EQUIVALENT = 1e-9

#: Relaxed labels live in (−LABEL_MARGIN, 1 + LABEL_MARGIN); see `relaxed_labels`.
LABEL_MARGIN = 1.0

DLG_ITERATIONS = Setting("dlg-iterations", int, "L-BFGS iterations per restart of the DLG attack.", minimum=1)
DLG_RESTARTS = Setting(
    "dlg-restarts", int, "Random restarts of the DLG attack; the best gradient match is kept.", minimum=1
)


def relaxed_labels(label_logits: torch.Tensor) -> torch.Tensor:
    """y = (1 + 2m)σ(ℓ) − m: a sigmoid box (−m, 1 + m) around the labels 0 and 1, m = LABEL_MARGIN.

    With a plain σ(ℓ) the true labels sit at ℓ = ±∞, where the gradient vanishes and L-BFGS stalls short
    of them; inside the box they are ordinary stationary points. The room below 0 also fits a negative
    drawn c times exactly: its merged row equals one sample's with label (1 − c)σ(s) ≥ −1 while
    c ≤ 1 + 1/σ(s) (3 copies at initialisation, more as negatives' scores fall). The box is symmetric
    about 1/2, so ℓ -> −ℓ maps y to 1 − y (the MF mirror below stays representable).
    """
    return (1.0 + 2.0 * LABEL_MARGIN) * torch.sigmoid(label_logits) - LABEL_MARGIN


class GradientMatch:
    """The DLG objective of one upload: normalised squared distance between predicted and observed gradients."""

    def __init__(self, model: RecModel, upload: ObservedUpload) -> None:
        self.model = model
        self.num_samples = upload.num_samples
        # Double precision: the observed rows are O(1/N) and L-BFGS needs a smooth, exact objective near 0.
        self.items = upload.theta[ITEM_EMBEDDING][upload.item_ids].double()
        self.dense = {name: upload.theta[name].double() for name in dense_names(upload.theta)}
        observed = [upload.item_rows, *(upload.dense[name] for name in self.dense)]
        self.observed = [tensor.double() for tensor in observed]
        # Each tensor's error relative to its own norm, so scale does not decide (a tensor observed as all
        # zeros has none: its raw squared error counts). The item rows, each item's own evidence of its label,
        # then weigh as much as all dense tensors together: after training they carry ~90% of the upload's
        # norm, and weighing them as one tensor among many left labels wrong on real uploads.
        self.weights = [1.0 / float((tensor * tensor).sum()) if tensor.any() else 1.0 for tensor in self.observed]
        self.weights[0] *= max(1, len(self.dense))

    def __call__(self, user_emb: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        items = self.items.clone().requires_grad_()
        dense = {name: tensor.clone().requires_grad_() for name, tensor in self.dense.items()}
        logits = self.model.logits(dense, user_emb, items)
        loss = F.binary_cross_entropy_with_logits(logits, targets, reduction="sum") / self.num_samples
        predicted = torch.autograd.grad(loss, [items, *dense.values()], create_graph=True)
        return sum(
            weight * ((guess - seen) ** 2).sum() for weight, guess, seen in zip(self.weights, predicted, self.observed)
        )


class DeepLeakage(SingleUploadAttack):
    """DLG with relaxed labels and a dummy p_u, fitted by L-BFGS from several random starts (BCE only)."""

    settings = (DLG_ITERATIONS, DLG_RESTARTS)

    def __init__(self, model: RecModel, config: Any) -> None:
        super().__init__(model, config)
        if config.loss != "bce":
            raise ConfigError(
                f"the dlg attack needs loss 'bce' (BPR's positive-negative pairs are not modelled), not {config.loss!r}"
            )

    def recover(self, upload: ObservedUpload) -> Recovered:
        match = GradientMatch(self.model, upload)
        # p_u = scale · u with u ~ N(0, 1): users and items are trained alike, so Θ's item scale is a
        # data-free guess of |p_u|; it puts u on the labels' O(1) scale, which L-BFGS's single step size needs.
        scale = float(upload.theta[ITEM_EMBEDDING].double().pow(2).mean().sqrt())
        rng = np.random.default_rng([self.config.seed, _DLG_STREAM])
        best = None
        for _ in range(self.config.dlg_restarts):
            unit_user = torch.from_numpy(rng.normal(0.0, 1.0, self.model.embedding_dim)).requires_grad_()
            label_logits = torch.from_numpy(rng.uniform(-1.0, 1.0, len(upload.item_ids))).requires_grad_()
            objective = self._fit(match, scale, unit_user, label_logits)
            if best is None or objective < best[0]:
                best = (objective, scale * unit_user.detach(), relaxed_labels(label_logits.detach()))
        objective, user_emb, labels = best
        user_emb, labels = self._resolve_mirror(match, objective, user_emb, labels, upload)
        return Recovered(
            interaction_scores=labels.float(),
            is_interaction=decide_interactions(
                labels, labels > 0.5, upload, self.config.negatives, pseudo_positives(self.config)
            ),
            user_embedding=user_emb.float(),
        )

    def _fit(self, match: GradientMatch, scale: float, unit_user: torch.Tensor, label_logits: torch.Tensor) -> float:
        """Run L-BFGS in place on the two unknowns; the objective reached (inf if it diverged)."""
        optimizer = torch.optim.LBFGS(
            [unit_user, label_logits],
            max_iter=self.config.dlg_iterations,
            # A strong-Wolfe line search here takes 2-5 evaluations; torch's default cap (1.25 per
            # iteration) would end the fit after ~30 iterations, so the iteration count is the budget.
            max_eval=5 * self.config.dlg_iterations,
            history_size=50,
            tolerance_grad=1e-12,
            tolerance_change=1e-16,
            line_search_fn="strong_wolfe",
        )

        def closure() -> torch.Tensor:
            optimizer.zero_grad()
            value = match(scale * unit_user, relaxed_labels(label_logits))
            value.backward()
            return value

        optimizer.step(closure)
        value = float(match(scale * unit_user, relaxed_labels(label_logits)).detach())
        return value if np.isfinite(value) else np.inf

    def _resolve_mirror(
        self,
        match: GradientMatch,
        objective: float,
        user_emb: torch.Tensor,
        labels: torch.Tensor,
        upload: ObservedUpload,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """(p, y) or (−p, 1 − y), whichever the count prior fits, when both match the upload equally.

        For MF (score p·q) the two give identical BCE gradients, so the gradients cannot tell them
        apart; the positives are the N/(1+r) items. For NCF the mirror matches worse and is never taken.
        """
        if float(match(-user_emb, 1.0 - labels).detach()) > objective + _EQUIVALENT:
            return user_emb, labels
        expected = expected_positives(upload.num_samples, self.config.negatives)
        if abs(int((labels < 0.5).sum()) - expected) < abs(int((labels > 0.5).sum()) - expected):
            return -user_emb, 1.0 - labels
        return user_emb, labels
