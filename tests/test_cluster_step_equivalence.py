"""This project's training step against ClusterAttack-UNION's reference code from the same state on the same pairs
(experiments/probes/cluster_step_equivalence.py), on a small synthetic cache in the reference's format. Runs the
probe in its own process: it imports the reference's modules (`model`, `client`, `agg`, ...) by their bare names."""

import pickle
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

REFERENCE_CODE = Path(__file__).resolve().parents[2] / "shared" / "reference" / "ClusterAttack-UNION" / "Code"
PROJECT = Path(__file__).resolve().parents[1]


def _synthetic_cache(path: Path, users: int = 64, items: int = 40, seed: int = 0) -> None:
    """Per user 6-12 (positive, negative) pairs and one test item, in the reference train.py's cache layout."""
    rng = np.random.default_rng(seed)
    train, test = {}, {"uid": [], "label": [], "mask": []}
    for user in range(users):
        history = rng.choice(items, size=int(rng.integers(8, 14)), replace=False)
        free = np.setdiff1d(np.arange(items), history)
        positives = history[:-2]
        train[user] = np.stack([positives, rng.choice(free, size=len(positives))], axis=1)
        mask = np.zeros(items, dtype=bool)
        mask[history[:-1]] = True
        test["uid"].append(user)
        test["label"].append(history[-1])
        test["mask"].append(mask)
    test = {key: np.array(value) for key, value in test.items()}
    with path.open("wb") as handle:
        pickle.dump({"train_user_data": train, "val_user_data": None, "test_user_data": test}, handle)


@pytest.mark.skipif(
    not REFERENCE_CODE.exists(), reason="ClusterAttack-UNION's reference code is not beside the project"
)
@pytest.mark.parametrize(
    ("user_optimizer", "bound"),
    [
        # float32 rounding over every round (Adam on the items magnifies it where a gradient is tiny), far below a
        # step of lr = 2e-3
        ("sgd", 1e-4),
        # the users' rows by Adam on both sides: Adam's step lr * g / (|g| + eps) turns the codes' rounding of a
        # gradient near eps into up to 8e-6 of a row in round 1 (a 2.1e-8 gradient that differs by 4e-10); without
        # the replay of the rounds a row sat out, the rows part by 0.75 of their move (measured: 4.9e-2 of 6.6e-2)
        ("adam", 1e-2),
    ],
)
def test_the_projects_step_is_the_references_with_its_l2_on_every_parameter(
    tmp_path: Path, user_optimizer: str, bound: float
) -> None:
    cache = tmp_path / "ml-seed0.pkl"
    _synthetic_cache(cache)
    out = tmp_path / "log.txt"
    completed = subprocess.run(
        [sys.executable, "-m", "experiments.probes.cluster_step_equivalence", "--reference", str(REFERENCE_CODE),
         "--cache", str(cache), "--seed", "3", "--rounds", "30", "--log-every", "10", "--out", str(out),
         "--user-optimizer", user_optimizer],
        cwd=PROJECT, capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    assert completed.returncode == 0, completed.stderr[-2000:]
    log = out.read_text()
    last = re.findall(r"items (\S+), users (\S+); largest move from the start: items (\S+), users (\S+)", log)[-1]
    item_difference, user_difference, item_move, user_move = (float(x) for x in last)
    assert item_move > 0.02 and user_move > 0.02  # both tables trained well away from their start
    assert item_difference < bound * item_move and user_difference < bound * user_move
    reference = re.search(r"HR@10 reference: (\S+)", log).group(1)  # type: ignore[union-attr]
    project = re.search(r"HR@10 this project: (\S+)", log).group(1)  # type: ignore[union-attr]
    assert reference == project


def test_a_folder_without_the_reference_is_one_line(tmp_path: Path) -> None:
    completed = subprocess.run(
        [sys.executable, "-m", "experiments.probes.cluster_step_equivalence", "--reference", str(tmp_path),
         "--cache", str(tmp_path / "none.pkl")],
        cwd=PROJECT, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert completed.returncode == 2
    assert completed.stderr.strip().count("\n") == 0 and "no agg.py" in completed.stderr
