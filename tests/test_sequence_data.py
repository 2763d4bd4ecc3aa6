"""Sequential data: events and profiles of a dataset, the chronological split, user subsets and groups."""

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from app_config import make_config
from datasets import load_dataset, synthetic
from fedrec.data.dataset import RecDataset, make_events
from fedrec.data.profiles import AGE_BUCKETS, UserGroup, age_buckets, profile_frame
from fedrec.data.splits import leave_last_out, provider_split, resplit, split_interactions
from fedrec.errors import ConfigError


def assert_one_line_error(error: pytest.ExceptionInfo, *parts: str) -> None:
    message = str(error.value)
    assert "\n" not in message
    for part in parts:
        assert part in message, f"{part!r} not in {message!r}"


def pairs_of(matrix) -> set[tuple[int, int]]:
    coo = matrix.tocoo()
    return set(zip(coo.row.tolist(), coo.col.tolist()))


# --- a tiny hand-built dataset -------------------------------------------------------------------

# (user, item, time). User 0: items 3 and 7 tie at the latest time (7, the larger id, is last) and
# item 5 appears twice (its earliest time, 10, counts). User 1 has one interaction. User 2's rows are
# out of time order.
TINY_EVENTS = [(0, 5, 10), (0, 3, 20), (0, 7, 20), (0, 5, 30), (1, 2, 5), (2, 1, 3), (2, 4, 1), (2, 6, 2)]


def tiny(with_events: bool = True) -> RecDataset:
    users, items, times = (np.array(column) for column in zip(*TINY_EVENTS))
    dataset = RecDataset.from_split("tiny", (users, items), (np.zeros(0, np.int64), np.zeros(0, np.int64)))
    profiles = profile_frame(np.array(["F", "M", "F"]), np.array([20, 30, 60]), np.array(["a", "b", "c"]))
    return replace(dataset, events=make_events(users, items, times) if with_events else None, profiles=profiles)


def test_events_hold_one_row_per_pair_at_its_earliest_time_in_chronological_order() -> None:
    events = tiny().events
    assert list(events.columns) == ["user", "item", "time"]
    assert all(events[column].dtype == np.int64 for column in events.columns)
    assert list(events.itertuples(index=False, name=None)) == [
        (0, 5, 10),
        (0, 3, 20),
        (0, 7, 20),
        (1, 2, 5),
        (2, 4, 1),
        (2, 6, 2),
        (2, 1, 3),
    ]


def test_leave_last_out_tests_each_users_latest_item_ties_broken_by_the_larger_item() -> None:
    dataset = tiny()
    split = leave_last_out(dataset)
    assert pairs_of(split.test) == {(0, 7), (2, 1)}
    assert pairs_of(split.train) == {(0, 5), (0, 3), (1, 2), (2, 4), (2, 6)}
    assert split.test_items(1).size == 0  # one interaction: kept for training
    assert (split.num_users, split.num_items) == (3, 8)
    assert split.events is dataset.events and split.profiles is dataset.profiles


def test_train_sequence_is_chronological_with_ties_by_item_id() -> None:
    dataset = tiny()
    assert [dataset.train_sequence(user).tolist() for user in range(3)] == [[5, 3, 7], [2], [4, 6, 1]]
    split = leave_last_out(dataset)
    assert [split.train_sequence(user).tolist() for user in range(3)] == [[5, 3], [2], [4, 6]]


def test_sequence_operations_need_events() -> None:
    dataset = tiny(with_events=False)
    with pytest.raises(ValueError, match="timestamps"):
        dataset.train_sequence(0)
    with pytest.raises(ValueError, match="timestamps"):
        leave_last_out(dataset)


def test_resplit_keeps_events_and_profiles() -> None:
    dataset = tiny()
    again = resplit(dataset, seed=3)
    assert again.events is dataset.events and again.profiles is dataset.profiles
    # The chronological split only depends on the events, not on the split it starts from.
    assert pairs_of(leave_last_out(again).test) == pairs_of(leave_last_out(dataset).test)
    assert sorted(again.train_sequence(2).tolist()) == again.train_items(2).tolist()


def test_events_must_match_the_interactions() -> None:
    dataset = tiny()
    with pytest.raises(ValueError, match="events"):
        replace(dataset, events=dataset.events.iloc[:3])
    with pytest.raises(ValueError, match="profiles"):
        replace(dataset, profiles=dataset.profiles.iloc[:2])


