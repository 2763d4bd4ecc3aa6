"""Privacy: what an honest-but-curious server learns from the uploads, and the client-side defenses.

Two families, one registry each (a new member is a new file plus one line here):
- `privacy-attack`: what the server runs, after training, on the uploads it recorded of
  `privacy-users` sampled users (the same ones) in the epochs `privacy-epochs` (server_app/curious.py):
  single-upload gradient attacks (`analytic`, `dlg`), the multi-round id attack (`recurrence`), the
  analytic attack on a user's uploads averaged over rounds (`pooled-analytic`) and the informed baseline
  that reads no gradient (`popularity`); under secure aggregation, `round-difference` makes the uploads it
  attacks from the decoded sums (server_app/round_difference.py);
- `privacy-defense`: what each benign user computes and uploads instead of its honest update
  (client_app/app.py): `ldp`, `pseudo-items`, and the DLG paper's noise, reduced precision and pruning
  (privacy/upload_perturbation.py); plus `secure-aggregation`, under which the server sees only each round's sum.
"""

from typing import Any

from fedrec.errors import ConfigError
from fedrec.registry import Registry
from fedrec.settings import Setting, positive_int_list
from privacy.analytic import AnalyticAttack
from privacy.base import PrivacyAttack
from privacy.defenses import ClientDefense, NoDefense
from privacy.dlg import DeepLeakage
from privacy.ldp import LocalDP
from privacy.observed import Recovered, UserHistory
from privacy.pooled import PooledAnalytic
from privacy.popularity import PopularityPrior
from privacy.pseudo_items import PseudoItems
from privacy.recurrence import IdRecurrence
from privacy.secure_aggregation import check_defense
from privacy.upload_perturbation import UploadNoise, UploadPrecision, UploadPruning


class NoPrivacyAttack(PrivacyAttack):
    """The server records nothing and attacks nothing."""

    def recover_history(self, history: UserHistory) -> list[Recovered]:
        raise RuntimeError("privacy-attack 'none' attacks nothing")


RECORDING = (
    Setting(
        "privacy-users",
        int,
        "Benign users whose uploads the curious server records and attacks: the same users in every recorded epoch.",
        minimum=1,
    ),
    Setting(
        "privacy-epochs",
        str,
        "Epochs (1-based, a comma list) whose uploads the curious server records.",
        convert=positive_int_list,
    ),
)
ROUND_DIFFERENCE = Setting(
    "round-difference",
    str,
    "Under secure aggregation, the curious server isolates each recorded user from the sums: after a round with the "
    "user it reruns the round without it, at the Θ it had sent ('resent') or at the Θ after its step ('stepped'), and "
    "attacks the difference of the two decoded totals; 'none' records nothing under secure aggregation.",
    choices=("none", "resent", "stepped"),
)
SECURE_AGGREGATION = Setting(
    "secure-aggregation",
    bool,
    "Simulate secure aggregation: the server (strategy and curious recorder alike) sees only each round's sum, dense "
    "over the items.",
)


def _secure_aggregation_fits(config: Any, defense: type[ClientDefense]) -> None:
    if config.secure_aggregation:
        check_defense(config.defense, config.fedavg_mode)


def _round_difference_fits(config: Any, attack: type[PrivacyAttack]) -> None:
    if config.round_difference != "none" and not config.secure_aggregation:
        raise ConfigError(
            f"round-difference {config.round_difference!r} isolates users from secure aggregation's sums; "
            "set secure-aggregation = true (in the clear the server has every upload already)"
        )
    if config.round_difference != "none" and config.privacy_attack == "none":
        raise ConfigError(
            f"round-difference {config.round_difference!r} needs a privacy-attack to run on what it isolates"
        )


PRIVACY_ATTACKS: Registry[type[PrivacyAttack]] = Registry(
    "privacy-attack",
    key="privacy-attack",
    help="What the honest-but-curious server runs on the uploads it recorded.",
    settings=(*RECORDING, ROUND_DIFFERENCE),
    check=_round_difference_fits,
)
PRIVACY_ATTACKS.register("none", NoPrivacyAttack)
PRIVACY_ATTACKS.register("analytic", AnalyticAttack)
PRIVACY_ATTACKS.register("dlg", DeepLeakage)
PRIVACY_ATTACKS.register("recurrence", IdRecurrence)
PRIVACY_ATTACKS.register("popularity", PopularityPrior)
PRIVACY_ATTACKS.register("pooled-analytic", PooledAnalytic)

PRIVACY_DEFENSES: Registry[type[ClientDefense]] = Registry(
    "privacy-defense",
    key="privacy-defense",
    help="What each benign user uploads instead of its honest update.",
    settings=(SECURE_AGGREGATION,),
    check=_secure_aggregation_fits,
)
PRIVACY_DEFENSES.register("none", NoDefense)
PRIVACY_DEFENSES.register("ldp", LocalDP)
PRIVACY_DEFENSES.register("pseudo-items", PseudoItems)
PRIVACY_DEFENSES.register("upload-noise", UploadNoise)
PRIVACY_DEFENSES.register("upload-precision", UploadPrecision)
PRIVACY_DEFENSES.register("upload-pruning", UploadPruning)


def records_truth(config: Any, epoch: int) -> bool:
    """Whether benign users leave their ground truth in `epoch` (0-based): a recorded epoch of a run with a
    privacy attack; under secure aggregation only when the server isolates users by `round-difference`."""
    recorded = config.privacy_attack != "none" and epoch + 1 in config.privacy_epochs
    return recorded and (not config.secure_aggregation or config.round_difference != "none")


__all__ = ["PRIVACY_ATTACKS", "PRIVACY_DEFENSES", "PrivacyAttack", "ClientDefense", "records_truth"]
