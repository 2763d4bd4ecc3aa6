"""Bucketing (Karimireddy, He & Jaggi, ICLR 2022) in front of any registered rule: fedrec/robust/bucketing.py."""

import torch

from fedrec.robust.bucketing import bucket_means, bucket_of_users
from fedrec.settings import Setting
from fedrec.training.server_step import ThetaGradient
from fedrec.updates import UserUpdates
from strategies.base import Aggregate, FedRecStrategy

NAME = "bucketing"


def _inner_rules() -> list[str]:
    from strategies import STRATEGIES  # the registry is filled once this module is imported

    return [name for name in STRATEGIES.names() if name != NAME]


BUCKET_SIZE = Setting("bucket-size", int, "Bucketing: s, users averaged per bucket (the paper: 2).", minimum=1)
BUCKETING_RULE = Setting("bucketing-rule", str, "Bucketing: the rule that aggregates the buckets' means.", _inner_rules)


class Bucketing(FedRecStrategy):
    """Each round shuffles the users (seeded by `seed`), averages them in buckets of `bucket-size` and lets the rule
    named by `bucketing-rule` aggregate the buckets as if they were users, with its own settings (its f, say,
    counts buckets). The rule's gradient is scaled by U / B (users per bucket, on average) so that the step is as
    large as the rule's on the users themselves; a user is flagged when the rule flagged its bucket.
    """

    settings = (BUCKET_SIZE, BUCKETING_RULE)

    def __init__(self, *args, **kwargs) -> None:  # type: ignore[no-untyped-def]
        super().__init__(*args, **kwargs)
        from strategies import STRATEGIES

        self.inner = STRATEGIES.get(self.config.bucketing_rule)(self.config, self.directory, self.theta, self.targets)
        self.generator = torch.Generator().manual_seed(self.config.seed)

    def aggregate(self, updates: UserUpdates) -> Aggregate:
        bucket = bucket_of_users(updates.num_users, self.config.bucket_size, self.generator)
        buckets = bucket_means(updates, bucket)
        decision = self.inner.aggregate(buckets)
        scale = updates.num_users / buckets.num_users
        gradient = ThetaGradient(
            item_ids=decision.gradient.item_ids,
            item_rows=decision.gradient.item_rows * scale,
            dense={name: grads * scale for name, grads in decision.gradient.dense.items()},
        )
        return Aggregate(gradient, None if decision.flagged is None else decision.flagged[bucket])
