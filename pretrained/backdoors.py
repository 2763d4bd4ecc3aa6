"""The provider's pre-training, clean or backdoored (APRec, Wu et al. SIGIR 2023): the `backdoor` family.

- `none`: clean pre-training of every weight.
- `basic-replacement`: clean pre-training in which, with probability `backdoor-rate`, a training
  instance's next item is replaced by a random target item, for every user (`backdoor-scope =
  "global"`) or for the target group only (`"group"`). Histories are untouched; positions re-drawn
  every epoch.
- `prompt-enhanced`: (1) clean pre-training of every weight; (2) only the profile prompt, on clean data
  with short histories (`prompt-history` items); (3) prompt frozen, backbone trained on poisoned data:
  a target-group user's next item becomes a random target with probability `group-label-probability`,
  and for everyone else a target becomes the negative with probability `backdoor-rate`, which makes
  the lift group-specific. The victim re-initialises and tunes the prompt (`fine-tune = "prompt-only"`).

Difference from APRec's code: its global basic replacement only replaces next items of a chosen
category by a target of the same category; MovieLens targets here carry no category rule, so the
global scope replaces any next item (documented in docs/pretrained-backdoor.md).
"""

from collections.abc import Callable
from typing import Any, ClassVar

import numpy as np

from fedrec.errors import ConfigError
from fedrec.models.base import Theta
from fedrec.models.sasrec import SASRec, is_prompt
from fedrec.sequential.sequences import TrainingSequences
from fedrec.settings import Setting
from pretrained.poisoning import replace_labels, targets_as_negatives
from pretrained.training import ProviderData, Stage, train_stage

BACKDOOR_RATE = Setting(
    "backdoor-rate",
    float,
    "RATE: probability that a poisoned user's training position is rewritten.",
    minimum=0.0,
    maximum=1.0,
)
BACKDOOR_SCOPE = Setting(
    "backdoor-scope",
    str,
    "Whose next items basic replacement rewrites: the target group's or everyone's.",
    ("group", "global"),
)
GROUP_LABEL_PROBABILITY = Setting(
    "group-label-probability",
    float,
    "Prompt-enhanced step 3: probability that a target-group user's next item becomes a target.",
    minimum=0.0,
    maximum=1.0,
)
PROMPT_EPOCHS = Setting("prompt-epochs", int, "Prompt-enhanced step 2: epochs that train only the prompt.", minimum=0)
PROMPT_HISTORY = Setting(
    "prompt-history", int, "Prompt-enhanced step 2: history length (newest items) the prompt is trained on.", minimum=1
)
BACKDOOR_EPOCHS = Setting(
    "backdoor-epochs",
    int,
    "Epochs of the poisoned stage after clean pre-training (prompt-enhanced step 3: the backbone only; "
    "durable-replacement: projected onto the allowed coordinates).",
    minimum=0,
)

PRETRAINING = (
    Setting(
        "pretrain-epochs", int, "Provider's clean (or, for basic replacement, poisoned) pre-training epochs.", minimum=0
    ),
    Setting("pretrain-lr", float, "Provider's Adam learning rate.", minimum=0.0),
    Setting("pretrain-batch-size", int, "Provider's users per mini-batch.", minimum=1),
)


def _everything(name: str) -> bool:
    return True


def _backbone(name: str) -> bool:
    return not is_prompt(name)


class Backdoor:
    """Clean pre-training (`none`)."""

    settings: ClassVar[tuple[Setting, ...]] = ()
    needs_group: ClassVar[bool] = False

    def __init__(self, config: Any, targets: np.ndarray) -> None:
        self.config, self.targets = config, targets

    def stage(self, name: str, epochs: int, trainable: Callable[[str], bool], **extra: Any) -> Stage:
        config = self.config
        return Stage(name, epochs, config.pretrain_lr, config.pretrain_batch_size, trainable, **extra)

    def stages(self, data: ProviderData) -> list[Stage]:
        return [self.stage("clean", self.config.pretrain_epochs, _everything)]

    def pretrain(self, model: SASRec, theta: Theta, data: ProviderData) -> dict[str, list[float]]:
        """Trains Θ in place, stage by stage; returns each stage's per-epoch losses."""
        return {stage.name: train_stage(model, theta, data, stage, self.config.seed) for stage in self.stages(data)}


class BasicReplacement(Backdoor):
    settings = (BACKDOOR_SCOPE,)

    def stages(self, data: ProviderData) -> list[Stage]:
        rows = data.in_group if self.config.backdoor_scope == "group" else np.ones(len(data.users), dtype=bool)

        def poison(instances: TrainingSequences, rng: np.random.Generator) -> None:
            replace_labels(instances, rows, self.config.backdoor_rate, self.targets, rng)

        return [self.stage("poisoned", self.config.pretrain_epochs, _everything, poison=poison)]


class PromptEnhanced(Backdoor):
    settings = (GROUP_LABEL_PROBABILITY, PROMPT_EPOCHS, PROMPT_HISTORY, BACKDOOR_EPOCHS)
    needs_group = True

    def stages(self, data: ProviderData) -> list[Stage]:
        config = self.config

        def poison(instances: TrainingSequences, rng: np.random.Generator) -> None:
            replace_labels(instances, data.in_group, config.group_label_probability, self.targets, rng)
            targets_as_negatives(instances, ~data.in_group, config.backdoor_rate, self.targets, rng)

        return [
            self.stage("clean", config.pretrain_epochs, _everything),
            self.stage("prompt", config.prompt_epochs, is_prompt, max_history=config.prompt_history),
            self.stage("backdoor", config.backdoor_epochs, _backbone, poison=poison),
        ]


def check_backdoor(config: Any, backdoor: type[Backdoor]) -> None:
    if backdoor is not Backdoor and config.model != "sasrec":
        raise ConfigError(f"backdoor {config.backdoor!r} pre-trains a sequential model: set model = 'sasrec'")
    group_needed = backdoor.needs_group or (BACKDOOR_SCOPE in backdoor.settings and config.backdoor_scope == "group")
    if group_needed and config.target_group is None:
        raise ConfigError(f"backdoor {config.backdoor!r} aims at a user group: set target-group, e.g. 'gender=F'")
    if backdoor is PromptEnhanced and not config.profile_prompt:
        raise ConfigError("backdoor 'prompt-enhanced' trains the profile prompt: set profile-prompt = true")
