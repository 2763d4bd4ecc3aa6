"""What a client-side training defense is: a term every benign user adds to its own loss.

Unlike a server defense (strategies/), which filters or reshapes the uploads it receives, a training
defense changes what benign users compute: the node adds its term to each benign user's objective
(`fedrec.training.local.Objective.extra`), so its gradient reaches both the user's private embedding
and the item rows it uploads. Malicious clients do not run it.
"""

from abc import ABC, abstractmethod
from typing import Any, ClassVar

from fedrec.models.base import Theta
from fedrec.settings import Setting
from fedrec.training.item_movement import ItemMovement
from fedrec.training.local import LossTerm


class TrainingDefense(ABC):
    """A term added to every benign user's loss."""

    #: Run-config settings this defense reads.
    settings: ClassVar[tuple[Setting, ...]] = ()
    #: Whether its term reads the node's `ItemMovement` (the node then keeps one).
    observes_item_movement: ClassVar[bool] = False

    def __init__(self, config: Any) -> None:
        self.config = config

    @abstractmethod
    def loss_term(self, theta: Theta, epoch: int, movement: ItemMovement | None) -> LossTerm | None:
        """The term for a round of `epoch` (0-based) on `theta`; None adds nothing."""


class NoTrainingDefense(TrainingDefense):
    """Benign users minimise their loss alone."""

    def loss_term(self, theta: Theta, epoch: int, movement: ItemMovement | None) -> LossTerm | None:
        return None
