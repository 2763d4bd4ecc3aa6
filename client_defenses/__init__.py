"""Client-side training defenses: a term every benign user adds to its loss (client_defenses/base.py).
A new one is a new file plus one line here (its settings, if any, are the class attribute `settings`)."""

from dataclasses import replace
from typing import Any

from client_defenses.base import NoTrainingDefense, TrainingDefense
from client_defenses.regula import Regula
from fedrec.errors import ConfigError
from fedrec.registry import Registry
from fedrec.training.local import LossTerm, Objective, UpdateRule, compute_user_updates


def _alone(config: Any, defense: type[TrainingDefense]) -> None:
    if defense is not NoTrainingDefense and config.privacy_defense != "none":
        raise ConfigError(
            f"client-defense {config.client_defense!r} does not combine with privacy-defense "
            f"{config.privacy_defense!r}; set one of them to 'none'"
        )


CLIENT_DEFENSES: Registry[type[TrainingDefense]] = Registry(
    "client-defense",
    key="client-defense",
    help="A term every benign user adds to its training loss (PIECK's `regula`).",
    check=_alone,
)
CLIENT_DEFENSES.register("none", NoTrainingDefense)
CLIENT_DEFENSES.register("regula", Regula)


def regularised_update(term: LossTerm) -> UpdateRule:
    """The benign update rule with `term` added to each user's objective."""

    def update(model, theta, user_ids, user_emb, samples, config, epoch):
        objective = replace(Objective.of(config), extra=term)
        return compute_user_updates(model, theta, user_ids, user_emb, samples, objective)

    return update


__all__ = ["CLIENT_DEFENSES", "TrainingDefense", "regularised_update"]
