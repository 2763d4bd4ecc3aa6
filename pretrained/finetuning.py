"""Federated fine-tuning scenarios: which of Θ's entries the federation may change.

A downstream federation that starts from a provider's checkpoint (`initial-checkpoint`) uses it in one
of APRec's ways: as is (`none`: evaluated, never trained), fully fine-tuned (`full`), prompt-tuned
(`prompt-only`: the prompt pathway re-initialised and trained, the backbone frozen), or with the
item embeddings frozen (`frozen-items`). Clients differentiate only the trainable entries; frozen ones
travel as zeros and the server's optimiser leaves them bit for bit where they were.
"""

from typing import Any, ClassVar

from fedrec.errors import ConfigError
from fedrec.models.base import ITEM_EMBEDDING
from fedrec.models.sasrec import is_prompt


class FineTuning:
    """All of Θ trains (also what every run without a checkpoint does)."""

    #: False: the run evaluates the starting Θ and trains nothing.
    trains: ClassVar[bool] = True

    @staticmethod
    def trainable(name: str) -> bool:
        return True

    @staticmethod
    def reinitialised(name: str) -> bool:
        """Entries drawn afresh (with the run's seed) instead of taken from the checkpoint."""
        return False


class AsIs(FineTuning):
    trains = False

    @staticmethod
    def trainable(name: str) -> bool:
        return False


class FrozenItems(FineTuning):
    @staticmethod
    def trainable(name: str) -> bool:
        return name != ITEM_EMBEDDING


class PromptOnly(FineTuning):
    @staticmethod
    def trainable(name: str) -> bool:
        return is_prompt(name)

    reinitialised = trainable


def check_fine_tuning(config: Any, scenario: type[FineTuning]) -> None:
    """Scenarios other than `full` need a checkpoint to start from; `prompt-only` needs a prompt."""
    if scenario is not FineTuning and not config.initial_checkpoint:
        raise ConfigError(
            f"run-config 'fine-tune' = {config.fine_tune!r} fine-tunes a checkpoint: set 'initial-checkpoint'"
        )
    if config.fine_pruning and not (config.initial_checkpoint and config.model == "sasrec"):
        raise ConfigError(
            "run-config 'fine-pruning' prunes a pre-trained sasrec checkpoint: set model and initial-checkpoint"
        )
    for key, value, does in (
        ("exposure-scan", config.exposure_scan, "audits"),
        ("scan-reset-items", config.scan_reset_items, "resets items of"),
    ):
        if value and not (config.initial_checkpoint and config.model == "sasrec"):
            raise ConfigError(
                f"run-config {key!r} {does} a pre-trained sasrec checkpoint: set model and initial-checkpoint"
            )
    if scenario in (FrozenItems, PromptOnly) and config.model != "sasrec":
        raise ConfigError(f"run-config 'fine-tune' = {config.fine_tune!r} is implemented for model = 'sasrec'")
    if scenario is PromptOnly and not config.profile_prompt:
        raise ConfigError("run-config 'fine-tune' = 'prompt-only' needs model = 'sasrec' with profile-prompt = true")