def test_subset_users_reindexes_users_and_keeps_items() -> None:
    dataset = leave_last_out(tiny())
    subset = dataset.subset_users(np.array([0, 2]))
    assert (subset.num_users, subset.num_items) == (2, dataset.num_items)
    assert subset.train_items(1).tolist() == dataset.train_items(2).tolist()
    assert subset.test_items(1).tolist() == [1]
    assert subset.train_sequence(1).tolist() == [4, 6]
    assert sorted(subset.events["user"].unique().tolist()) == [0, 1]
    assert len(subset.events) == subset.train.nnz + subset.test.nnz == 6
    assert subset.profiles["occupation"].tolist() == ["a", "c"]
    assert subset.profiles.index.tolist() == [0, 1]
    for rows in ([2, 0], [0, 0], [3]):
        with pytest.raises(ValueError, match="sorted unique"):
            dataset.subset_users(np.array(rows))


# --- user groups and the provider split ------------------------------------------------------------


def test_user_group_parses_attribute_equals_value() -> None:
    assert UserGroup.parse("target-group", "") is None
    assert UserGroup.parse("target-group", " gender = f ") == UserGroup("gender", "F")
    assert str(UserGroup.parse("target-group", "age=18-24")) == "age=18-24"
    assert UserGroup.parse("target-group", "occupation=college/grad student") == UserGroup(
        "occupation", "college/grad student"
    )
    assert make_config(target_group="gender=F").target_group == UserGroup("gender", "F")


@pytest.mark.parametrize(
    ("text", "fragments"),
    [
        ("gender", ["attribute=value", "gender, age, occupation"]),
        ("height=180", ["attribute=value", "gender, age, occupation"]),
        ("gender=", ["attribute=value"]),
        ("gender=X", ["M"]),
        ("age=30", ["<18", "56+"]),
    ],
)
def test_user_group_rejects_bad_values_naming_key_and_value(text: str, fragments: list[str]) -> None:
    with pytest.raises(ConfigError) as error:
        make_config(target_group=text)
    assert_one_line_error(error, "'target-group'", repr(text), *fragments)


def test_user_group_members_and_unknown_values() -> None:
    profiles = tiny().profiles
    assert UserGroup("gender", "F").members(profiles).tolist() == [True, False, True]
    assert UserGroup("age", "56+").members(profiles).tolist() == [False, False, True]
    with pytest.raises(ConfigError) as error:
        UserGroup("occupation", "pilot").members(profiles)
    assert_one_line_error(error, "occupation=pilot", "a, b, c")


def test_age_buckets_follow_ml1m() -> None:
    assert age_buckets(np.array([1, 17, 18, 24, 25, 34, 35, 44, 45, 49, 50, 55, 56, 73])).tolist() == [
        "<18",
        "<18",
        "18-24",
        "18-24",
        "25-34",
        "25-34",
        "35-44",
        "35-44",
        "45-49",
        "45-49",
        "50-55",
        "50-55",
        "56+",
        "56+",
    ]
    assert set(AGE_BUCKETS) == {"<18", "18-24", "25-34", "35-44", "45-49", "50-55", "56+"}


def group_profiles(num_users: int = 101, women: int = 31) -> pd.DataFrame:
    genders = np.array(["F"] * women + ["M"] * (num_users - women))[np.random.default_rng(0).permutation(num_users)]
    return profile_frame(genders, np.full(num_users, 30), np.full(num_users, "x"))


def test_provider_split_is_a_disjoint_cover_stratified_by_the_group() -> None:
    profiles, group = group_profiles(), UserGroup("gender", "F")
    provider, federation = provider_split(101, profiles, group, 0.3, seed=4)
    assert np.all(np.diff(provider) > 0) and np.all(np.diff(federation) > 0)
    assert not set(provider.tolist()) & set(federation.tolist())
    assert sorted(provider.tolist() + federation.tolist()) == list(range(101))
    women = group.members(profiles)
    assert women[provider].sum() == round(0.3 * 31) and (~women[provider]).sum() == round(0.3 * 70)


def test_provider_split_is_seeded() -> None:
    profiles, group = group_profiles(), UserGroup("gender", "F")
    first, again, other = (provider_split(101, profiles, group, 0.5, seed) for seed in (1, 1, 2))
    assert all(np.array_equal(a, b) for a, b in zip(first, again))
    assert not np.array_equal(first[0], other[0])
    unstratified = provider_split(101, None, None, 0.5, seed=1)
    assert len(unstratified[0]) == round(0.5 * 101)


# --- through load_dataset ----------------------------------------------------------------------------


