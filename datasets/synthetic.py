"""A seeded synthetic dataset with popular items and learnable taste, for runs without downloads.

Plain random interactions would leave a recommender nothing to learn, and uniform item choice would
make the least-popular target items of the attacks no less popular than the rest. So interactions come
from a small latent-factor model plus a Zipf-like popularity bias:

- users and items get factors drawn from N(0, 1) in `DIM` dimensions;
- item popularity bias is `-ZIPF_EXPONENT * log(1 + rank)` for a random popularity rank;
- each user draws a count around `synthetic-interactions` (lognormal, at least `MIN_PER_USER`, at most
  half the items, so negatives remain to be sampled) and picks that many distinct items with
  probability proportional to `exp(u.v / TEMPERATURE + bias)`;
- an item nobody drew goes to the user who scores it highest, so all configured items exist.

The defaults give about the skew of MovieLens 1M (the top 10% of items hold 35-45% of interactions),
and a low-rank model on the training data beats the popularity ranking on the test data. Sampling
without replacement uses the Gumbel top-k trick, vectorised over blocks of users, so 6,040 x 3,706 takes
about a second. The 80/20 split per user is `fedrec.data.splits.split_interactions` with `config.seed`.

Timestamps (a random order of each user's interactions) and user profiles come from a second stream of
`seed`, so the interactions and their split are the same as without them. Gender leans on the first
taste factor (about `FEMALE_SHARE` women overall), so a gender group differs mildly in taste, as real
demographic groups do; age buckets follow ML-1M's shares and occupations are a few names at random.
"""

import numpy as np
import pandas as pd

from fedrec.config import RunConfig
from fedrec.data.dataset import RecDataset
from fedrec.data.profiles import profile_frame
from fedrec.data.splits import split_interactions
from fedrec.settings import Setting

SETTINGS = (
    Setting("synthetic-users", int, "Users of the `synthetic` dataset.", minimum=2),
    Setting("synthetic-items", int, "Items of the `synthetic` dataset.", minimum=10),
    Setting("synthetic-interactions", int, "Mean interactions per user of the `synthetic` dataset.", minimum=5),
)

DIM = 6
# sqrt(DIM) / 1.5 makes u.v / TEMPERATURE about N(0, 1.5^2): taste is as strong as the popularity
# spread among the top few hundred items, so neither drowns the other.
TEMPERATURE = np.sqrt(DIM) / 1.5
ZIPF_EXPONENT = 1.0
COUNT_SIGMA = 0.5
MIN_PER_USER = 5
CAPPED_PENALTY = 1e6
# Bounds the users x items block of scores held at once (about 32 MB of float64).
BLOCK_CELLS = 4_000_000

# Timestamps and profiles: a stream of their own, so the interactions do not change with them.
SIDE_STREAM = 0x53494445
FIRST_TIME = 1_000_000_000
FEMALE_SHARE = 0.3
# How strongly gender leans on the first taste factor (0: not at all).
GENDER_TASTE_LINK = 0.8
# ML-1M's age codes (the lower bound of each bucket, 1 for under 18) and about its shares of users.
AGE_CODES = np.array([1, 18, 25, 35, 45, 50, 56])
AGE_SHARES = np.array([0.04, 0.18, 0.35, 0.20, 0.09, 0.08, 0.06])
OCCUPATIONS = ("student", "engineer", "educator", "artist", "other")


def load(config: RunConfig) -> RecDataset:
    num_users, seed = config.synthetic_users, config.seed
    users, items = generate(num_users, config.synthetic_items, config.synthetic_interactions, seed)
    side = np.random.default_rng([seed, SIDE_STREAM])
    times = FIRST_TIME + side.permutation(len(users))
    profiles = draw_profiles(num_users, seed, side)
    return split_interactions(config.dataset, users, items, seed=seed, times=times, profiles=profiles)


def draw_profiles(num_users: int, seed: int, rng: np.random.Generator) -> pd.DataFrame:
    """Profiles of users 0..num_users-1 (the index); gender leans on the taste that `generate(seed)` gave."""
    taste = _user_factors(np.random.default_rng(seed), num_users)[:, 0]
    logit = np.log(FEMALE_SHARE / (1 - FEMALE_SHARE)) + GENDER_TASTE_LINK * taste
    female = rng.random(num_users) < 1 / (1 + np.exp(-logit))
    ages = rng.choice(AGE_CODES, size=num_users, p=AGE_SHARES / AGE_SHARES.sum())
    occupations = np.asarray(OCCUPATIONS)[rng.integers(len(OCCUPATIONS), size=num_users)]
    return profile_frame(np.where(female, "F", "M"), ages, occupations)


def _user_factors(rng: np.random.Generator, num_users: int) -> np.ndarray:
    """The users' taste factors: the first draw of `generate`'s stream."""
    return rng.standard_normal((num_users, DIM))


def generate(num_users: int, num_items: int, mean_per_user: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(user, item) pairs, 0-based, every user and every item present at least once."""
    rng = np.random.default_rng(seed)
    user_factors = _user_factors(rng, num_users)
    item_factors = rng.standard_normal((num_items, DIM))
    bias = -ZIPF_EXPONENT * np.log1p(rng.permutation(num_items))
    cap = max(1, num_items // 2)
    # The -sigma^2/2 shift keeps the lognormal's mean at mean_per_user.
    spread = np.exp(COUNT_SIGMA * rng.standard_normal(num_users) - COUNT_SIGMA**2 / 2)
    counts = np.clip(np.rint(mean_per_user * spread), min(MIN_PER_USER, cap), cap).astype(np.int64)

    picked: list[np.ndarray] = []
    # Per item, the user who scored it highest: the one who gets it if nobody drew it.
    best_score = np.full(num_items, -np.inf)
    best_user = np.zeros(num_items, dtype=np.int64)
    block = max(1, BLOCK_CELLS // num_items)
    for start in range(0, num_users, block):
        stop = min(start + block, num_users)
        # Gumbel top-k: the k largest of logit + Gumbel noise are a draw of k items without replacement.
        scores = user_factors[start:stop] @ item_factors.T / TEMPERATURE + bias
        scores += rng.gumbel(size=scores.shape)
        picked.append(_top_k_per_row(scores, counts[start:stop]))
        # Users already at the cap only take an item when nobody else can (tiny catalogues).
        eligible = scores - CAPPED_PENALTY * (counts[start:stop] >= cap)[:, None]
        row_best = eligible.argmax(axis=0)
        row_score = eligible[row_best, np.arange(num_items)]
        better = row_score > best_score
        best_score[better] = row_score[better]
        best_user[better] = start + row_best[better]

    users = np.repeat(np.arange(num_users), counts)
    items = np.concatenate(picked)
    # Keeps the item count equal to num_items, so item indices are the configured catalogue.
    unseen = np.flatnonzero(np.bincount(items, minlength=num_items) == 0)
    return np.concatenate([users, best_user[unseen]]), np.concatenate([items, unseen])


def _top_k_per_row(scores: np.ndarray, k: np.ndarray) -> np.ndarray:
    """Column indices of the k[r] largest entries of each row r, concatenated row by row."""
    k_max = int(k.max())
    top = np.argpartition(-scores, k_max - 1, axis=1)[:, :k_max]
    order = np.argsort(-np.take_along_axis(scores, top, axis=1), axis=1)
    top = np.take_along_axis(top, order, axis=1)
    return top[np.arange(k_max) < k[:, None]]
