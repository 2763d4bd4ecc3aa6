"""MovieLens 100K and 1M from GroupLens, as implicit feedback.

Every rating, whatever its value, counts as one positive interaction (the usual implicit-feedback
reading, and the one of the reference paper); each user's interactions are split 80/20 at random with
`config.seed`. Raw ids are 1-based GroupLens ids; `fedrec.data.splits.split_interactions` maps them to 0-based
indices in increasing id order.

Files are looked up in the data dir, both directly (`<dir>/u.data`) and as unzipped from the official
archive (`<dir>/ml-100k/u.data`). If absent, the archive is downloaded from GroupLens into the data dir,
checked against its MD5 and extracted.

`ml-1m` prefers a published split: when its data dir holds `train.dat` and `test.dat` (the per-user
format of `split-files`), that split is used as-is even if `ratings.dat` is there too, because it is the
split the project's benchmarks compare against. Only without them is `ratings.dat` read and split here.

The ratings files' timestamps become the dataset's `events` (the published split has none). The user
file beside the ratings (`u.user`, `users.dat`), if there, gives the `profiles`; it is never downloaded
on its own, and a dataset without it simply has no profiles. In the published split line i is
MovieLens UserID i+1, so its users.dat rows are matched that way.
"""

import io
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd

from datasets import split_files
from datasets.download import data_dir_for, obtain
from fedrec.config import RunConfig
from fedrec.data.dataset import RecDataset
from fedrec.data.profiles import GENDERS, profile_frame
from fedrec.data.splits import split_interactions
from fedrec.errors import ConfigError

# Read at call time, so a test can point it at an unreachable address.
GROUPLENS_URL = "https://files.grouplens.org/datasets/movielens"


@dataclass(frozen=True)
class UsersFile:
    """A GroupLens user file: its name, separator, the fields of age, gender and occupation, and the
    occupation names by code where the file gives codes (ML-1M) rather than names (ML-100K)."""

    name: str
    separator: str
    age_field: int
    gender_field: int
    occupation_field: int
    occupation_names: tuple[str, ...] = ()


# As ML-1M's README lists them (code 0 is "other" or not specified).
ML1M_OCCUPATIONS = (
    "other",
    "academic/educator",
    "artist",
    "clerical/admin",
    "college/grad student",
    "customer service",
    "doctor/health care",
    "executive/managerial",
    "farmer",
    "homemaker",
    "K-12 student",
    "lawyer",
    "programmer",
    "retired",
    "sales/marketing",
    "scientist",
    "self-employed",
    "technician/engineer",
    "tradesman/craftsman",
    "unemployed",
    "writer",
)
ML100K_USERS = UsersFile("u.user", "|", age_field=1, gender_field=2, occupation_field=3)
ML1M_USERS = UsersFile(
    "users.dat", "::", age_field=2, gender_field=1, occupation_field=3, occupation_names=ML1M_OCCUPATIONS
)


@dataclass(frozen=True)
class Release:
    """One GroupLens archive: its name, the ratings file inside it, that file's separator, the zip's MD5,
    and the user file read beside the ratings if there (None: no profiles)."""

    name: str
    ratings_file: str
    separator: str
    md5: str
    users: UsersFile | None = None


# MD5s of the zips as GroupLens publishes them (e.g. ml-100k.zip.md5 next to the archive); the same
# values appear in many independent public download scripts.
ML100K = Release("ml-100k", "u.data", "\t", "0e33842e24a9c977be4e0107933c0723", ML100K_USERS)
ML1M = Release("ml-1m", "ratings.dat", "::", "c4d9eecfca2ab87c1945afe126590906", ML1M_USERS)


def load_ml100k(config: RunConfig) -> RecDataset:
    return load_release(ML100K, config)


def load_ml1m(config: RunConfig) -> RecDataset:
    folder = data_dir_for(config)
    if split_files.has_split(folder):
        dataset = split_files.read_split(ML1M.name, folder)
        # Line i of the published split is MovieLens UserID i+1.
        user_ids = np.arange(1, dataset.num_users + 1)
        profiles = profiles_beside(folder, ML1M_USERS, user_ids, "the published split train.dat/test.dat")
        return dataset if profiles is None else replace(dataset, profiles=profiles.loc[user_ids].reset_index(drop=True))
    return load_release(ML1M, config, wanted="ratings.dat (or the published split train.dat and test.dat)")