def test_synthetic_has_events_and_profiles_and_the_same_split_as_before() -> None:
    config = make_config()
    loaded = load_dataset(config)
    users, items = synthetic.generate(
        config.synthetic_users, config.synthetic_items, config.synthetic_interactions, config.seed
    )
    before = split_interactions("synthetic", users, items, seed=config.seed)
    assert (loaded.train != before.train).nnz == 0 and (loaded.test != before.test).nnz == 0
    assert loaded.train.indices.tolist() == before.train.indices.tolist()
    assert len(loaded.events) == loaded.train.nnz + loaded.test.nnz
    assert loaded.profiles.shape == (config.synthetic_users, 3)
    assert set(loaded.profiles["gender"]) == {"F", "M"} and set(loaded.profiles["age"]) <= set(AGE_BUCKETS)
    assert 0.15 < (loaded.profiles["gender"] == "F").mean() < 0.45
    chronological = leave_last_out(loaded)
    assert np.all(np.diff(chronological.test.indptr) == 1)


def test_synthetic_user_share_splits_the_users_stratified_by_the_target_group() -> None:
    common = {"target_group": "gender=F", "provider_fraction": 0.25}
    everyone = load_dataset(make_config(**common))
    provider = load_dataset(make_config(user_share="provider", **common))
    federation = load_dataset(make_config(user_share="federation", **common))
    rows = provider_split(everyone.num_users, everyone.profiles, UserGroup("gender", "F"), 0.25, make_config().seed)
    assert (provider.num_users, federation.num_users) == (len(rows[0]), len(rows[1]))
    assert provider.num_users + federation.num_users == everyone.num_users
    assert provider.num_items == federation.num_items == everyone.num_items
    assert provider.train_items(0).tolist() == everyone.train_items(int(rows[0][0])).tolist()
    assert provider.profiles.equals(everyone.profiles.iloc[rows[0]].reset_index(drop=True))
    women = (everyone.profiles["gender"] == "F").sum()
    assert (provider.profiles["gender"] == "F").sum() == round(0.25 * women)


@pytest.mark.parametrize("fraction", [0.0, 1.0])
def test_provider_fraction_is_strictly_between_0_and_1(fraction: float) -> None:
    with pytest.raises(ConfigError) as error:
        make_config(provider_fraction=fraction)
    assert_one_line_error(error, "'provider-fraction'", "> 0 and < 1")


def test_a_config_with_an_empty_target_group_round_trips_through_its_record() -> None:
    config = make_config()
    assert config.as_dict()["target-group"] == ""
    assert make_config(config.as_dict()) == config


def write_split(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "train.dat").write_text("0 0 1 2\n1 2 3\n")
    (folder / "test.dat").write_text("0 3\n1 0\n")
    return folder


def test_leave_last_out_without_timestamps_names_the_datasets_that_have_them(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as error:
        load_dataset(make_config(dataset="split-files", data_dir=str(write_split(tmp_path)), split="leave-last-out"))
    assert_one_line_error(error, "'leave-last-out'", "split-files", "synthetic, ml-100k", "ratings.dat")


def test_target_group_without_profiles_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as error:
        load_dataset(make_config(dataset="split-files", data_dir=str(write_split(tmp_path)), target_group="gender=F"))
    assert_one_line_error(error, "'target-group'", "gender=F", "profiles", "split-files")
    # Without a group, a provider share needs no profiles.
    assert (
        load_dataset(make_config(dataset="split-files", data_dir=str(tmp_path), user_share="provider")).num_users == 1
    )


def test_a_target_group_nobody_is_in_lists_the_observed_values() -> None:
    with pytest.raises(ConfigError) as error:
        load_dataset(make_config(target_group="occupation=pilot"))
    assert_one_line_error(error, "'target-group'", "occupation=pilot", "student", "engineer")


def test_ml1m_ratings_dat_gives_events_and_maps_users_dat_by_user_id(tmp_path: Path) -> None:
    # Raw ids 10, 20, 30 become users 0, 1, 2; users.dat lists them out of order, plus one without ratings.
    ratings = [(20, 5, 300), (10, 1, 100), (10, 2, 100), (30, 9, 50), (20, 7, 200), (10, 3, 90), (30, 1, 60)]
    (tmp_path / "ratings.dat").write_text("".join(f"{u}::{i}::4::{t}\n" for u, i, t in ratings))
    (tmp_path / "users.dat").write_text("30::M::56::13::1\n10::F::1::10::2\n99::M::25::0::3\n20::M::25::4::4\n")
    loaded = load_dataset(make_config(dataset="ml-1m", data_dir=str(tmp_path), split="leave-last-out"))
    assert loaded.profiles.to_dict("list") == {
        "gender": ["F", "M", "M"],
        "age": ["<18", "25-34", "56+"],
        "occupation": ["K-12 student", "college/grad student", "retired"],
    }
    # Item ids 1, 2, 3, 5, 7, 9 are indices 0..5. User 0's latest time 100 holds items 1 and 2: 2 is last.
    assert [loaded.test_items(user).tolist() for user in range(3)] == [[1], [3], [0]]
    assert loaded.train_sequence(0).tolist() == [2, 0]


def test_ml1m_users_dat_missing_a_rated_user_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "ratings.dat").write_text("10::1::4::100\n20::2::4::100\n")
    (tmp_path / "users.dat").write_text("10::F::1::10::2\n")
    with pytest.raises(ConfigError) as error:
        load_dataset(make_config(dataset="ml-1m", data_dir=str(tmp_path)))
    assert_one_line_error(error, str(tmp_path / "users.dat"), "20")


