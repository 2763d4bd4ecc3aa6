"""A grid's runtime kept up across runs (harness/kept_runtime.py): one SuperLink and one Ray head take several
`flwr run`s, each gives the numbers of the same run on a fresh SuperLink, a failed run in between does not stop
the next, and nothing of the runtime is left once it is closed."""

import json
from pathlib import Path

import pandas as pd
import psutil
import pytest

from harness.flwr_local import _processes_of, flwr_run
from harness.kept_runtime import KeptRuntime

pytestmark = pytest.mark.e2e

FEDERATION = "num-supernodes=2 client-resources-num-cpus=1"
SMALL = {
    "synthetic-users": 60,
    "synthetic-items": 80,
    "synthetic-interactions": 10,
    "clients-per-round": 20,
    "epochs": 2,
    "seed": 7,
    "attack": "a-ra",
    "malicious-fraction": 0.05,
}


def _metrics(results: Path, name: str) -> pd.DataFrame:
    summary = json.loads((results / name / "summary.json").read_text())
    assert summary["status"] == "completed", summary
    return pd.read_csv(results / name / "metrics.csv").drop(columns="elapsed-s")


def test_runs_on_a_kept_runtime_match_fresh_ones_and_the_runtime_leaves_nothing(tmp_path: Path) -> None:
    results = tmp_path / "results"
    fresh = flwr_run({**SMALL, "results-dir": str(results), "run-name": "fresh"}, tmp_path / "home", FEDERATION, 300)
    assert fresh.returncode == 0, fresh.output[-3000:]
    other = {**SMALL, "seed": 8, "defense": "median"}
    fresh_other = flwr_run({**other, "results-dir": str(results), "run-name": "fresh-other"}, tmp_path / "h2")
    assert fresh_other.returncode == 0, fresh_other.output[-3000:]

    with KeptRuntime() as runtime:
        ray_processes = runtime.head.processes()
        first = runtime.run({**SMALL, "results-dir": str(results), "run-name": "kept-1"}, FEDERATION, 300)
        superlinks = [p.pid for p in _processes_of(runtime.flwr_home) if "flower-superlink" in " ".join(p.cmdline())]
        assert first.returncode == 0 and len(superlinks) == 1, first.output[-3000:]
        failed = runtime.run({**SMALL, "run-name": "bad", "attack": "no-such-attack"}, FEDERATION, 300)
        assert "no-such-attack" in failed.output, failed.output[-3000:]  # its one error line; the SuperLink stays
        second = runtime.run({**other, "results-dir": str(results), "run-name": "kept-2"}, FEDERATION, 300)
        third = runtime.run({**SMALL, "results-dir": str(results), "run-name": "kept-3"}, FEDERATION, 300)
        assert second.returncode == 0 and third.returncode == 0, second.output[-3000:] + third.output[-3000:]
        runtime_processes = [*ray_processes, *_processes_of(runtime.flwr_home)]
    assert not [p for p in runtime_processes if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]
    assert not _processes_of(runtime.flwr_home) and not runtime.folder.exists()

    pd.testing.assert_frame_equal(_metrics(results, "kept-1"), _metrics(results, "fresh"))
    pd.testing.assert_frame_equal(_metrics(results, "kept-3"), _metrics(results, "fresh"))
    pd.testing.assert_frame_equal(_metrics(results, "kept-2"), _metrics(results, "fresh-other"))
