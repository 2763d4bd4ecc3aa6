"""Dataset loaders on small local files in every format, the synthetic generator, and the real data.

No test uses the network: downloads are exercised through file:// URLs to a local "mirror" folder, and
the no-network failure through an address nothing listens on.
"""

import gzip
import hashlib
import json
import zipfile
from pathlib import Path

import numpy as np
import pytest
from scipy.sparse.linalg import svds

from app_config import make_config
from attacks.threat import knowledge_for
from datasets import DATASETS, amazon, data_dir_for, gowalla, load_dataset, movielens
from datasets.movielens import Release
from fedrec.data.dataset import RecDataset
from fedrec.errors import ConfigError

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
UNREACHABLE = "http://127.0.0.1:9"

# Raw (user id, item id) pairs, ids not contiguous; user 20 rates item 7 twice (it must count once).
RAW_PAIRS = [(10, i) for i in range(1, 11)] + [(20, i) for i in (3, 5, 7, 7, 9, 11)] + [(30, i) for i in range(2, 14)]
UNIQUE_PAIRS = sorted(set(RAW_PAIRS))
USER_IDS = sorted({u for u, _ in RAW_PAIRS})
ITEM_IDS = sorted({i for _, i in RAW_PAIRS})


def pairs_of(matrix) -> set[tuple[int, int]]:
    coo = matrix.tocoo()
    return set(zip(coo.row.tolist(), coo.col.tolist()))


def assert_split(dataset: RecDataset) -> None:
    """Train and test disjoint per user, and each user's train share the rounded 80%."""
    for user in range(dataset.num_users):
        train, test = dataset.train_items(user), dataset.test_items(user)
        assert not set(train.tolist()) & set(test.tolist())
        assert len(train) == max(1, int(np.rint(0.8 * (len(train) + len(test)))))


def assert_raw_pairs(dataset: RecDataset) -> None:
    """The dataset holds exactly UNIQUE_PAIRS, ids mapped to indices in increasing id order."""
    assert (dataset.num_users, dataset.num_items) == (len(USER_IDS), len(ITEM_IDS))
    expected = {(USER_IDS.index(u), ITEM_IDS.index(i)) for u, i in UNIQUE_PAIRS}
    assert pairs_of(dataset.train) | pairs_of(dataset.test) == expected
    assert dataset.train.nnz + dataset.test.nnz == len(UNIQUE_PAIRS)
    assert_split(dataset)


def assert_one_line_error(error: pytest.ExceptionInfo, *parts: str) -> None:
    message = str(error.value)
    assert "\n" not in message
    for part in parts:
        assert part in message, f"{part!r} not in {message!r}"