def test_ml100k_without_u_user_has_no_profiles_unless_a_setting_needs_them(tmp_path: Path) -> None:
    (tmp_path / "u.data").write_text("1\t1\t5\t10\n1\t2\t5\t20\n2\t1\t5\t30\n")
    loaded = load_dataset(make_config(dataset="ml-100k", data_dir=str(tmp_path), split="leave-last-out"))
    assert loaded.profiles is None
    assert [loaded.test_items(user).tolist() for user in range(2)] == [[1], []]
    with pytest.raises(ConfigError) as error:
        load_dataset(make_config(dataset="ml-100k", data_dir=str(tmp_path), target_group="gender=F"))
    assert_one_line_error(error, "'target-group'", "profiles", "u.user")


def test_amazon_review_times_become_events(tmp_path: Path) -> None:
    reviews = [("A1", "B1", 300), ("A1", "B2", 100), ("A1", "B3", 200), ("A2", "B1", 50), ("A2", "B3", 40)]
    lines = [json.dumps({"reviewerID": u, "asin": i, "unixReviewTime": t}) for u, i, t in reviews]
    (tmp_path / "Digital_Music_5.json").write_text("\n".join(lines) + "\n")
    loaded = load_dataset(make_config(dataset="amazon-digital-music", data_dir=str(tmp_path), split="leave-last-out"))
    assert [loaded.test_items(user).tolist() for user in range(2)] == [[0], [0]]
    assert loaded.train_sequence(0).tolist() == [1, 2]
    assert loaded.profiles is None


# --- real data (skipped where the shared copies are absent) ----------------------------------------


def test_real_ml100k_profiles_and_leave_last_out(shared_data: Path) -> None:
    folder = shared_data / "ml-100k"
    if not (folder / "u.user").is_file():
        pytest.skip(f"no {folder / 'u.user'}")
    loaded = load_dataset(make_config(dataset="ml-100k", data_dir=str(folder), split="leave-last-out"))
    assert (loaded.num_users, loaded.num_items) == (943, 1682)
    assert loaded.profiles.shape == (943, 3) and list(loaded.profiles.columns) == ["gender", "age", "occupation"]
    assert loaded.profiles.iloc[0].tolist() == ["M", "18-24", "technician"]  # u.user line 1: 1|24|M|technician
    assert (loaded.profiles["gender"] == "F").sum() == 273
    assert len(loaded.events) == 100_000
    assert np.all(np.diff(loaded.test.indptr) == 1)
    # The test item is the latest event (ties: the largest item); computed here independently with pandas.
    latest = loaded.events.sort_values(["user", "time", "item"]).groupby("user").tail(1)
    assert loaded.test.indices.tolist() == latest.sort_values("user")["item"].tolist()
    times = loaded.events.set_index(["user", "item"])["time"]
    sequence = loaded.train_sequence(0)
    assert len(sequence) == len(loaded.train_items(0))
    assert np.all(np.diff(times.loc[[(0, item) for item in sequence]].to_numpy()) >= 0)


def test_real_ml1m_published_split_has_profiles_but_no_timestamps(shared_data: Path) -> None:
    folder = shared_data / "ml-1m"
    if not all((folder / name).is_file() for name in ("train.dat", "test.dat", "users.dat")):
        pytest.skip(f"no train.dat/test.dat/users.dat in {folder}")
    loaded = load_dataset(make_config(dataset="ml-1m", data_dir=str(folder)))
    assert loaded.events is None
    assert loaded.profiles.shape == (6040, 3)
    assert loaded.profiles.iloc[0].tolist() == ["F", "<18", "K-12 student"]  # users.dat line 1: 1::F::1::10
    with pytest.raises(ConfigError) as error:
        load_dataset(make_config(dataset="ml-1m", data_dir=str(folder), split="leave-last-out"))
    assert_one_line_error(error, "'leave-last-out'", "published split", "ratings.dat", "data-dir")
