"""A run that cannot start stops in the ServerApp with one clear line, before anything is written.

The ServerApp's `main` runs here in this process against the real ClientApp (tests.in_process_grid).
That Flower then records such a run `failed` in `flwr ls` with that line and no traceback is checked
once, through the real runtime, in test_e2e_flwr.
"""

import logging
from pathlib import Path

import pytest

from datasets import movielens
from server_app.stopping import RunStopped, stop_run
from tests.in_process_grid import run_server_app

UNREACHABLE = "http://127.0.0.1:9"  # nothing listens there: the download fails without the network


def _stopped_run(tmp_path: Path, capsys: pytest.CaptureFixture[str], **overrides: object) -> str:
    """Runs `main` with these run-config overrides; it must stop printing exactly its one line, which is returned."""
    with pytest.raises(RunStopped) as stopped:
        run_server_app({**overrides, "results-dir": str(tmp_path / "results"), "run-name": "stops"})
    lines = [line for line in capsys.readouterr().out.splitlines() if line.startswith("fedrec-arena:")]
    assert lines == [f"fedrec-arena: {stopped.value}"]
    assert "\n" not in str(stopped.value)
    assert not (tmp_path / "results").exists(), "nothing is written for a run that never started"
    return str(stopped.value)


def test_a_bad_setting_stops_the_run_in_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    message = _stopped_run(tmp_path, capsys, **{"hidden-layers": "8,,8"})
    assert message.startswith("run-config 'hidden-layers' = '8,,8' is invalid: empty entry in the comma list")


def test_a_node_without_its_data_stops_the_run_saying_where_it_looked_and_how_to_get_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(movielens, "GROUPLENS_URL", UNREACHABLE)
    missing = tmp_path / "no-data-here"
    message = _stopped_run(tmp_path, capsys, dataset="ml-100k", **{"data-dir": str(missing)})
    assert f"{missing}/u.data" in message and "data-dir" in message and f"{UNREACHABLE}/ml-100k.zip" in message


def test_flowers_log_drops_the_traceback_of_a_stopped_run_only(capsys: pytest.CaptureFixture[str]) -> None:
    records: list[logging.LogRecord] = []
    collect = logging.Handler()
    collect.emit = records.append  # type: ignore[method-assign]
    flower_logger = logging.getLogger("flwr")
    flower_logger.addHandler(collect)
    try:
        for error in (stop_run("data file missing"), RuntimeError("a crash")):
            try:
                raise error
            except Exception:
                flower_logger.exception("ServerApp raised an exception")
    finally:
        flower_logger.removeHandler(collect)
    assert capsys.readouterr().out == "fedrec-arena: data file missing\n"
    stopped, crashed = records
    assert stopped.exc_info is None and stopped.getMessage() == "ServerApp raised an exception"
    assert crashed.exc_info is not None and isinstance(crashed.exc_info[1], RuntimeError), "a crash keeps its traceback"


def test_fltrust_without_a_root_dataset_stops_the_run_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    message = _stopped_run(tmp_path, capsys, defense="fltrust", **{"public-fraction": 0.0})
    assert message == "defense 'fltrust' needs a root dataset: set run-config public-fraction > 0"


def test_bucketing_asks_its_rule_what_the_run_lacks(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    message = _stopped_run(
        tmp_path, capsys, defense="bucketing", **{"bucketing-rule": "fltrust", "public-fraction": 0.0}
    )
    assert message == "defense 'fltrust' needs a root dataset: set run-config public-fraction > 0"
