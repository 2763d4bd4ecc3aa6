"""Gowalla check-ins (SNAP), cut to the 10-core users and locations of NGCF's Gowalla, as implicit feedback.

ClusterAttack/UNION (AAAI 2023; `Data/prepare.sh` and `Code/preprocess.py` of its reference code) builds
its Gowalla this way: SNAP's `loc-gowalla_totalCheckins.txt` (one check-in a line, `user<TAB>time<TAB>
latitude<TAB>longitude<TAB>location`, time as `2010-10-19T23:55:27Z`), keeping the check-ins whose user
is in NGCF's `user_list.txt` and whose location is in its `item_list.txt` (each `org_id remap_id` under a
header line). Every kept check-in is one positive interaction (repeats of a pair count once), its time
the interaction's timestamp (the dataset's `events`, so `split = "leave-last-out"` works); each user's
items are split 80/20 with `config.seed` as for every dataset without a published split.

One difference from the reference's script, which is a bug there: it drops the check-ins file's first
line as if it were a header (SNAP's file has none); here every line counts.

Missing files are downloaded into the data dir from SNAP and NGCF's GitHub repository (`obtain`); the
publishers give no checksums, so none is checked, and a damaged file fails while parsing with its name.
"""

import zlib
from pathlib import Path

import numpy as np
import pandas as pd

from datasets.download import data_dir_for, obtain
from fedrec.config import RunConfig
from fedrec.data.dataset import RecDataset
from fedrec.data.splits import split_interactions
from fedrec.errors import ConfigError

# Read at call time, so a test can point them at a local mirror.
CHECKINS_URL = "https://snap.stanford.edu/data/loc-gowalla_totalCheckins.txt.gz"
NGCF_URL = "https://raw.githubusercontent.com/xiangwang1223/neural_graph_collaborative_filtering/master/Data/gowalla"
CHECKINS_NAMES = ("loc-gowalla_totalCheckins.txt.gz", "loc-gowalla_totalCheckins.txt")
TIME_FORMAT = "%Y-%m-%dT%H:%M:%SZ"


def load(config: RunConfig) -> RecDataset:
    folder = data_dir_for(config)
    checkins = obtain(config.dataset, folder, CHECKINS_NAMES, CHECKINS_URL)
    users = read_id_list(obtain(config.dataset, folder, ("user_list.txt",), f"{NGCF_URL}/user_list.txt"))
    items = read_id_list(obtain(config.dataset, folder, ("item_list.txt",), f"{NGCF_URL}/item_list.txt"))
    user_ids, item_ids, times = read_checkins(checkins)
    kept = np.isin(user_ids, users) & np.isin(item_ids, items)
    if not kept.any():
        raise ConfigError(f"{checkins}: no check-in of a user of user_list.txt at a location of item_list.txt")
    return split_interactions(config.dataset, user_ids[kept], item_ids[kept], seed=config.seed, times=times[kept])


def read_id_list(path: Path) -> np.ndarray:
    """The original ids (first field) of an NGCF `org_id remap_id` list, under its header line."""
    lines = path.read_text(encoding="latin-1").splitlines()[1:]
    try:
        return np.array([int(line.split()[0]) for line in lines if line.strip()], dtype=np.int64)
    except ValueError:
        raise ConfigError(f"{path}: expected 'org_id remap_id' lines of integers under a header line") from None


def read_checkins(path: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(user, location, unix time) of every check-in of a SNAP Gowalla file, gzip-compressed if it ends in .gz."""
    try:
        frame = pd.read_csv(
            path,
            sep="\t",
            header=None,
            usecols=[0, 1, 4],
            names=["user", "time", "location"],
            dtype={"user": np.int64, "time": str, "location": np.int64},
        )
        times = pd.to_datetime(frame["time"], format=TIME_FORMAT, utc=True)
    except (OSError, EOFError, zlib.error, ValueError, pd.errors.ParserError) as exc:
        raise ConfigError(
            f"{path}: not SNAP's user<TAB>{TIME_FORMAT}<TAB>latitude<TAB>longitude<TAB>location check-ins"
            f" ({' '.join(str(exc).split())[:160]}); delete it so it is fetched again"
        ) from None
    if frame.empty:
        raise ConfigError(f"{path} holds no check-ins")
    seconds = (times - pd.Timestamp(0, tz="UTC")) // pd.Timedelta(seconds=1)
    return frame["user"].to_numpy(), frame["location"].to_numpy(), seconds.to_numpy(dtype=np.int64)
