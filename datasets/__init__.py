"""Dataset loaders: run-config `dataset` name -> a function that returns a `RecDataset`.

A loader takes the validated `RunConfig` and returns the train/test interactions; where its files come
from (data dir, download cache) is its own business. Adding a dataset is one new module here with a
`load(config)` function (and a `SETTINGS` tuple if it has settings of its own) plus one
`DATASETS.register` line below.

`load_dataset` then applies the settings every dataset shares, in this order: the split (`split`: the
loader's own, a seeded random re-split, or the chronological leave-one-out), then which users the run
serves (`user-share`: all, or one side of a seeded provider/federation split stratified by
`target-group`, `fedrec.data.splits.provider_split`).

Note: this top-level package is named `datasets`, so it shadows Hugging Face's `datasets` package
wherever both are importable (e.g. running from the repo root with HF datasets installed). The
project deliberately does not depend on HF datasets; do not add code here that expects it.
"""

from collections.abc import Callable

from datasets import amazon, gowalla, leave_one_out, movielens, split_files, synthetic
from datasets.download import DATA_DIR, data_dir_for
from fedrec.config import RunConfig
from fedrec.data.dataset import RecDataset
from fedrec.data.profiles import UserGroup
from fedrec.data.splits import leave_last_out, leave_last_two_out, provider_split, resplit
from fedrec.errors import ConfigError
from fedrec.registry import Registry
from fedrec.settings import Setting

__all__ = ["DATASETS", "DatasetLoader", "data_dir_for", "load_dataset"]

DatasetLoader = Callable[[RunConfig], RecDataset]

SPLIT = Setting(
    "split",
    str,
    "Train/test split: `published` uses a dataset's own split where its files have one (ml-1m's train.dat/test.dat, "
    "split-files, ml-100k-loo and steam); `random` pools every interaction and splits each user's items 80/20 at "
    "random with `seed` (what datasets without a published split always do); `leave-last-out` makes each user's "
    "latest interaction the test item (chronological leave-one-out; needs timestamps); `leave-last-two-out` also "
    "holds out the interaction before it as a validation item, never trained on and masked when ranking the test "
    "item (ClusterAttack-UNION's reference split; needs timestamps).",
    ("published", "random", "leave-last-out", "leave-last-two-out"),
)
USER_SHARES = ("all", "provider", "federation")


def _open_fraction(name: str, value: float) -> float:
    if not 0.0 < value < 1.0:
        raise ConfigError(f"run-config '{name}' = {value!r} is invalid: must be > 0 and < 1")
    return value


TARGET_GROUP = Setting(
    "target-group",
    str,
    "The user group that group-targeted attacks aim at and that evaluation reports separately: `attribute=value` with "
    "attribute `gender` (M, F), `age` (<18, 18-24, 25-34, 35-44, 45-49, 50-55, 56+) or `occupation`, e.g. `gender=F`; "
    "empty = none. Needs user profiles (synthetic, ml-100k, ml-1m).",
    convert=UserGroup.parse,
)
USER_SHARE = Setting(
    "user-share",
    str,
    "Which users the dataset serves: `all`, or the provider's public share / the federation's share of a "
    "`provider-fraction` split stratified by `target-group`, for pre-training outside the federation.",
    USER_SHARES,
)
PROVIDER_FRACTION = Setting(
    "provider-fraction",
    float,
    "Share of the users (of the `target-group` and of the rest alike) that form the provider's public share for "
    "`user-share`; in (0, 1).",
    convert=_open_fraction,
)

DATASETS: Registry[DatasetLoader] = Registry(
    "dataset",
    key="dataset",
    help="Data to train on.",
    settings=(DATA_DIR, SPLIT, TARGET_GROUP, USER_SHARE, PROVIDER_FRACTION),
)
DATASETS.register("synthetic", synthetic.load, synthetic.SETTINGS)
DATASETS.register("ml-100k", movielens.load_ml100k)
DATASETS.register("ml-1m", movielens.load_ml1m)
DATASETS.register("amazon-digital-music", amazon.load)
DATASETS.register("split-files", split_files.load)
DATASETS.register("ml-100k-loo", leave_one_out.load)
DATASETS.register("steam", leave_one_out.load)
DATASETS.register("gowalla", gowalla.load)

WITH_TIMESTAMPS = "synthetic, ml-100k, amazon-digital-music, gowalla, and ml-1m read from ratings.dat"
WITH_PROFILES = "synthetic, and ml-100k and ml-1m with their user file (u.user, users.dat) beside their data files"


def load_dataset(config: RunConfig) -> RecDataset:
    """The dataset named by `config.dataset`, split as `split` says and cut to the users of `user-share`."""
    dataset = _split(config, DATASETS.get(config.dataset)(config))
    if config.target_group is not None:
        _check_group(config, dataset)
    return _user_share(config, dataset)


def _split(config: RunConfig, dataset: RecDataset) -> RecDataset:
    if config.split == "random":
        return resplit(dataset, config.seed)
    if config.split in ("leave-last-out", "leave-last-two-out"):
        if dataset.events is None:
            raise _without_timestamps(config)
        return leave_last_out(dataset) if config.split == "leave-last-out" else leave_last_two_out(dataset)
    return dataset


def _without_timestamps(config: RunConfig) -> ConfigError:
    wanted = f"run-config 'split' = '{config.split}' needs interaction timestamps"
    if config.dataset == "ml-1m":
        return ConfigError(
            f"{wanted}, but ml-1m's published split (train.dat and test.dat in {data_dir_for(config)}) has none;"
            " ml-1m reads ratings.dat, whose 4th field is the timestamp, only from a data-dir without train.dat"
            " and test.dat: set data-dir to a folder that holds ratings.dat, or to an empty folder to download"
            " GroupLens' ml-1m.zip"
        )
    return ConfigError(f"{wanted}, and {config.dataset} has none; datasets with timestamps: {WITH_TIMESTAMPS}")


def _check_group(config: RunConfig, dataset: RecDataset) -> None:
    """A target group needs profiles, and some user in the group."""
    key = f"run-config 'target-group' = '{config.target_group}'"
    if dataset.profiles is None:
        raise ConfigError(
            f"{key} needs user profiles, and {config.dataset} has none; datasets with profiles: {WITH_PROFILES}"
        )
    try:
        config.target_group.members(dataset.profiles)
    except ConfigError as error:
        raise ConfigError(f"{key} is invalid for {config.dataset}: {error}") from None


def _user_share(config: RunConfig, dataset: RecDataset) -> RecDataset:
    if config.user_share == "all":
        return dataset
    provider, federation = provider_split(
        dataset.num_users, dataset.profiles, config.target_group, config.provider_fraction, config.seed
    )
    rows = provider if config.user_share == "provider" else federation
    if len(rows) == 0:
        raise ConfigError(
            f"run-config 'user-share' = {config.user_share!r} leaves no users of {dataset.num_users} with"
            f" provider-fraction {config.provider_fraction}; choose a provider-fraction nearer 0.5"
        )
    return dataset.subset_users(rows)
