"""Attacks on (robust) aggregation, crafted from known updates: Fang et al.'s Krum and trim
attacks, Gaussian noise, sign flipping, LIE and Min-Max.

These attackers collude: they craft their updates from what they jointly know (full knowledge:
the round's benign updates, `attacker-knowledge = full`; otherwise, partial knowledge: the honest
updates their own clients would have sent). The simulation implements the collusion on the server
side, as a channel between the malicious clients' replies and the defense: each malicious client
computes and uploads its honest update (a compromised user, on its own data); before the strategy
sees the round, `collude` replaces exactly those users' updates with the crafted ones. The
strategy never learns who is malicious; the effect is that of colluding clients which exchanged
their updates (and, with full knowledge, eavesdropped on the benign ones) before uploading.
Crafted updates are whole vectors, so a malicious user sends a row for every item, except for
Fang's trim attack under `aggregation = per-item`: Fang et al. craft against the rule the server
uses, and a per-item rule aggregates each coordinate over the users who sent that row, so the
attack takes its per-coordinate extremes (or mean and std) over those senders and sends rows only
for items the known updates touched. (Taken over all users instead, most extremes are the zeros of
unsent rows and the crafted values barely move a per-item median.)

`CollusionAttack` is the channel's contract (`rewrite` the round's malicious updates); `CraftingAttack`
is the whole-vector crafting above. An attack with its own upload format subclasses `CollusionAttack`
directly (Spattack-O, attacks/spattack.py: rows only for its own items, rewritten from the benign sum).
"""

from abc import abstractmethod
from dataclasses import dataclass

import numpy as np
import torch

from attacks.base import Attack, AttackRound, ProfileAttack
from attacks.crafting import fang_krum, fang_trim, gaussian, little_is_enough, min_max, sign_flip
from fedrec.models.base import ITEM_EMBEDDING, Theta
from fedrec.robust.dense import from_dense, sent_mask, to_dense
from fedrec.settings import Setting
from fedrec.training.sampling import UserSamples, epoch_samples
from fedrec.updates import UserUpdates


@dataclass
class CraftContext:
    round_users: int
    tolerated: int  # the defense's f, which these attackers are assumed to know
    full_knowledge: bool
    generator: torch.Generator
    #: [b, D] bool, which coordinates each reference user sent, when the rule aggregates per item; else None
    reference_sent: torch.Tensor | None = None


class CollusionAttack(Attack):
    """Base of the attacks whose malicious clients' uploads the server-side collusion channel rewrites."""

    @abstractmethod
    def rewrite(self, updates: UserUpdates, is_malicious: torch.Tensor, theta: Theta, server_round: int) -> UserUpdates:
        """The round's updates with the malicious users' ones (`is_malicious`, a bool per user) replaced."""


def collude(
    attack: CollusionAttack, updates: UserUpdates, malicious_ids: np.ndarray, theta: Theta, server_round: int
) -> UserUpdates:
    """The round's updates with the malicious users' ones replaced by crafted updates."""
    is_malicious = torch.from_numpy(np.isin(updates.user_ids.numpy(), malicious_ids))
    if not bool(is_malicious.any()):
        return updates
    return attack.rewrite(updates, is_malicious, theta, server_round)


class CraftingAttack(CollusionAttack, ProfileAttack):
    """Colluders that upload their honest updates and craft whole vectors from the known ones."""

    default_mode = "compromised"
    targeted = False
    needs_own_data = True
    #: Crafts each coordinate against a per-item rule's senders, and sends only the rows the known updates sent.
    per_item_aware = False

    def samples(self, attack_round: AttackRound, index: int) -> UserSamples:
        """The honest samples: what this client uploads before the collusion channel rewrites it."""
        user = int(attack_round.user_ids[index])
        return epoch_samples(user, attack_round.own_items[index], self.setup.num_items, self.config, attack_round.epoch)

    @abstractmethod
    def craft(self, reference: torch.Tensor, own_honest: torch.Tensor, context: CraftContext) -> torch.Tensor:
        """[m, D] malicious updates from the known updates `reference` and the attackers' honest ones."""

    def rewrite(self, updates: UserUpdates, is_malicious: torch.Tensor, theta: Theta, server_round: int) -> UserUpdates:
        config = self.config
        dense = to_dense(updates, theta)
        full = config.attacker_knowledge == "full"
        known = ~is_malicious if full else is_malicious
        per_item = self.per_item_aware and config.aggregation == "per-item"
        reference_sent = sent_mask(updates, theta)[known] if per_item else None
        context = CraftContext(
            round_users=updates.num_users,
            tolerated=config.tolerated_attackers,
            full_knowledge=full,
            generator=torch.Generator().manual_seed(config.seed * 1_000_003 + server_round),
            reference_sent=reference_sent,
        )
        crafted = self.craft(dense[known], dense[is_malicious], context)
        items = None
        if per_item:  # the rows the known updates sent
            items = torch.zeros(len(theta[ITEM_EMBEDDING]), dtype=torch.bool)
            items[updates.select(known).item_ids] = True
        poisoned = from_dense(crafted, updates.user_ids[is_malicious], updates.num_samples[is_malicious], theta, items)
        return UserUpdates.concat([updates.select(~is_malicious), poisoned])


class FangKrum(CraftingAttack):
    def craft(self, reference: torch.Tensor, own_honest: torch.Tensor, context: CraftContext) -> torch.Tensor:
        return fang_krum(reference, len(own_honest), context.tolerated, context.generator)


class FangTrim(CraftingAttack):
    per_item_aware = True

    def craft(self, reference: torch.Tensor, own_honest: torch.Tensor, context: CraftContext) -> torch.Tensor:
        return fang_trim(reference, len(own_honest), context.full_knowledge, context.generator, context.reference_sent)


class GaussianNoise(CraftingAttack):
    settings = (
        Setting(
            "gaussian-variance", float, "Variance of the `gaussian` attack's updates (Fang et al.: 200).", minimum=0.0
        ),
    )

    def craft(self, reference: torch.Tensor, own_honest: torch.Tensor, context: CraftContext) -> torch.Tensor:
        return gaussian(tuple(own_honest.shape), self.config.gaussian_variance, context.generator)


class SignFlip(CraftingAttack):
    def craft(self, reference: torch.Tensor, own_honest: torch.Tensor, context: CraftContext) -> torch.Tensor:
        return sign_flip(own_honest)


class LittleIsEnough(CraftingAttack):
    def craft(self, reference: torch.Tensor, own_honest: torch.Tensor, context: CraftContext) -> torch.Tensor:
        return little_is_enough(reference, len(own_honest), context.round_users, len(own_honest))


class MinMax(CraftingAttack):
    def craft(self, reference: torch.Tensor, own_honest: torch.Tensor, context: CraftContext) -> torch.Tensor:
        return min_max(reference, len(own_honest))
