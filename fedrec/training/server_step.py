"""The server's update of Θ from an aggregated gradient: plain SGD or Adam.

SGD (Θ <- Θ - lr * gradient) is the reference paper's server. Adam is the optimiser of FedAttack's
victim; it runs torch's own implementation on the dense gradient (item rows nobody sent are zero),
which is how Keras' Adam treats an embedding's gradient in the FedAttack notebook: every row's moments
decay each step and every row keeps moving on its momentum.
"""

from dataclasses import dataclass

import torch

from fedrec.models.base import ITEM_EMBEDDING, Theta

SERVER_OPTIMIZERS = ("sgd", "adam")
#: Where `l2-reg` applies (fedrec/config.py): on the client's touched rows, or on all of Θ at the server.
L2_SCOPES = ("touched", "all")


def decayed(name: str) -> bool:
    """Whether the server's L2 (`l2-scope = "all"`) applies to a Θ entry: all but biases, as ClusterAttack-UNION's
    reference regularises its parameters (`model.py`, `L2_Regularizer`)."""
    return "bias" not in name


@dataclass
class ThetaGradient:
    """An aggregated gradient of Θ: item rows (ids may repeat) plus dense-parameter gradients."""

    item_ids: torch.Tensor  # [n] int64
    item_rows: torch.Tensor  # [n, d]
    dense: dict[str, torch.Tensor]
    #: The part of the server's L2 term (`l2-scope = "all"`) the rule kept: each user's own L2 term is part of its
    #: update, so a rule that scales the updates before their weighted mean (norm bounding) scales it as well;
    #: the weighted mean of the users' factors (1 for a plain mean).
    l2_share: float = 1.0


def apply_gradient(theta: Theta, gradient: ThetaGradient, lr: float) -> None:
    """Θ <- Θ - lr * gradient, in place. Repeated item ids accumulate (index_add_, not `+=` on an index)."""
    theta[ITEM_EMBEDDING].index_add_(0, gradient.item_ids, gradient.item_rows, alpha=-lr)
    for name, grad in gradient.dense.items():
        theta[name].sub_(grad, alpha=lr)


class ServerStep:
    """Applies aggregated gradients to Θ in place with the run's `server-optimizer`, keeping its state.

    `l2` > 0 adds l2 * Θ to the gradient of every entry `decayed` names (every item row included, sent or not)
    before the step: the server's half of `l2-scope = "all"`.
    """

    def __init__(self, theta: Theta, optimizer: str, lr: float, l2: float = 0.0) -> None:
        if optimizer not in SERVER_OPTIMIZERS:
            raise ValueError(f"unknown server optimizer {optimizer!r}; valid: {', '.join(SERVER_OPTIMIZERS)}")
        self.theta = theta
        self.lr = lr
        self.l2 = l2
        params: list = list(theta.values())
        if l2 > 0:  # torch's own L2 (Adam's weight_decay adds it to the gradient, not AdamW's decoupled decay)
            groups = [[theta[name] for name in theta if decayed(name) == wanted] for wanted in (True, False)]
            params = [{"params": groups[0], "weight_decay": l2}, {"params": groups[1], "weight_decay": 0.0}]
        self._adam = torch.optim.Adam(params, lr=lr) if optimizer == "adam" else None

    def __call__(self, gradient: ThetaGradient) -> None:
        l2 = self.l2 * gradient.l2_share
        if self._adam is None:
            decay = {name: l2 * value for name, value in self.theta.items() if decayed(name)} if l2 > 0 else {}
            apply_gradient(self.theta, gradient, self.lr)  # the decay terms above are of Θ before the step
            for name, term in decay.items():
                self.theta[name].sub_(term, alpha=self.lr)
            return
        if self.l2 > 0:
            self._adam.param_groups[0]["weight_decay"] = l2
        item_grad = torch.zeros_like(self.theta[ITEM_EMBEDDING])
        item_grad.index_add_(0, gradient.item_ids, gradient.item_rows)
        self.theta[ITEM_EMBEDDING].grad = item_grad
        for name, value in self.theta.items():
            if name != ITEM_EMBEDDING:
                value.grad = gradient.dense.get(name, torch.zeros_like(value))
        self._adam.step()

    def l2_gradient(self) -> Theta | None:
        """The server's L2 term of this step (`l2-scope = "all"`), shaped as Θ: l2 * Θ for every entry `decayed`
        names (what each user's own L2 gradient of those parameters would be), zeros elsewhere; None without it."""
        if self.l2 == 0:
            return None
        return {
            name: self.l2 * value.detach() if decayed(name) else torch.zeros_like(value)
            for name, value in self.theta.items()
        }

    def item_rows_after(self, item_ids: torch.Tensor, grads: torch.Tensor) -> torch.Tensor:
        """[n, S, d]: the item rows `item_ids` [S] as each of n candidate item gradients `grads` [n, S, d] would
        leave them if it alone were this step's gradient (Θ and the optimiser state untouched): UNION's preview
        of a user's upload (fedrec/robust/union.py)."""
        rows = self.theta[ITEM_EMBEDDING].detach()[item_ids].double()[None]
        grads = grads.double() + self.l2 * rows if self.l2 > 0 else grads.double()
        if self._adam is None:
            return rows - self.lr * grads
        group = self._adam.param_groups[0]
        (beta1, beta2), eps = group["betas"], group["eps"]
        state = self._adam.state.get(self.theta[ITEM_EMBEDDING], {})
        step = int(state["step"]) + 1 if state else 1
        exp_avg = state["exp_avg"][item_ids].double() * beta1 if state else 0.0
        exp_avg_sq = state["exp_avg_sq"][item_ids].double() * beta2 if state else 0.0
        exp_avg = exp_avg + (1 - beta1) * grads
        exp_avg_sq = exp_avg_sq + (1 - beta2) * grads**2
        denom = (exp_avg_sq / (1 - beta2**step)).sqrt() + eps
        return rows - group["lr"] / (1 - beta1**step) * exp_avg / denom