def load_release(release: Release, config: RunConfig, wanted: str = "") -> RecDataset:
    folder = data_dir_for(config)
    names = (release.ratings_file, f"{release.name}/{release.ratings_file}")
    url = f"{GROUPLENS_URL}/{release.name}.zip"
    path = obtain(release.name, folder, names, url, release.md5, wanted)
    users, items, times = read_ratings(path, release.separator)
    profiles = None
    if release.users is not None:
        profiles = profiles_beside(path.parent, release.users, np.unique(users), str(path))
    return split_interactions(release.name, users, items, seed=config.seed, times=times, profiles=profiles)


def read_ratings(path: Path, separator: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """User ids, item ids and timestamps (fields 1, 2 and 4) of a GroupLens ratings file, one rating a line."""
    # latin-1 decodes any byte, so a stray byte surfaces as a bad id on its line, not a UnicodeError.
    text = path.read_text(encoding="latin-1")
    # pandas' fast C parser only takes one-character separators; "::" becomes a tab first.
    table = text if separator == "\t" else text.replace(separator, "\t")
    try:
        frame = pd.read_csv(io.StringIO(table), sep="\t", header=None, usecols=[0, 1, 3], dtype=np.int64)
    except ValueError as exc:
        # Parsing again line by line is slow, so it only runs to name the offending line.
        raise _first_bad_line(path, text, separator) or ConfigError(
            f"{path}: not a ratings file of 'user{separator}item{separator}rating{separator}timestamp'"
            f" lines ({' '.join(str(exc).split())})"
        ) from None
    return frame[0].to_numpy(), frame[1].to_numpy(), frame[3].to_numpy()


def _first_bad_line(path: Path, text: str, separator: str) -> ConfigError | None:
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        fields = line.split(separator)
        if len(fields) < 4:
            expected = separator.join(("user", "item", "rating", "timestamp"))
            return ConfigError(f"{path} line {number}: expected {expected}, got {line[:80]!r}")
        for field in (fields[0], fields[1], fields[3]):
            try:
                int(field)
            except ValueError:
                return ConfigError(f"{path} line {number}: {field!r} is not an integer")
    if not text.strip():
        return ConfigError(f"{path} holds no ratings")
    return None


def profiles_beside(folder: Path, users_file: UsersFile, user_ids: np.ndarray, ratings: str) -> pd.DataFrame | None:
    """The profiles of `folder`'s user file indexed by user id, or None without one; every id of
    `user_ids` (those of `ratings`) must have a line."""
    path = folder / users_file.name
    if not path.is_file():
        return None
    profiles = read_profiles(path, users_file)
    absent = np.setdiff1d(user_ids, profiles.index.to_numpy())
    if len(absent):
        shown = ", ".join(map(str, absent[:5])) + (", ..." if len(absent) > 5 else "")
        raise ConfigError(f"{path} has no line for {len(absent)} user id(s) of {ratings}: {shown}")
    return profiles


def read_profiles(path: Path, users_file: UsersFile) -> pd.DataFrame:
    """gender, age bucket and occupation name per user id (the index) of a GroupLens user file."""
    ids: list[int] = []
    genders: list[str] = []
    ages: list[int] = []
    occupations: list[str] = []
    separator = users_file.separator
    needed = max(users_file.age_field, users_file.gender_field, users_file.occupation_field) + 1
    for number, line in enumerate(path.read_text(encoding="latin-1").splitlines(), start=1):
        if not line.strip():
            continue
        fields = [field.strip() for field in line.split(separator)]
        where = f"{path} line {number}"
        if len(fields) < needed:
            raise ConfigError(f"{where}: expected {needed} {separator!r}-separated fields, got {line[:80]!r}")
        try:
            ids.append(int(fields[0]))
            ages.append(int(fields[users_file.age_field]))
        except ValueError:
            raise ConfigError(f"{where}: user id and age must be integers, got {line[:80]!r}") from None
        gender = fields[users_file.gender_field]
        if gender not in GENDERS:
            raise ConfigError(f"{where}: gender {gender!r} is not one of {', '.join(GENDERS)}")
        genders.append(gender)
        occupations.append(_occupation(fields[users_file.occupation_field], users_file, where))
    if len(set(ids)) != len(ids):
        raise ConfigError(f"{path}: a user id appears on more than one line")
    return profile_frame(np.array(genders), np.array(ages), np.array(occupations)).set_axis(pd.Index(ids))


def _occupation(field: str, users_file: UsersFile, where: str) -> str:
    """The occupation's name: as written, or looked up by its code."""
    if not users_file.occupation_names:
        return field
    names = users_file.occupation_names
    if not field.isdigit() or int(field) >= len(names):
        raise ConfigError(f"{where}: occupation {field!r} is not a code 0-{len(names) - 1}")
    return names[int(field)]
