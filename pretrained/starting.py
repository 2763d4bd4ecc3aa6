"""The Θ a federation starts from: fresh, or a provider's checkpoint as the `fine-tune` scenario uses it."""

from pathlib import Path
from typing import Any

from fedrec.models.base import RecModel, Theta
from pretrained import FINE_TUNING
from pretrained.checkpoint import compatible, load_checkpoint


def starting_theta(config: Any, model: RecModel, num_items: int) -> tuple[Theta, dict[str, Any]]:
    """(Θ, what the checkpoint says about itself; empty without one). Entries the scenario re-initialises
    (the prompt, for `prompt-only`) come from a fresh Θ drawn with the run's seed."""
    fresh = model.init_theta(num_items, config.seed)
    if not config.initial_checkpoint:
        return fresh, {}
    checkpoint = load_checkpoint(Path(config.initial_checkpoint))
    compatible(checkpoint, config.as_dict(), fresh)
    scenario = FINE_TUNING.selected(config)
    theta = {name: fresh[name] if scenario.reinitialised(name) else checkpoint.theta[name].clone() for name in fresh}
    return theta, checkpoint.meta
