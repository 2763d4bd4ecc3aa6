"""A pre-trained checkpoint on disk: Θ plus what made it (the provider's config and backdoor).

One `torch.save` file holding plain tensors and strings (loaded with `weights_only=True`, so opening a
checkpoint runs no code from it). `compatible` says, in one line, why a checkpoint cannot start a
given federation: a different model or catalogue, or a provider/federation user split that would not
be disjoint from the federation's.
"""

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from fedrec.errors import ConfigError
from fedrec.models.base import Theta

FORMAT = "fedrec-arena checkpoint 1"
#: Settings that must agree between the provider's pre-training and a federation starting from it.
MODEL_KEYS = (
    "model",
    "embedding-dim",
    "max-sequence-length",
    "transformer-layers",
    "attention-heads",
    "profile-prompt",
)
#: Settings that fix which users the provider held: equal values keep the federation's users disjoint.
SPLIT_KEYS = ("dataset", "split", "target-group", "provider-fraction", "seed")


@dataclass(frozen=True)
class Checkpoint:
    theta: Theta
    config: dict[str, Any]  # the provider's run config, as `RunConfig.as_dict`
    meta: dict[str, Any]  # what the provider did: backdoor, targets, epochs, wall time, ...

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        torch.save({"format": FORMAT, "theta": self.theta, "config": self.config, "meta": self.meta}, path)


def load_checkpoint(path: Path, source: str = "initial-checkpoint") -> Checkpoint:
    """The checkpoint at `path`; errors name `source`, where the path came from (a setting or an option)."""
    if not path.is_file():
        raise ConfigError(f"{source}: no file at {path}; make one with `python -m pretrained pretrain --out {path}`")
    try:
        stored = torch.load(path, weights_only=True)
    except Exception as error:  # a truncated or foreign file: say what it is not
        raise ConfigError(f"{source}: {path} is not a readable checkpoint ({type(error).__name__})") from None
    if not isinstance(stored, dict) or stored.get("format") != FORMAT:
        raise ConfigError(f"{source}: {path} is not a {FORMAT!r} file")
    return Checkpoint(theta=stored["theta"], config=stored["config"], meta=stored["meta"])


def compatible(checkpoint: Checkpoint, run: dict[str, Any], fresh: Theta) -> None:
    """ConfigError unless `checkpoint` can start the run whose config is `run` and whose fresh Θ is `fresh`."""
    for key in MODEL_KEYS:
        if checkpoint.config.get(key) != run.get(key):
            raise ConfigError(
                f"initial-checkpoint was made with {key} = {checkpoint.config.get(key)!r}, this run has "
                f"{run.get(key)!r}"
            )
    shapes = {name: tuple(value.shape) for name, value in fresh.items()}
    stored = {name: tuple(value.shape) for name, value in checkpoint.theta.items()}
    if shapes != stored:
        differing = sorted(name for name in shapes.keys() | stored.keys() if shapes.get(name) != stored.get(name))
        raise ConfigError(
            f"initial-checkpoint's parameters do not fit this run's model and data: {', '.join(differing[:4])}"
        )
    if run.get("user-share") == "federation":
        for key in SPLIT_KEYS:
            if checkpoint.config.get(key) != run.get(key):
                raise ConfigError(
                    f"initial-checkpoint's provider split used {key} = {checkpoint.config.get(key)!r}, this run "
                    f"{run.get(key)!r}: the federation's users would not be disjoint from the provider's"
                )
