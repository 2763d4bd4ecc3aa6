"""Refactoring guard: runs recorded before the restructuring (issue 20) give identical numbers now.

`tests/recorded/` holds metrics.csv and config.json of two runs through `flwr run`, recorded with the
code of commit 6d6c901 (before the tree was reformatted, regrouped and its protocol gathered in one
module): the default synthetic run and a short A-hum run. Re-running them must reproduce every column
bit for bit, ER@K included (the strategy sums the replies in a fixed order, so the float sums do not
depend on which node answered first); only the wall-clock column differs, and the train loss, which
another CPU's vectorised kernels round differently, is compared to 1e-6 relative. The
resolved config keeps every recorded key and value; settings added later may only add keys.
"""

import json
from pathlib import Path

import pandas as pd
import pytest

from harness.flwr_local import flwr_run

pytestmark = pytest.mark.e2e

RECORDED = Path(__file__).resolve().parent / "recorded"
RUNS = {
    "default-synthetic": {},
    "a-hum-short": {
        "attack": "a-hum",
        "malicious-fraction": 0.05,
        "epochs": 3,
        "seed": 5,
        "synthetic-users": 120,
        "synthetic-items": 150,
        "synthetic-interactions": 20,
        "clients-per-round": 32,
        "lr": 0.05,
        "user-lr": 0.05,
    },
}
UNRECORDED = ("results-dir", "run-name")
TRAIN_LOSS = "train-loss"


@pytest.mark.parametrize("name", sorted(RUNS))
def test_a_recorded_run_gives_identical_metrics(tmp_path: Path, name: str) -> None:
    run = flwr_run({**RUNS[name], "results-dir": str(tmp_path / "results"), "run-name": name}, tmp_path / "flwr-home")
    folder = tmp_path / "results" / name
    assert (folder / "metrics.csv").exists(), run.output[-3000:]
    now = pd.read_csv(folder / "metrics.csv").drop(columns=["elapsed-s"])
    before = pd.read_csv(RECORDED / f"{name}.metrics.csv").drop(columns=["elapsed-s"])
    assert any(column.startswith("er@") for column in before), "the recording must carry the attacks' metric"
    # The training loss is a sum of float32 per-user losses whose vectorised kernels (exp, log) round differently on
    # other CPUs: on a new machine it differed by 1.2e-8 and 3.2e-9 at the start commit of that session already, every
    # other column bit for bit. It is compared to 1e-6 relative; the rest exactly.
    pd.testing.assert_series_equal(now.pop(TRAIN_LOSS), before.pop(TRAIN_LOSS), check_exact=False, rtol=1e-6, atol=0)
    pd.testing.assert_frame_equal(now, before, check_exact=True)
    config_now, config_before = (
        json.loads(path.read_text()) for path in (folder / "config.json", RECORDED / f"{name}.config.json")
    )
    for key in UNRECORDED:
        config_now.pop(key), config_before.pop(key)
    # Settings added since the recording are new keys; every recorded one is unchanged.
    assert {key: config_now.get(key) for key in config_before} == config_before
