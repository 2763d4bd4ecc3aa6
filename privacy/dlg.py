"""Deep Leakage from Gradients (Zhu et al., 2019) adapted to a federated recommender's upload.

DLG treats the private inputs as unknowns and fits them so that the gradient they would produce matches
the observed one. Here the unknowns are a dummy p_u (d values) and a relaxed label y_i = σ(ℓ_i) per
uploaded item; the item embeddings and dense weights are the Θ the server sent. The predicted upload is
autograd of the model's own BCE loss (its `logits`, mean over the observed N samples) with respect to
the uploaded items' embeddings and the dense weights; L-BFGS (the paper's optimiser) minimises the
squared distance to the observed upload, each tensor normalised by its observed norm so that item rows
and every dense layer weigh alike whatever their scale. Random restarts keep the best match.

Approximation: every uploaded item is taken as one sample, so a negative drawn c > 1 times (merged into
one row by the client) is fitted as one sample with a c-fold gradient; its relaxed label then saturates
at 0, which is still the right label.
"""

import numpy as np
import torch
import torch.nn.functional as F

from fedrec.errors import ConfigError
from fedrec.models.base import ITEM_EMBEDDING, RecModel, dense_names
from fedrec.settings import Setting
from privacy.base import PrivacyAttack, decide_interactions, expected_positives
from privacy.observed import ObservedUpload, Recovered

_DLG_STREAM = 0x444C
# Two fits are the same solution up to float error when their normalised objectives differ by less.
_EQUIVALENT = 1e-9

DLG_ITERATIONS = Setting("dlg-iterations", int, "L-BFGS iterations per restart of the DLG attack.", minimum=1)
DLG_RESTARTS = Setting("dlg-restarts", int, "Random restarts of the DLG attack; the best gradient match is kept.", minimum=1)


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
        # A tensor observed as all zeros still constrains the fit; it is weighed as if of norm 1.
        self.weights = [1.0 / float((tensor * tensor).sum()) if tensor.any() else 1.0 for tensor in self.observed]

    def __call__(self, user_emb: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        items = self.items.clone().requires_grad_()
        dense = {name: tensor.clone().requires_grad_() for name, tensor in self.dense.items()}
        logits = self.model.logits(dense, user_emb, items)
        loss = F.binary_cross_entropy_with_logits(logits, targets, reduction="sum") / self.num_samples
        predicted = torch.autograd.grad(loss, [items, *dense.values()], create_graph=True)
        return sum(
            weight * ((guess - seen) ** 2).sum() for weight, guess, seen in zip(self.weights, predicted, self.observed)
        )


class DeepLeakage(PrivacyAttack):
    """DLG with relaxed labels and a dummy p_u, fitted by L-BFGS from several random starts (BCE only)."""

    settings = (DLG_ITERATIONS, DLG_RESTARTS)

    def __init__(self, model: RecModel, config: object) -> None:
        super().__init__(model, config)
        if config.loss != "bce":
            raise ConfigError(f"the dlg attack needs loss 'bce' (BPR's positive-negative pairing is not modelled), not {config.loss!r}")

    def recover(self, upload: ObservedUpload) -> Recovered:
        match = GradientMatch(self.model, upload)
        rng = np.random.default_rng([self.config.seed, _DLG_STREAM])
        # A data-free prior on p_u's scale: users and items are trained alike, so p_u is sized like Θ's items.
        scale = float(upload.theta[ITEM_EMBEDDING].double().pow(2).mean().sqrt())
        best = None
        for _ in range(self.config.dlg_restarts):
            user_emb = torch.from_numpy(rng.normal(0.0, scale, self.model.embedding_dim)).requires_grad_()
            label_logits = torch.from_numpy(rng.uniform(-1.0, 1.0, len(upload.item_ids))).requires_grad_()
            objective = self._fit(match, user_emb, label_logits)
            if best is None or objective < best[0]:
                best = (objective, user_emb.detach(), label_logits.detach())
        objective, user_emb, label_logits = best
        user_emb, labels = self._resolve_mirror(match, objective, user_emb, label_logits, upload)
        return Recovered(
            interaction_scores=labels.float(),
            is_interaction=decide_interactions(labels, labels > 0.5, upload, self.config.negatives),
            user_embedding=user_emb.float(),
        )

    def _fit(self, match: GradientMatch, user_emb: torch.Tensor, label_logits: torch.Tensor) -> float:
        """Run L-BFGS in place on the two unknowns; the objective reached."""
        optimizer = torch.optim.LBFGS(
            [user_emb, label_logits],
            max_iter=self.config.dlg_iterations,
            history_size=50,
            tolerance_grad=1e-12,
            tolerance_change=1e-16,
            line_search_fn="strong_wolfe",
        )

        def closure() -> torch.Tensor:
            optimizer.zero_grad()
            value = match(user_emb, label_logits)
            value.backward()
            return value

        optimizer.step(closure)
        value = float(match(user_emb, label_logits))
        return value if np.isfinite(value) else np.inf

    def _resolve_mirror(
        self, match: GradientMatch, objective: float, user_emb: torch.Tensor, label_logits: torch.Tensor,
        upload: ObservedUpload,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """(p, y) or (−p, 1 − y), whichever the count prior fits, when both match the upload equally.

        For MF (score p·q) the two give identical BCE gradients, so the gradients cannot tell them
        apart; the positives are the N/(1+r) items. For NCF the mirror matches worse and is never taken.
        """
        labels, mirrored = torch.sigmoid(label_logits), torch.sigmoid(-label_logits)
        if float(match(-user_emb, -label_logits)) > objective + _EQUIVALENT:
            return user_emb, labels
        expected = expected_positives(upload.num_samples, self.config.negatives)
        if abs(int((mirrored > 0.5).sum()) - expected) < abs(int((labels > 0.5).sum()) - expected):
            return -user_emb, mirrored
        return user_emb, labels
