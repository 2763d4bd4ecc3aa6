"""A durable backdoor: basic replacement confined to the coordinates benign training updates least (Neurotoxin).

Neurotoxin (Zhang et al., "Neurotoxin: Durable Backdoors in Federated Learning", ICML 2022) makes a backdoor
survive later benign training by writing it only where benign updates rarely go: the attacker estimates the
benign gradient on clean data, takes the top-k share of all coordinates by its magnitude, and projects its
poisoned gradient onto the rest (zeroes those k coordinates) before every step. Here the attacker is the
provider of a pre-trained model and the benign training it must survive is the federation's fine-tuning:

- `durable-replacement`: (1) clean pre-training of every weight (`pretrain-epochs`); (2) the mask: the
  magnitude of the clean next-item loss's gradient, summed over one pass of mini-batches of the provider's
  users at the Θ stage 1 left (as the reference code accumulates it, `|Σ_b g_b|`), ranked over all of Θ's
  coordinates at once; the top `durable-top-fraction` of them are frozen; (3) `backdoor-epochs` of basic
  replacement (a next item becomes a random target with probability `backdoor-rate`, for the group or for
  everyone: `backdoor-scope`) whose every gradient is projected onto the allowed coordinates.

The reference code (github.com/jhcknzzm/Federated-Learning-Backdoor) re-estimates the mask every round it
attacks and steps with SGD; here it is estimated once, before stage 3, because the provider's Adam would keep
moving a coordinate on its momentum after the mask froze it; with one mask, a frozen coordinate keeps its
value bit for bit. Its `gradmask_ratio` is 1 - `durable-top-fraction` (0.95 in most of its commands).

Its equal control is `durable-replacement` with `backdoor-rate = 0`: the same stages and projection, no poison.
"""

import numpy as np
import torch

from fedrec.models.base import Theta
from fedrec.models.sasrec import SASRec
from fedrec.sequential.sequences import TrainingSequences, training_sequences
from fedrec.settings import Setting
from pretrained.backdoors import BACKDOOR_EPOCHS, BACKDOOR_SCOPE, Backdoor, _everything
from pretrained.poisoning import replace_labels
from pretrained.training import ProviderData, Stage

DURABLE_TOP_FRACTION = Setting(
    "durable-top-fraction",
    float,
    "`durable-replacement` (Neurotoxin): share of Θ's coordinates, those with the largest clean-gradient magnitude, "
    "that the poisoned stage may not change.",
    minimum=0.0,
    maximum=1.0,
)


def benign_gradient_magnitude(
    model: SASRec, theta: Theta, data: ProviderData, batch_size: int, seed: int
) -> dict[str, torch.Tensor]:
    """|Σ over mini-batches of the clean loss's gradient| per entry of Θ: how much benign training moves it
    (one pass over the provider's users in order, epoch 0's negatives, dropout as in training)."""
    instances = training_sequences(data.users, data.sequences, data.profile, data.num_items, model.max_len, seed, 0)
    batch = instances.batch()
    params = {name: value.detach().requires_grad_(True) for name, value in theta.items()}
    total = {name: torch.zeros_like(value) for name, value in theta.items()}
    for start in range(0, len(batch), batch_size):
        loss = model.sequence_loss(params, batch.select(slice(start, start + batch_size)), train=True).mean()
        for name, grad in zip(params, torch.autograd.grad(loss, list(params.values()), allow_unused=True)):
            if grad is not None:
                total[name] += grad
    return {name: value.abs() for name, value in total.items()}


def allowed_coordinates(magnitude: dict[str, torch.Tensor], top_fraction: float) -> dict[str, torch.Tensor]:
    """{name: 0/1 float mask}: 0 on the `top_fraction` share of all coordinates (ranked together across
    entries) with the largest `magnitude`, 1 elsewhere; ties at the cut are broken by position."""
    names = list(magnitude)
    flat = torch.cat([magnitude[name].flatten() for name in names])
    frozen = int(round(top_fraction * flat.numel()))
    allowed = torch.ones_like(flat)
    if frozen:
        allowed[torch.topk(flat, frozen, sorted=False).indices] = 0.0
    sizes = [magnitude[name].numel() for name in names]
    return {name: part.view_as(magnitude[name]) for name, part in zip(names, torch.split(allowed, sizes), strict=True)}


class DurableReplacement(Backdoor):
    """Basic replacement (APRec, Wu et al. SIGIR 2023) confined to the coordinates that clean training updates
    least, as Neurotoxin (Zhang et al., ICML 2022) confines a federated backdoor."""

    settings = (BACKDOOR_SCOPE, BACKDOOR_EPOCHS, DURABLE_TOP_FRACTION)

    def stages(self, data: ProviderData) -> list[Stage]:
        config = self.config
        rows = data.in_group if config.backdoor_scope == "group" else np.ones(len(data.users), dtype=bool)

        def poison(instances: TrainingSequences, rng: np.random.Generator) -> None:
            replace_labels(instances, rows, config.backdoor_rate, self.targets, rng)

        return [
            self.stage("clean", config.pretrain_epochs, _everything),
            self.stage("durable", config.backdoor_epochs, _everything, poison=poison, gradient_mask=self._mask),
        ]

    def _mask(self, model: SASRec, theta: Theta, data: ProviderData) -> dict[str, torch.Tensor]:
        magnitude = benign_gradient_magnitude(model, theta, data, self.config.pretrain_batch_size, self.config.seed)
        return allowed_coordinates(magnitude, self.config.durable_top_fraction)
