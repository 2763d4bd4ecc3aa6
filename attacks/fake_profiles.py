"""Data-poisoning baselines: fake users who train like benign ones on a fabricated profile.

- Explicit Boosting (EB), the prior-free part of PipAttack (Zhang et al., WSDM 2022): the fake
  user's only positives are the targets, so its ordinary loss boosts the targets' scores for its
  own embedding.
- Random (RA): the targets plus random filler items, `fake-profile-size` items in all.
- Bandwagon: the targets plus filler drawn from the most popular items (the top 10% by
  popularity), which needs `attacker-knowledge = popularity`.

Each fake user keeps its own embedding and samples negatives like a benign user; its profile is
fixed for the run (seeded per user).
"""

from abc import abstractmethod

import numpy as np

from attacks.base import AttackRound, ProfileAttack
from fedrec.errors import ConfigError
from fedrec.settings import Setting
from fedrec.training.sampling import UserSamples, epoch_samples

_PROFILE_STREAM = 0x5046
POPULAR_SHARE = 0.10
FAKE_PROFILE_SIZE = Setting("fake-profile-size", int, "Items in a fake user's profile, targets included.", minimum=1)


class FakeProfileAttack(ProfileAttack):
    @abstractmethod
    def profile(self, user: int) -> np.ndarray:
        """The fake user's positive items (sorted, unique)."""

    def samples(self, attack_round: AttackRound, index: int) -> UserSamples:
        user = int(attack_round.user_ids[index])
        return epoch_samples(user, self.profile(user), self.setup.num_items, self.config, attack_round.epoch)

    def _targets_plus(self, user: int, pool: np.ndarray) -> np.ndarray:
        pool = np.setdiff1d(pool, self.targets)
        filler_count = min(max(self.config.fake_profile_size - len(self.targets), 0), len(pool))
        filler = self.rng(_PROFILE_STREAM, 0, user).choice(pool, size=filler_count, replace=False)
        return np.union1d(self.targets, filler)


class ExplicitBoosting(FakeProfileAttack):
    def profile(self, user: int) -> np.ndarray:
        return np.unique(self.targets)


class RandomProfiles(FakeProfileAttack):
    settings = (FAKE_PROFILE_SIZE,)

    def profile(self, user: int) -> np.ndarray:
        return self._targets_plus(user, np.arange(self.setup.num_items))


class Bandwagon(FakeProfileAttack):
    requires_knowledge = "popularity"
    settings = (FAKE_PROFILE_SIZE,)

    def profile(self, user: int) -> np.ndarray:
        popularity = self.setup.knowledge.item_popularity
        if popularity is None:
            raise ConfigError("attack 'bandwagon' needs run-config attacker-knowledge='popularity'")
        top = np.argsort(-popularity, kind="stable")[: max(1, int(POPULAR_SHARE * len(popularity)))]
        return self._targets_plus(user, top)