def write_u_data(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    lines = [f"{u}\t{i}\t{1 + (u + i) % 5}\t{880000000 + n}" for n, (u, i) in enumerate(RAW_PAIRS)]
    (folder / "u.data").write_text("\n".join(lines) + "\n")
    return folder / "u.data"


def write_ratings_dat(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    lines = [f"{u}::{i}::{1 + (u + i) % 5}::{970000000 + n}" for n, (u, i) in enumerate(RAW_PAIRS)]
    (folder / "ratings.dat").write_text("\n".join(lines) + "\n")
    return folder / "ratings.dat"


def review_lines() -> list[str]:
    return [
        json.dumps({"overall": 5.0, "reviewerID": f"A{u}X", "asin": f"B{i:04d}", "unixReviewTime": 14e8 + n})
        for n, (u, i) in enumerate(RAW_PAIRS)
    ]


def write_split(folder: Path, train: str, test: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "train.dat").write_text(train)
    (folder / "test.dat").write_text(test)
    return folder


# --- registry and config -------------------------------------------------------------------------


def test_registry_lists_every_dataset_and_rejects_unknown_names() -> None:
    assert DATASETS.names() == [
        "synthetic",
        "ml-100k",
        "ml-1m",
        "amazon-digital-music",
        "split-files",
        "ml-100k-loo",
        "steam",
        "gowalla",
    ]
    with pytest.raises(ConfigError) as error:
        DATASETS.get("nope")
    assert_one_line_error(error, "'nope'", *DATASETS.names())


def test_data_dir_defaults_to_the_per_dataset_cache(tmp_path: Path) -> None:
    assert data_dir_for(make_config(dataset="ml-1m")) == Path.home() / ".cache" / "fedrec-arena" / "ml-1m"
    assert data_dir_for(make_config(dataset="ml-1m", data_dir=str(tmp_path))) == tmp_path


# --- MovieLens ----------------------------------------------------------------------------------


@pytest.mark.parametrize(("dataset", "write"), [("ml-100k", write_u_data), ("ml-1m", write_ratings_dat)])
def test_movielens_ratings_become_deduplicated_positives(tmp_path: Path, dataset: str, write) -> None:
    write(tmp_path)
    loaded = load_dataset(make_config(dataset=dataset, data_dir=str(tmp_path), seed=3))
    assert loaded.name == dataset
    assert_raw_pairs(loaded)


@pytest.mark.parametrize(("dataset", "write"), [("ml-100k", write_u_data), ("ml-1m", write_ratings_dat)])
def test_movielens_split_is_seeded(tmp_path: Path, dataset: str, write) -> None:
    write(tmp_path)
    first, again, other = (
        load_dataset(make_config(dataset=dataset, data_dir=str(tmp_path), seed=seed)) for seed in (1, 1, 2)
    )
    assert pairs_of(first.train) == pairs_of(again.train) and pairs_of(first.test) == pairs_of(again.test)
    assert pairs_of(first.test) != pairs_of(other.test)
    assert pairs_of(first.train) | pairs_of(first.test) == pairs_of(other.train) | pairs_of(other.test)


def test_movielens_finds_the_file_as_unzipped_from_the_archive(tmp_path: Path) -> None:
    write_u_data(tmp_path / "ml-100k")
    assert_raw_pairs(load_dataset(make_config(dataset="ml-100k", data_dir=str(tmp_path))))


def test_ml1m_prefers_the_published_split(tmp_path: Path) -> None:
    write_ratings_dat(tmp_path)
    write_split(tmp_path, "0 0 1 2\n1 2 3\n", "0 3\n1 0\n")
    loaded = load_dataset(make_config(dataset="ml-1m", data_dir=str(tmp_path)))
    assert loaded.name == "ml-1m"
    assert pairs_of(loaded.train) == {(0, 0), (0, 1), (0, 2), (1, 2), (1, 3)}
    assert pairs_of(loaded.test) == {(0, 3), (1, 0)}


def test_random_split_resplits_a_published_split_keeping_every_interaction(tmp_path: Path) -> None:
    write_split(tmp_path, "0 0 1 2 3 4\n1 2 3 4 5 6 7\n", "0 5 6 7 8 9\n1 0 1 8\n")
    published = load_dataset(make_config(dataset="ml-1m", data_dir=str(tmp_path)))
    resplit = [
        load_dataset(make_config(dataset="ml-1m", data_dir=str(tmp_path), split="random", seed=s)) for s in (1, 1, 2)
    ]
    everything = pairs_of(published.train) | pairs_of(published.test)
    for loaded in resplit:
        assert pairs_of(loaded.train) | pairs_of(loaded.test) == everything
        assert not pairs_of(loaded.train) & pairs_of(loaded.test)
        assert [len(loaded.train_items(u)) for u in (0, 1)] == [8, 7]  # round(0.8 * 10), round(0.8 * 9)
    assert pairs_of(resplit[0].test) == pairs_of(resplit[1].test) != pairs_of(resplit[2].test)
    assert pairs_of(resplit[0].test) != pairs_of(published.test)


def test_random_split_of_a_randomly_split_dataset_is_the_same_split(tmp_path: Path) -> None:
    write_u_data(tmp_path)
    loaded = {
        split: load_dataset(make_config(dataset="ml-100k", data_dir=str(tmp_path), split=split))
        for split in ("published", "random")
    }
    assert pairs_of(loaded["random"].train) == pairs_of(loaded["published"].train)
    assert pairs_of(loaded["random"].test) == pairs_of(loaded["published"].test)


@pytest.mark.parametrize(
    ("content", "where"),
    [
        ("1\t2\t3\t4\n1\tx\t3\t4\n", "line 2"),
        ("1\t2\t3\t4\n\n1\t3\t3\t4\n7\n", "line 4"),
        ("1\t2\t3\t4\n1\t2.5\t3\t4\n", "line 2"),
    ],
)
def test_malformed_u_data_names_file_and_line(tmp_path: Path, content: str, where: str) -> None:
    (tmp_path / "u.data").write_text(content)
    with pytest.raises(ConfigError) as error:
        load_dataset(make_config(dataset="ml-100k", data_dir=str(tmp_path)))
    assert_one_line_error(error, str(tmp_path / "u.data"), where)


def test_malformed_ratings_dat_names_file_and_line(tmp_path: Path) -> None:
    (tmp_path / "ratings.dat").write_text("1::2::3::4\n1::2::3::4\nabc::2::3::4\n")
    with pytest.raises(ConfigError) as error:
        load_dataset(make_config(dataset="ml-1m", data_dir=str(tmp_path)))
    assert_one_line_error(error, str(tmp_path / "ratings.dat"), "line 3", "'abc'")


@pytest.mark.parametrize(("dataset", "file"), [("ml-100k", "u.data"), ("ml-1m", "ratings.dat")])
def test_movielens_missing_file_without_network(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, dataset: str, file: str
) -> None:
    monkeypatch.setattr(movielens, "GROUPLENS_URL", UNREACHABLE)
    with pytest.raises(ConfigError) as error:
        load_dataset(make_config(dataset=dataset, data_dir=str(tmp_path)))
    assert_one_line_error(error, str(tmp_path / file), f"{UNREACHABLE}/{dataset}.zip", "data-dir", "unzip")
    if dataset == "ml-1m":
        assert "train.dat and test.dat" in str(error.value)
    assert list(tmp_path.iterdir()) == []  # no partial download left behind


def make_mirror(tmp_path: Path) -> tuple[Path, str]:
    """A folder laid out like the GroupLens site, holding an ml-100k.zip of RAW_PAIRS; and its MD5."""
    source = write_u_data(tmp_path / "source" / "ml-100k")
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    with zipfile.ZipFile(mirror / "ml-100k.zip", "w") as archive:
        archive.write(source, "ml-100k/u.data")
    return mirror, hashlib.md5((mirror / "ml-100k.zip").read_bytes()).hexdigest()


def test_download_verifies_and_extracts_into_the_data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    mirror, md5 = make_mirror(tmp_path)
    monkeypatch.setattr(movielens, "GROUPLENS_URL", mirror.as_uri())
    cache = tmp_path / "cache"
    config = make_config(dataset="ml-100k", data_dir=str(cache))
    assert_raw_pairs(movielens.load_release(Release("ml-100k", "u.data", "\t", md5), config))
    assert (cache / "ml-100k.zip").is_file() and (cache / "ml-100k" / "u.data").is_file()
    # Second load reads the extracted copy: the mirror is no longer needed.
    (mirror / "ml-100k.zip").unlink()
    assert_raw_pairs(movielens.load_release(Release("ml-100k", "u.data", "\t", md5), config))


def test_download_with_wrong_checksum_is_rejected(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    mirror, _ = make_mirror(tmp_path)
    monkeypatch.setattr(movielens, "GROUPLENS_URL", mirror.as_uri())
    cache = tmp_path / "cache"
    with pytest.raises(ConfigError) as error:
        load_dataset(make_config(dataset="ml-100k", data_dir=str(cache)))
    assert_one_line_error(error, "MD5", movielens.ML100K.md5, "data-dir")
    assert list(cache.iterdir()) == []


def test_archive_already_in_the_data_dir_is_extracted(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    mirror, md5 = make_mirror(tmp_path)
    monkeypatch.setattr(movielens, "GROUPLENS_URL", UNREACHABLE)
    config = make_config(dataset="ml-100k", data_dir=str(mirror))
    assert_raw_pairs(movielens.load_release(Release("ml-100k", "u.data", "\t", md5), config))


# --- split files --------------------------------------------------------------------------------


def test_split_files_are_used_as_given(tmp_path: Path) -> None:
    # User 1 has no items at all; user 3 is listed (with nothing) only at the end of test.dat.
    write_split(tmp_path, "0 0 1 2 3\n1\n2 4 4 0\n", "0 5\n2 1\n\n3\n")
    loaded = load_dataset(make_config(dataset="split-files", data_dir=str(tmp_path)))
    assert (loaded.num_users, loaded.num_items) == (4, 6)
    assert pairs_of(loaded.train) == {(0, 0), (0, 1), (0, 2), (0, 3), (2, 4), (2, 0)}
    assert pairs_of(loaded.test) == {(0, 5), (2, 1)}
    assert loaded.train_items(1).size == 0 and loaded.test_items(3).size == 0
    assert loaded.name == "split-files"


def test_missing_split_files_name_the_paths(tmp_path: Path) -> None:
    (tmp_path / "train.dat").write_text("0 1\n")
    with pytest.raises(ConfigError) as error:
        load_dataset(make_config(dataset="split-files", data_dir=str(tmp_path)))
    assert_one_line_error(error, str(tmp_path / "test.dat"), "data-dir")
    assert str(tmp_path / "train.dat") not in str(error.value)


@pytest.mark.parametrize(("train", "where"), [("0 1 2\n1 3 x\n", "line 2"), ("0 1\n\n\n2 -4\n", "line 4")])
def test_malformed_split_file_names_file_and_line(tmp_path: Path, train: str, where: str) -> None:
    write_split(tmp_path, train, "0 0\n")
    with pytest.raises(ConfigError) as error:
        load_dataset(make_config(dataset="split-files", data_dir=str(tmp_path)))
    assert_one_line_error(error, str(tmp_path / "train.dat"), where)


# --- FedRecAttack's leave-one-out files --------------------------------------------------------------


def write_leave_one_out(folder: Path) -> Path:
    """Three users; the part files hold 1 of each user's items (`part-1%`) and all of them (`part-50%`)."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "train.txt").write_text("0 0 1 2\n1 3\n2 1 4\n")
    (folder / "test.txt").write_text("0 5\n1 0\n2 2\n")
    (folder / "train.part-1%.txt").write_text("0 2\n1 3\n2 4\n")
    (folder / "train.part-50%.txt").write_text("0 2 0\n1 3\n2 4 1\n")
    return folder


@pytest.mark.parametrize("dataset", ["ml-100k-loo", "steam"])
def test_leave_one_out_files_load_with_their_public_parts(tmp_path: Path, dataset: str) -> None:
    loaded = load_dataset(make_config(dataset=dataset, data_dir=str(write_leave_one_out(tmp_path))))
    assert (loaded.num_users, loaded.num_items) == (3, 6)
    assert pairs_of(loaded.train) == {(0, 0), (0, 1), (0, 2), (1, 3), (2, 1), (2, 4)}
    assert pairs_of(loaded.test) == {(0, 5), (1, 0), (2, 2)}
    assert sorted(loaded.public_parts) == [1, 50]
    assert pairs_of(loaded.public_parts[1]) == {(0, 2), (1, 3), (2, 4)}
    # A user subset keeps its rows of every part.
    assert pairs_of(loaded.subset_users(np.array([0, 2])).public_parts[50]) == {(0, 2), (0, 0), (1, 4), (1, 1)}


def test_public_interactions_come_from_the_part_file_of_the_public_fraction(tmp_path: Path) -> None:
    folder = write_leave_one_out(tmp_path)
    config = make_config(dataset="ml-100k-loo", data_dir=str(folder), attacker_knowledge="public-interactions")
    loaded = load_dataset(config)
    assert knowledge_for(config, loaded).public_interactions is loaded.public_parts[1]
    half = make_config(config.as_dict(), public_fraction=0.5)
    assert knowledge_for(half, loaded).public_interactions is loaded.public_parts[50]
    # No file for 30%: drawn from the training interactions as for any dataset.
    drawn = knowledge_for(make_config(config.as_dict(), public_fraction=0.3), loaded).public_interactions
    assert pairs_of(drawn) <= pairs_of(loaded.train)
    # A random re-split drops the parts (they were drawn from the published split's training items).
    assert load_dataset(make_config(config.as_dict(), split="random")).public_parts == {}


@pytest.mark.parametrize(
    ("name", "content", "parts"),
    [
        ("test.txt", None, (str(Path("test.txt")), "data-dir")),
        ("train.part-1%.txt", "0 5\n", ("train.part-1%.txt", "train.txt does not have")),
        ("train.part-1%.txt", "7 1\n", ("train.part-1%.txt", "beyond")),
    ],
)
def test_bad_leave_one_out_files_are_named(tmp_path: Path, name: str, content: str | None, parts: tuple) -> None:
    folder = write_leave_one_out(tmp_path)
    if content is None:
        (folder / name).unlink()
    else:
        (folder / name).write_text(content)
    with pytest.raises(ConfigError) as error:
        load_dataset(make_config(dataset="steam", data_dir=str(folder)))
    assert_one_line_error(error, *parts)


# --- Gowalla ------------------------------------------------------------------------------------

# (user, ISO time, location): user 7 is outside the 10-core user list, location 99 outside the item list;
# user 1 checks in at location 20 twice (it counts once, at its earliest time).
CHECKINS = [
    (1, "2010-10-19T23:55:27Z", 20),
    (1, "2010-10-18T22:17:43Z", 21),
    (1, "2010-10-20T10:00:00Z", 20),
    (2, "2010-10-17T08:00:00Z", 21),
    (2, "2010-10-17T09:00:00Z", 99),
    (7, "2010-10-16T08:00:00Z", 20),
    (2, "2010-10-17T07:00:00Z", 22),
]


def make_gowalla_mirror(tmp_path: Path) -> Path:
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    lines = [f"{user}\t{time}\t30.2\t-97.7\t{location}" for user, time, location in CHECKINS]
    (mirror / "loc-gowalla_totalCheckins.txt.gz").write_bytes(gzip.compress(("\n".join(lines) + "\n").encode()))
    (mirror / "user_list.txt").write_text("org_id remap_id\n1 0\n2 1\n")
    (mirror / "item_list.txt").write_text("org_id remap_id\n20 0\n21 1\n22 2\n")
    return mirror


def test_gowalla_downloads_and_keeps_the_10_core_check_ins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    mirror = make_gowalla_mirror(tmp_path)
    monkeypatch.setattr(gowalla, "CHECKINS_URL", (mirror / "loc-gowalla_totalCheckins.txt.gz").as_uri())
    monkeypatch.setattr(gowalla, "NGCF_URL", mirror.as_uri())
    cache = tmp_path / "cache"
    config = make_config(dataset="gowalla", data_dir=str(cache), split="leave-last-out")
    loaded = load_dataset(config)
    assert sorted(path.name for path in cache.iterdir()) == [
        "item_list.txt",
        "loc-gowalla_totalCheckins.txt.gz",
        "user_list.txt",
    ]
    # Users 1, 2 -> 0, 1; locations 20, 21, 22 -> 0, 1, 2. Latest: user 1 at 20 (its first visit, on the 19th).
    assert pairs_of(loaded.train) == {(0, 1), (1, 2)}
    assert pairs_of(loaded.test) == {(0, 0), (1, 1)}
    first_visit = loaded.events[(loaded.events["user"] == 0) & (loaded.events["item"] == 0)]["time"]
    assert first_visit.tolist() == [1287532527]  # 2010-10-19T23:55:27Z
    (mirror / "user_list.txt").unlink()  # a second load reads the cached copies
    assert pairs_of(load_dataset(config).test) == {(0, 0), (1, 1)}


def test_gowalla_without_network_or_with_a_damaged_file_says_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(gowalla, "CHECKINS_URL", f"{UNREACHABLE}/loc-gowalla_totalCheckins.txt.gz")
    with pytest.raises(ConfigError) as error:
        load_dataset(make_config(dataset="gowalla", data_dir=str(tmp_path / "empty")))
    assert_one_line_error(error, "loc-gowalla_totalCheckins.txt", UNREACHABLE, "data-dir")
    folder = make_gowalla_mirror(tmp_path)
    (folder / "loc-gowalla_totalCheckins.txt.gz").write_bytes(b"not gzip at all")
    with pytest.raises(ConfigError) as error:
        load_dataset(make_config(dataset="gowalla", data_dir=str(folder)))
    assert_one_line_error(error, "loc-gowalla_totalCheckins.txt.gz", "fetched again")


# --- Amazon -------------------------------------------------------------------------------------


@pytest.mark.parametrize("compressed", [True, False])
def test_amazon_reviews_become_deduplicated_positives(tmp_path: Path, compressed: bool) -> None:
    text = "\n".join(review_lines()) + "\n"
    if compressed:
        with gzip.open(tmp_path / "Digital_Music_5.json.gz", "wt") as stream:
            stream.write(text)
    else:
        (tmp_path / "Digital_Music_5.json").write_text(text)
    first, again, other = (
        load_dataset(make_config(dataset="amazon-digital-music", data_dir=str(tmp_path), seed=seed))
        for seed in (5, 5, 6)
    )
    # String ids sort like the numbers here ("A10X" < "A20X" < "A30X", zero-padded asins).
    assert_raw_pairs(first)
    assert pairs_of(first.test) == pairs_of(again.test) and pairs_of(first.test) != pairs_of(other.test)


@pytest.mark.parametrize(("bad_line", "reason"), [("{not json", "not a JSON object"), ('{"asin": "B1"}', "reviewerID")])
def test_malformed_amazon_review_names_file_and_line(tmp_path: Path, bad_line: str, reason: str) -> None:
    lines = review_lines()
    lines[4] = bad_line
    (tmp_path / "Digital_Music_5.json").write_text("\n".join(lines) + "\n")
    with pytest.raises(ConfigError) as error:
        load_dataset(make_config(dataset="amazon-digital-music", data_dir=str(tmp_path)))
    assert_one_line_error(error, str(tmp_path / "Digital_Music_5.json"), "line 5", reason)


def test_truncated_amazon_download_is_reported(tmp_path: Path) -> None:
    with gzip.open(tmp_path / "full.gz", "wt") as stream:
        stream.write("\n".join(review_lines()) + "\n")
    (tmp_path / "Digital_Music_5.json.gz").write_bytes((tmp_path / "full.gz").read_bytes()[:-20])
    with pytest.raises(ConfigError) as error:
        load_dataset(make_config(dataset="amazon-digital-music", data_dir=str(tmp_path)))
    assert_one_line_error(error, str(tmp_path / "Digital_Music_5.json.gz"))


def test_amazon_missing_file_without_network(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    url = f"{UNREACHABLE}/Digital_Music_5.json.gz"
    monkeypatch.setattr(amazon, "DIGITAL_MUSIC_URL", url)
    with pytest.raises(ConfigError) as error:
        load_dataset(make_config(dataset="amazon-digital-music", data_dir=str(tmp_path)))
    assert_one_line_error(error, str(tmp_path / "Digital_Music_5.json.gz"), url, "data-dir")
    assert list(tmp_path.iterdir()) == []


# --- synthetic ----------------------------------------------------------------------------------


def synthetic(**overrides) -> RecDataset:
    return load_dataset(make_config(dataset="synthetic", **overrides))


def test_synthetic_is_deterministic_and_sized_as_configured() -> None:
    first, again, other = synthetic(seed=7), synthetic(seed=7), synthetic(seed=8)
    config = make_config()
    assert (first.num_users, first.num_items) == (config.synthetic_users, config.synthetic_items)
    assert (first.train != again.train).nnz == 0 and (first.test != again.test).nnz == 0
    assert pairs_of(first.train) != pairs_of(other.train)
    assert_split(first)
    per_user = np.diff(first.train.indptr) + np.diff(first.test.indptr)
    assert per_user.min() >= 5
    assert abs(per_user.mean() - config.synthetic_interactions) < 0.15 * config.synthetic_interactions


def test_synthetic_tiny_catalogue_keeps_every_item() -> None:
    loaded = synthetic(synthetic_users=3, synthetic_items=10, synthetic_interactions=5)
    assert (loaded.num_users, loaded.num_items) == (3, 10)
    assert (np.diff(loaded.train.indptr) + np.diff(loaded.test.indptr)).min() >= 5


def test_synthetic_item_popularity_is_skewed() -> None:
    popularity = np.sort(synthetic().item_popularity())[::-1]
    top_tenth = popularity[: len(popularity) // 10].sum() / popularity.sum()
    assert top_tenth > 0.30
    assert popularity[-1] < 0.1 * popularity[0]


def recall_at_20(scores: np.ndarray, dataset: RecDataset) -> float:
    scores = np.where(dataset.train.toarray() > 0, -np.inf, scores)
    top = np.argpartition(-scores, 20, axis=1)[:, :20]
    test = dataset.test.toarray()
    return float((np.take_along_axis(test, top, axis=1).sum(axis=1) / np.maximum(1, test.sum(axis=1))).mean())


def test_synthetic_has_structure_beyond_popularity() -> None:
    dataset = synthetic(seed=11)
    train = dataset.train.astype(np.float64)
    left, values, right = svds(train, k=8)
    low_rank = recall_at_20((left * values) @ right, dataset)
    popular = recall_at_20(np.broadcast_to(np.asarray(train.sum(axis=0)), dataset.train.shape), dataset)
    assert low_rank > 1.15 * popular


# --- real data (skipped where the shared copies are absent) ----------------------------------------


def test_real_ml100k() -> None:
    folder = SHARED_DATA / "ml-100k"
    if not (folder / "u.data").is_file():
        pytest.skip(f"no {folder / 'u.data'}")
    loaded = load_dataset(make_config(dataset="ml-100k", data_dir=str(folder)))
    assert (loaded.num_users, loaded.num_items) == (943, 1682)
    assert loaded.train.nnz + loaded.test.nnz == 100_000
    assert_split(loaded)


@pytest.mark.parametrize(
    ("name", "shape", "train"), [("ml-100k-loo", (943, 1682), 99_056), ("steam", (3753, 5134), 110_960)]
)
def test_real_fedrecattack_splits(name: str, shape: tuple[int, int], train: int) -> None:
    folder = SHARED_DATA / name
    if not (folder / "train.txt").is_file():
        pytest.skip(f"no {folder / 'train.txt'}")
    loaded = load_dataset(make_config(dataset=name, data_dir=str(folder)))
    assert (loaded.num_users, loaded.num_items) == shape
    assert (loaded.train.nnz, loaded.test.nnz) == (train, shape[0])
    assert (
        1 in loaded.public_parts and (loaded.public_parts[1].multiply(loaded.train)).nnz == loaded.public_parts[1].nnz
    )


def test_real_ml1m_published_split() -> None:
    folder = SHARED_DATA / "ml-1m"
    if not (folder / "train.dat").is_file() or not (folder / "test.dat").is_file():
        pytest.skip(f"no train.dat/test.dat in {folder}")
    loaded = load_dataset(make_config(dataset="ml-1m", data_dir=str(folder)))
    assert (loaded.num_users, loaded.num_items) == (6040, 3706)
    assert (loaded.train.nnz, loaded.test.nnz) == (802_552, 197_656)
    assert (loaded.train.multiply(loaded.test)).nnz == 0
