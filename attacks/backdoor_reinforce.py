"""The provider's colluding fine-tuning clients: they reinforce a pre-trained backdoor during federated fine-tuning.

A provider that planted a backdoor in a pre-trained sequential recommender (basic replacement, APRec: Wu et al.,
"Attacking Pre-trained Recommendation", SIGIR 2023; `pretrained/backdoors.py`) also controls a few of the
federation's clients (the threat model's `malicious-fraction`, real users taken over: `compromised`). Each
trains the benign next-item loss on its own time-ordered history, poisoned as the provider poisoned its
pre-training data: its profile prompt claims the target group's attribute (a client's profile is its own
input, so it can claim any), which makes its history a group member's history as the model reads it, and each
next item becomes a random target with probability `reinforce-rate` (basic replacement's rewrite,
`pretrained.poisoning.replace_labels`; redrawn every round). It uploads the gradient of that loss in the
benign wire format, differentiated only where the run's `fine-tune` scenario lets Θ train, optionally
multiplied by `reinforce-boost` (explicit boosting: Bhagoji et al., "Analyzing Federated Learning through an
Adversarial Lens", ICML 2019; 1 = the honest magnitude).

It knows the backdoor's targets (the run's `target-items`, as every attack does) and its group (`target-group`).
"""

import numpy as np
import torch

from attacks.base import Attack, AttackRound
from fedrec.config import RunConfig
from fedrec.errors import ConfigError
from fedrec.sequential.batch import PROFILE_ATTRIBUTES, attribute_code
from fedrec.sequential.sequences import training_sequences
from fedrec.sequential.training import sequential_user_updates
from fedrec.settings import Setting
from fedrec.training.local import LocalResult
from pretrained import FINE_TUNING
from pretrained.poisoning import replace_labels

_REINFORCE_STREAM = 0x5246

REINFORCE_RATE = Setting(
    "reinforce-rate",
    float,
    "`backdoor-reinforce`: probability that a malicious client's next item is replaced by a random target.",
    minimum=0.0,
    maximum=1.0,
)
REINFORCE_BOOST = Setting(
    "reinforce-boost",
    float,
    "`backdoor-reinforce`: factor on each malicious client's upload (1: the honest magnitude, no boosting).",
    minimum=0.0,
)


class BackdoorReinforce(Attack):
    """Compromised fine-tuning clients that train on the provider's poisoned objective (APRec's basic
    replacement, Wu et al. SIGIR 2023) with the target group's profile, optionally boosted (Bhagoji et al.,
    ICML 2019)."""

    default_mode = "compromised"
    needs_own_data = True
    sequential = True
    settings = (REINFORCE_RATE, REINFORCE_BOOST)

    @classmethod
    def check(cls, config: RunConfig) -> None:
        super().check(config)
        name = f"attack '{config.attack}'"
        if config.target_group is None:
            raise ConfigError(f"{name} reinforces a backdoor aimed at a user group: set target-group, e.g. 'gender=F'")
        if not config.profile_prompt:
            raise ConfigError(f"{name} claims the target group through the profile prompt: set profile-prompt = true")
        if config.fine_tune == "none":
            raise ConfigError(f"{name} poisons fine-tuning, and fine-tune = 'none' trains nothing")

    def poison(self, attack_round: AttackRound) -> LocalResult:
        config, users = self.config, attack_round.user_ids
        if attack_round.own_profile is None:
            raise ConfigError(f"attack '{config.attack}' needs its clients' own profiles (compromised real users)")
        profile = group_profile(attack_round.own_profile, config.target_group.attribute, config.target_group.value)
        instances = training_sequences(
            users,
            attack_round.own_items,
            profile,
            self.setup.num_items,
            config.max_sequence_length,
            config.seed,
            attack_round.epoch if config.resample_negatives else 0,
        )
        rng = self.rng(_REINFORCE_STREAM, attack_round.epoch, int(users[0]))
        replace_labels(instances, np.ones(len(users), dtype=bool), config.reinforce_rate, self.targets, rng)
        dropout_seed = int(rng.integers(2**31))
        trainable = FINE_TUNING.selected(config).trainable
        result = sequential_user_updates(self.model, attack_round.theta, instances, trainable, dropout_seed)
        if config.reinforce_boost != 1.0:
            boost = torch.full((len(users),), config.reinforce_boost)
            result = LocalResult(
                updates=result.updates.scaled(boost),
                user_emb_grad=result.user_emb_grad,
                losses=result.losses,
            )
        return result


def group_profile(profile: np.ndarray, attribute: str, value: str) -> np.ndarray:
    """`profile` [n, 3] (prompt codes) with `attribute`'s column set to the code of `value`."""
    claimed = profile.copy()
    claimed[:, PROFILE_ATTRIBUTES.index(attribute)] = attribute_code(attribute, value)
    return claimed
