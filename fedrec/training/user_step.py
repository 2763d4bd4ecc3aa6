"""How a client steps its users' private rows p_u with their gradients: SGD, or Adam as a server would run it.

`sgd` (the reference paper) moves a row by `user-lr` times its gradient each time its user trains.

`adam` reproduces ClusterAttack-UNION's reference code, whose user table is part of the server's model and
stepped by the server's one `torch.optim.Adam` every round: a row whose user sat a round out gets a zero
gradient there, yet still moves by its momentum (Adam's first moment decays, its step does not vanish). Here
the row never leaves the client: the client keeps the row's Adam moments and the last round it advanced the row
through, and before the row is used (trained or evaluated) replays the rounds it missed with a zero gradient,
by torch's own Adam update (`torch.optim.adam.adam`, the function `torch.optim.Adam.step` calls) at each round's
step count (Flower's 1-based server round: one server step per round). Adam is elementwise, so a row stepped on
its own equals the row of a whole table stepped at once; a row whose user never trained has zero moments and
does not move.
"""

from dataclasses import dataclass

import numpy as np
import torch
from torch.optim.adam import adam

USER_OPTIMIZERS = ("sgd", "adam")

# torch.optim.Adam's defaults, which the reference code uses.
_BETAS = (0.9, 0.999)
_EPS = 1e-8


@dataclass
class UserAdamState:
    """Adam's state of a node's rows [U, d], in the node's row order: the moments, and per row the last server
    round it has been advanced through (0: never)."""

    exp_avg: torch.Tensor
    exp_avg_sq: torch.Tensor
    advanced: torch.Tensor  # [U] int64

    @classmethod
    def zeros(cls, rows: torch.Tensor) -> "UserAdamState":
        return cls(torch.zeros_like(rows), torch.zeros_like(rows), torch.zeros(len(rows), dtype=torch.int64))


def _adam_round(
    rows: torch.Tensor, grads: torch.Tensor, state: UserAdamState, positions: torch.Tensor, step: int, lr: float
) -> None:
    """Round `step` of Adam on `rows[positions]` with gradients `grads`, in place (rows and state)."""
    param, exp_avg, exp_avg_sq = rows[positions], state.exp_avg[positions], state.exp_avg_sq[positions]
    adam(
        [param],
        [grads],
        [exp_avg],
        [exp_avg_sq],
        [],
        [torch.tensor(float(step - 1))],  # adam() counts this step itself
        foreach=False,
        amsgrad=False,
        beta1=_BETAS[0],
        beta2=_BETAS[1],
        lr=lr,
        weight_decay=0.0,
        eps=_EPS,
        maximize=False,
    )
    rows[positions], state.exp_avg[positions], state.exp_avg_sq[positions] = param, exp_avg, exp_avg_sq
    state.advanced[positions] = step


def catch_up(rows: torch.Tensor, state: UserAdamState, positions: np.ndarray, through_round: int, lr: float) -> None:
    """Advances `rows[positions]` through `through_round`: each round a row missed is an Adam step with a zero
    gradient (rows that never trained have zero moments and are only marked)."""
    index = torch.as_tensor(positions, dtype=torch.int64)
    behind = index[state.advanced[index] < through_round]
    started = behind[state.exp_avg_sq[behind].abs().sum(1) > 0]  # v > 0 once a row has had a nonzero gradient
    if len(started):
        for step in range(int(state.advanced[started].min()) + 1, through_round + 1):
            due = started[state.advanced[started] < step]
            _adam_round(rows, torch.zeros(len(due), rows.shape[1]), state, due, step, lr)
    state.advanced[behind] = through_round


class UserStep:
    """The run's `user-optimizer` over a node's rows [U, d] (in the node's row order), with its state if any."""

    def __init__(self, optimizer: str, lr: float, state: UserAdamState | None = None) -> None:
        if optimizer not in USER_OPTIMIZERS:
            raise ValueError(f"unknown user optimizer {optimizer!r}; valid: {', '.join(USER_OPTIMIZERS)}")
        self.optimizer = optimizer
        self.lr = lr
        self.state = state

    def _adam_state(self, rows: torch.Tensor) -> UserAdamState:
        if self.state is None:
            self.state = UserAdamState.zeros(rows)
        return self.state

    def prepare(self, rows: torch.Tensor, positions: np.ndarray, server_round: int) -> None:
        """Brings `rows[positions]` to where they stand when round `server_round` starts (Adam: the rounds they
        missed replayed); call before taking their gradients."""
        if self.optimizer == "adam":
            catch_up(rows, self._adam_state(rows), positions, server_round - 1, self.lr)

    def apply(self, rows: torch.Tensor, positions: np.ndarray, grads: torch.Tensor, server_round: int) -> None:
        """Steps `rows[positions]` by their gradients `grads` in round `server_round`, in place (Adam: the rows must
        have been brought to the round's start by `prepare`, as their gradients were taken there)."""
        index = torch.as_tensor(positions, dtype=torch.int64)
        if self.optimizer == "adam":
            _adam_round(rows, grads, self._adam_state(rows), index, server_round, self.lr)
        else:
            rows[index] -= self.lr * grads

    def settle(self, rows: torch.Tensor, through_round: int) -> None:
        """Brings every row to where it stands after round `through_round` (before an evaluation)."""
        if self.optimizer == "adam":
            catch_up(rows, self._adam_state(rows), np.arange(len(rows)), through_round, self.lr)
