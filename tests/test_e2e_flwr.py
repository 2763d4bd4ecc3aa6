"""End to end through Flower's own runtime: `flwr run` on a private local SuperLink (simulation).

Each test gets its own FLWR_HOME in tmp_path; every process the SuperLink started is stopped by PID
afterwards (harness.flwr_local), also when the test fails.
"""

import json
from pathlib import Path

import pandas as pd
import pytest

from app_config import make_config
from harness.flwr_local import flwr_run
from harness.flwr_records import list_runs, run_log
from harness.plain_loop import run_plain
from tests.conftest import SMALL_RUN

pytestmark = pytest.mark.e2e


def test_a_run_with_one_user_per_node_writes_its_results_and_computes_what_the_plain_loop_does(
    tmp_path: Path,
) -> None:
    """The deployment layout (a SuperNode per user) runs unchanged; its numbers are the single-process loop's.

    That a run repeats its numbers bit for bit is checked by test_recorded_runs.
    """
    tiny = {
        "synthetic-users": 12,
        "synthetic-items": 50,
        "synthetic-interactions": 8,
        "clients-per-round": 5,
        "epochs": 2,
        "seed": 3,
        "lr": 0.05,
        "user-lr": 0.05,
    }
    overrides = {**tiny, "results-dir": str(tmp_path / "results"), "run-name": "per-user"}
    run = flwr_run(overrides, tmp_path / "flwr-home", federation_config="num-supernodes=12", timeout=600)
    folder = tmp_path / "results" / "per-user"
    assert (folder / "summary.json").exists(), run.output[-3000:]
    summary = json.loads((folder / "summary.json").read_text())
    assert summary["status"] == "completed" and summary["epochs-completed"] == 2
    table = pd.read_csv(folder / "metrics.csv")
    assert table["epoch"].tolist() == [1, 2]
    assert {"recall@10", "precision@10", "ndcg@10", "er@10", "train-loss"} <= set(table.columns)
    assert table["train-loss"].iloc[-1] < table["train-loss"].iloc[0], "training lowers the loss"
    assert (folder / "exposure.png").stat().st_size > 0 and (folder / "utility.png").stat().st_size > 0
    config = json.loads((folder / "config.json").read_text())
    assert config["num-users"] == 12 and config["num-nodes"] == 12
    assert sum(line.startswith("epoch ") for line in run.output.splitlines()) == 2, "one progress line per epoch"
    assert f"results -> {folder}" in run.output

    # The plain single-process loop with identical math lands on the same metrics.
    plain = run_plain(make_config(tiny), log=False)
    last = table.iloc[-1]
    for metric in ("recall@10", "ndcg@10", "recall@20", "precision@5", "er@5", "er@20"):
        assert last[metric] == pytest.approx(plain[metric], abs=1e-4), metric


def test_a_bad_setting_ends_the_run_failed_in_one_line_and_keeps_what_was_written(tmp_path: Path) -> None:
    """The one real run of a bad setting: the ServerApp's side is checked in-process in test_run_stops."""
    records: dict[str, object] = {}

    def read_records(env: dict[str, str]) -> None:
        records["runs"] = list_runs(env)
        records["log"] = run_log(env, records["runs"][0]["run-id"])

    earlier = tmp_path / "results" / "bad"  # an earlier run's results under the same name
    earlier.mkdir(parents=True)
    (earlier / "metrics.csv").write_text("epoch,recall@10\n1,0.5\n")
    overrides = {**SMALL_RUN, "hidden-layers": "8,,8", "results-dir": str(tmp_path / "results"), "run-name": "bad"}
    run = flwr_run(overrides, tmp_path / "flwr-home", after=read_records)
    message = "run-config 'hidden-layers' = '8,,8' is invalid: empty entry in the comma list"
    assert [line for line in run.output.splitlines() if line.startswith("fedrec-arena:")] == [
        f"fedrec-arena: {message}; expected a comma list of positive integers, e.g. '8,8'"
    ]
    assert "Traceback" not in run.output
    assert [path.name for path in (tmp_path / "results").iterdir()] == ["bad"], "the failed run writes nothing"
    assert (earlier / "metrics.csv").read_text() == "epoch,recall@10\n1,0.5\n", "nor touches what was there"
    (listed,) = records["runs"]
    assert listed["status"] == "finished:failed", listed
    assert message in listed["status-details"]
    log_lines = [line for line in str(records["log"]).splitlines() if "fedrec-arena:" in line or "ERROR" in line]
    assert message in log_lines[0], records["log"]  # the one-line message comes first
    assert "Traceback" not in str(records["log"])


def test_fedrecattacks_setting_on_its_leave_one_out_split_trains_and_reports_sampled_hr(tmp_path: Path) -> None:
    """ml-100k-loo in FedRecAttack's setting (the shipped config, 2 epochs, its seed and random target): the
    summed BPR loss falls from the reference code's 72.84, sampled HR@10 is reported, the target is 894."""
    import tomllib

    from tests.test_datasets import SHARED_DATA

    folder = SHARED_DATA / "ml-100k-loo"
    if not (folder / "train.txt").is_file():
        pytest.skip(f"no {folder / 'train.txt'}")
    setting = Path(__file__).resolve().parents[1] / "experiments" / "configs" / "fedrecattack-setting-none.toml"
    overrides = {
        **tomllib.loads(setting.read_text()),
        "data-dir": str(folder),
        "epochs": 2,
        "seed": 20211111,
        "target-items": "random:1",
        "results-dir": str(tmp_path / "results"),
        "run-name": "loo",
    }
    run = flwr_run(overrides, tmp_path / "flwr-home", timeout=900)
    results = tmp_path / "results" / "loo"
    assert (results / "summary.json").exists(), run.output[-3000:]
    table = pd.read_csv(results / "metrics.csv")
    assert table["train-loss"].iloc[0] == pytest.approx(72.84, abs=0.05)  # the reference prints 72.84028
    assert table["train-loss"].iloc[1] < table["train-loss"].iloc[0]
    assert {"sampled-hr@10", "sampled-ndcg@10", "recall@10", "er@10"} <= set(table.columns)
    assert 0.0 < table["sampled-hr@10"].iloc[-1] < 1.0
    assert json.loads((results / "config.json").read_text())["targets"] == [894]
