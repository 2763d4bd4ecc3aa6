"""Bucketing (Karimireddy, He & Jaggi, ICLR 2022) in front of any registered rule: fedrec/robust/bucketing.py."""

import torch

from fedrec.config import RunConfig
from fedrec.registry import Registry
from fedrec.robust.bucketing import bucket_means, bucket_of_users
from fedrec.settings import Setting
from fedrec.training.server_step import ThetaGradient
from fedrec.updates import UserUpdates
from strategies.base import Aggregate, FedRecStrategy

NAME = "bucketing"

BUCKET_SIZE = Setting("bucket-size", int, "Bucketing: s, users averaged per bucket (the paper: 2).", minimum=1)


def bucketing_class(rules: Registry[type[FedRecStrategy]]) -> type[FedRecStrategy]:
    """Bucketing in front of any rule of `rules`, the defense registry that registers it as `bucketing` (passed in,
    not imported: the registry imports this module)."""
    inner_rule = Setting(
        "bucketing-rule",
        str,
        "Bucketing: the rule that aggregates the buckets' means.",
        lambda: [name for name in rules.names() if name != NAME],
    )

    class Bucketing(FedRecStrategy):
        """Each round shuffles the users (seeded by `seed`), averages them in buckets of `bucket-size` and lets the
        rule named by `bucketing-rule` aggregate the buckets as if they were users, with its own settings (its f,
        say, counts buckets). The rule's gradient is scaled by U / B (users per bucket, on average) so that the step
        is as large as the rule's on the users themselves; a user is flagged when the rule flagged its bucket.
        """

        settings = (BUCKET_SIZE, inner_rule)

        def __init__(self, *args, **kwargs) -> None:  # type: ignore[no-untyped-def]
            super().__init__(*args, **kwargs)
            self.inner = rules.get(self.config.bucketing_rule)(self.config, self.directory, self.theta, self.targets)
            self.generator = torch.Generator().manual_seed(self.config.seed)

        @classmethod
        def check_run(cls, config: RunConfig) -> None:
            rules.get(config.bucketing_rule).check_run(config)

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

    return Bucketing
