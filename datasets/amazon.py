"""Amazon Digital Music reviews (McAuley lab, 2018 release, 5-core), as implicit feedback.

The 5-core file keeps users and items with at least 5 reviews each: 169,781 reviews by 16,566 users of
11,797 items. Each review is one positive interaction (its star rating is ignored, as for MovieLens);
string ids (`reviewerID`, `asin`) are mapped to 0-based indices and each user's items are split 80/20
with `config.seed`.

Each review's `unixReviewTime` becomes the interaction's timestamp (the dataset's `events`) when every
review has one; the file has no user profiles.

The data dir may hold `Digital_Music_5.json.gz` as published or the uncompressed `Digital_Music_5.json`
(one JSON object per line). If neither is there, the gzip file is downloaded into the data dir. The
publisher gives no checksum for it, so none is checked; the downloaded size is logged instead, and a
truncated or damaged download fails while parsing with the file and line named.
"""

import gzip
import json
import math
import zlib
from pathlib import Path
from typing import IO

import numpy as np

from datasets.download import data_dir_for, obtain
from fedrec.config import RunConfig
from fedrec.data.dataset import RecDataset
from fedrec.data.splits import split_interactions
from fedrec.errors import ConfigError

# Read at call time, so a test can point it at an unreachable address.
DIGITAL_MUSIC_URL = "https://jmcauley.ucsd.edu/data/amazon_v2/categoryFilesSmall/Digital_Music_5.json.gz"
FILE_NAMES = ("Digital_Music_5.json.gz", "Digital_Music_5.json")


def load(config: RunConfig) -> RecDataset:
    path = obtain(config.dataset, data_dir_for(config), FILE_NAMES, DIGITAL_MUSIC_URL)
    users, items, times = read_reviews(path)
    return split_interactions(config.dataset, users, items, seed=config.seed, times=times)


def read_reviews(path: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """(reviewerID, asin, unixReviewTime) of every review in a JSON-lines file, gzip-compressed if it
    ends in `.gz`; the times are None unless every review has one."""
    users: list[str] = []
    items: list[str] = []
    times: list[int] | None = []
    number = 0
    try:
        with _open_text(path) as lines:
            for number, line in enumerate(lines, start=1):  # noqa: B007 (the except clause names the line)
                if not line.strip():
                    continue
                review = json.loads(line)
                users.append(str(review["reviewerID"]))
                items.append(str(review["asin"]))
                times = _with_time(times, review.get("unixReviewTime"))
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{path} line {number}: not a JSON object ({exc.msg})") from None
    except (KeyError, TypeError):
        raise ConfigError(f"{path} line {number}: a review needs 'reviewerID' and 'asin' fields") from None
    except (OSError, EOFError, zlib.error, UnicodeDecodeError) as exc:
        reason = " ".join(str(exc).split())
        raise ConfigError(
            f"{path}: unreadable after line {number} ({reason}); delete it so it is fetched again"
        ) from None
    if not users:
        raise ConfigError(f"{path} holds no reviews")
    return np.asarray(users), np.asarray(items), None if times is None else np.asarray(times, dtype=np.int64)


def _with_time(times: list[int] | None, value: object) -> list[int] | None:
    """`times` with one more review's time; None from the first review without a usable one on."""
    if times is None or isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return None
    times.append(int(value))
    return times


def _open_text(path: Path) -> IO[str]:
    if path.suffix == ".gz":
        return gzip.open(path, "rt", encoding="utf-8")
    return path.open(encoding="utf-8")
