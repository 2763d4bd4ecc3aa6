"""Dataset loaders: run-config `dataset` name -> a function that returns a `RecDataset`.

A loader takes the validated `RunConfig` and returns the train/test interactions; where its files come
from (data dir, download cache) is its own business. Adding a dataset is one new module here with a
`load(config)` function (and a `SETTINGS` tuple if it has settings of its own) plus one
`DATASETS.register` line below.

Note: this top-level package is named `datasets`, so it shadows Hugging Face's `datasets` package
wherever both are importable (e.g. running from the repo root with HF datasets installed). The
project deliberately does not depend on HF datasets; do not add code here that expects it.
"""

from collections.abc import Callable

from datasets import amazon, movielens, split_files, synthetic
from datasets.download import DATA_DIR, data_dir_for
from fedrec.config import RunConfig
from fedrec.data import RecDataset
from fedrec.registry import Registry
from fedrec.settings import Setting

__all__ = ["DATASETS", "DatasetLoader", "data_dir_for", "load_dataset"]

DatasetLoader = Callable[[RunConfig], RecDataset]

SPLIT = Setting(
    "split", str,
    "Train/test split: `published` uses a dataset's own split where its files have one (ml-1m's train.dat/test.dat, split-files); `random` pools every interaction and splits each user's items 80/20 at random with `seed` (what datasets without a published split always do).",
    ("published", "random"),
)

DATASETS: Registry[DatasetLoader] = Registry("dataset", key="dataset", help="Data to train on.", settings=(DATA_DIR, SPLIT))
DATASETS.register("synthetic", synthetic.load, synthetic.SETTINGS)
DATASETS.register("ml-100k", movielens.load_ml100k)
DATASETS.register("ml-1m", movielens.load_ml1m)
DATASETS.register("amazon-digital-music", amazon.load)
DATASETS.register("split-files", split_files.load)


def load_dataset(config: RunConfig) -> RecDataset:
    """The dataset named by `config.dataset`, loaded with the rest of `config` (re-split if `split` is random)."""
    dataset = DATASETS.get(config.dataset)(config)
    return dataset.resplit(config.seed) if config.split == "random" else dataset
