"""Flower's own records of runs, read with its CLI: `flwr ls --format json` and `flwr log <run-id> --show`.

A script tells a run's outcome from these (or from the run's `summary.json`): `flwr run` exits 0
whether the run completed or failed. Call them with the environment of the `flwr run` that started
the runs (its FLWR_HOME and ports), e.g. as `harness.flwr_local.flwr_run(..., after=...)`.
"""

import json
import subprocess

from harness.flwr_local import APP_DIR, flwr_executable


def list_runs(env: dict[str, str]) -> list[dict]:
    """Every run the connection's SuperLink knows, as `flwr ls --format json` describes it (`run-id`,
    `status` such as `finished:completed` or `finished:failed`, `status-details`, timestamps)."""
    listed = subprocess.run(
        [flwr_executable(), "ls", "--format", "json"],
        env=env,
        cwd=APP_DIR,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return list(json.loads(listed.stdout)["runs"])


def run_log(env: dict[str, str], run_id: str) -> str:
    """The run's log as `flwr log <run-id> --show` prints it."""
    shown = subprocess.run(
        [flwr_executable(), "log", str(run_id), "--show"],
        env=env,
        cwd=APP_DIR,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return shown.stdout
