"""experiments/reference_data.py: ML-1M's published split written as a GroupLens ratings.dat."""

import subprocess
import sys
from pathlib import Path

from experiments.reference_data import ratings_lines

TRAIN = [["3", "1", "4"], ["1", "5"], ["9", "2", "6", "5"]]
TEST = [["7"], ["8", "0"], ["3"]]


def _by_user(lines: list[str]) -> dict[str, list[str]]:
    users: dict[str, list[str]] = {}
    for line in lines:
        user, item, rating, _ = line.split("::")
        assert rating == "1"
        users.setdefault(user, []).append(item)
    return users


def test_file_order_is_each_users_train_items_then_test_items_timestamped_by_line() -> None:
    lines = ratings_lines(TRAIN, TEST)
    assert [int(line.split("::")[3]) for line in lines] == list(range(len(lines)))
    assert _by_user(lines) == {"1": ["3", "1", "4", "7"], "2": ["1", "5", "8", "0"], "3": ["9", "2", "6", "5", "3"]}


def test_shuffled_order_keeps_each_users_items_reorders_them_and_is_the_same_for_the_same_seed() -> None:
    file_order = _by_user(ratings_lines(TRAIN, TEST))
    orders = [_by_user(ratings_lines(TRAIN, TEST, shuffle_seed=seed)) for seed in range(20)]
    for order in orders:
        assert {user: sorted(items) for user, items in order.items()} == {
            user: sorted(items) for user, items in file_order.items()
        }
    assert ratings_lines(TRAIN, TEST, shuffle_seed=3) == ratings_lines(TRAIN, TEST, shuffle_seed=3)
    last_items = {order["3"][-1] for order in orders}  # the leave-last-out test item of user 3
    assert len(last_items) > 1, "the held-out item is not always the file's last"


def test_the_script_writes_the_file_copies_users_dat_and_refuses_a_seed_without_shuffling(tmp_path: Path) -> None:
    split = tmp_path / "split"
    split.mkdir()
    (split / "train.dat").write_text("\n".join(f"{u} {' '.join(items)}" for u, items in enumerate(TRAIN)) + "\n")
    (split / "test.dat").write_text("\n".join(f"{u} {' '.join(items)}" for u, items in enumerate(TEST)) + "\n")
    (split / "users.dat").write_text("1::F::18::4::00000\n2::M::25::1::00000\n3::F::56::2::00000\n")
    out = tmp_path / "out" / "ratings.dat"
    command = [sys.executable, "-m", "experiments.reference_data", "--data-dir", str(split), "--out", str(out)]
    subprocess.run([*command, "--order", "shuffled", "--seed", "0"], check=True, capture_output=True)
    assert out.read_text().splitlines() == ratings_lines(TRAIN, TEST, shuffle_seed=0)
    assert (out.parent / "users.dat").read_text() == (split / "users.dat").read_text()
    refused = subprocess.run([*command, "--seed", "0"], capture_output=True, text=True)
    assert refused.returncode == 2 and "--seed goes with --order shuffled" in refused.stderr
    assert "Traceback" not in refused.stderr
