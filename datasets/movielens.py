"""MovieLens 100K and 1M from GroupLens, as implicit feedback.

Every rating, whatever its value, counts as one positive interaction (the usual implicit-feedback
reading, and the one of the reference paper); each user's interactions are split 80/20 at random with
`config.seed`. Raw ids are 1-based GroupLens ids; `RecDataset.from_interactions` maps them to 0-based
indices in increasing id order.

Files are looked up in the data dir, both directly (`<dir>/u.data`) and as unzipped from the official
archive (`<dir>/ml-100k/u.data`). If absent, the archive is downloaded from GroupLens into the data dir,
checked against its MD5 and extracted.

`ml-1m` prefers a published split: when its data dir holds `train.dat` and `test.dat` (the per-user
format of `split-files`), that split is used as-is even if `ratings.dat` is there too, because it is the
split the project's benchmarks compare against. Only without them is `ratings.dat` read and split here.
"""

import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from datasets import split_files
from datasets.download import data_dir_for, obtain
from fedrec.config import RunConfig
from fedrec.data import RecDataset
from fedrec.errors import ConfigError

# Read at call time, so a test can point it at an unreachable address.
GROUPLENS_URL = "https://files.grouplens.org/datasets/movielens"


@dataclass(frozen=True)
class Release:
    """One GroupLens archive: its name, the ratings file inside it, that file's separator, the zip's MD5."""

    name: str
    ratings_file: str
    separator: str
    md5: str


# MD5s of the zips as GroupLens publishes them (e.g. ml-100k.zip.md5 next to the archive); the same
# values appear in many independent public download scripts.
ML100K = Release("ml-100k", "u.data", "\t", "0e33842e24a9c977be4e0107933c0723")
ML1M = Release("ml-1m", "ratings.dat", "::", "c4d9eecfca2ab87c1945afe126590906")


def load_ml100k(config: RunConfig) -> RecDataset:
    return load_release(ML100K, config)


def load_ml1m(config: RunConfig) -> RecDataset:
    folder = data_dir_for(config)
    if split_files.has_split(folder):
        return split_files.read_split(ML1M.name, folder)
    return load_release(ML1M, config, wanted="ratings.dat (or the published split train.dat and test.dat)")


def load_release(release: Release, config: RunConfig, wanted: str = "") -> RecDataset:
    folder = data_dir_for(config)
    names = (release.ratings_file, f"{release.name}/{release.ratings_file}")
    url = f"{GROUPLENS_URL}/{release.name}.zip"
    path = obtain(release.name, folder, names, url, release.md5, wanted)
    users, items = read_ratings(path, release.separator)
    return RecDataset.from_interactions(release.name, users, items, seed=config.seed)


def read_ratings(path: Path, separator: str) -> tuple[np.ndarray, np.ndarray]:
    """User and item ids (the first two fields) of a GroupLens ratings file, one rating a line."""
    # latin-1 decodes any byte, so a stray byte surfaces as a bad id on its line, not a UnicodeError.
    text = path.read_text(encoding="latin-1")
    # pandas' fast C parser only takes one-character separators; "::" becomes a tab first.
    table = text if separator == "\t" else text.replace(separator, "\t")
    try:
        frame = pd.read_csv(io.StringIO(table), sep="\t", header=None, usecols=[0, 1], dtype=np.int64)
    except ValueError as exc:
        # Parsing again line by line is slow, so it only runs to name the offending line.
        raise _first_bad_line(path, text, separator) or ConfigError(
            f"{path}: not a ratings file of 'user{separator}item{separator}rating{separator}timestamp'"
            f" lines ({' '.join(str(exc).split())})"
        ) from None
    return frame[0].to_numpy(), frame[1].to_numpy()


def _first_bad_line(path: Path, text: str, separator: str) -> ConfigError | None:
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        fields = line.split(separator)
        if len(fields) < 2:
            expected = f"user{separator}item{separator}..."
            return ConfigError(f"{path} line {number}: expected {expected}, got {line[:80]!r}")
        for field in fields[:2]:
            try:
                int(field)
            except ValueError:
                return ConfigError(f"{path} line {number}: id {field!r} is not an integer")
    if not text.strip():
        return ConfigError(f"{path} holds no ratings")
    return None
