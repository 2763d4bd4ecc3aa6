"""Defenses in a whole run of the ServerApp, in this process against the real ClientApp (tests.in_process_grid).

A defense only changes how the server aggregates: the messages of a run are the same under every
defense, and those go through Flower's runtime in the e2e runs (test_deployment runs A-ra).
"""

import json
from pathlib import Path

import pandas as pd

from tests.conftest import SMALL_RUN
from tests.in_process_grid import run_server_app


def _run(tmp_path: Path, name: str, **extra: object) -> Path:
    run_server_app({**SMALL_RUN, **extra, "results-dir": str(tmp_path), "run-name": name})
    assert json.loads((tmp_path / name / "summary.json").read_text())["status"] == "completed"
    return tmp_path / name


def test_norm_bound_flags_a_ras_large_updates_and_the_run_reports_detection(tmp_path: Path) -> None:
    folder = _run(
        tmp_path, "norm-bound", attack="a-ra", defense="norm-bound", **{"malicious-fraction": 0.05, "norm-bound": 0.05}
    )
    table = pd.read_csv(folder / "metrics.csv")
    assert {"detection-precision", "detection-recall", "flagged-users"} <= set(table.columns)
    assert table["detection-recall"].iloc[-1] == 1.0, "A-ra's large updates all exceed the bound"


def test_a_flower_strategy_aggregates_a_whole_run_on_dense_updates(tmp_path: Path) -> None:
    folder = _run(tmp_path, "flower-median", defense="flwr:FedMedian", aggregation="dense")
    assert pd.read_csv(folder / "metrics.csv")["epoch"].tolist() == [1, 2]


def test_fltrust_and_fldetector_aggregate_a_whole_run_under_attack_and_report_detection(tmp_path: Path) -> None:
    attack = {"attack": "sign-flip", "malicious-fraction": 0.05, "public-fraction": 0.1}
    for defense in ("fltrust", "fldetector"):
        table = pd.read_csv(_run(tmp_path, defense, defense=defense, **attack) / "metrics.csv")
        assert table["epoch"].tolist() == [1, 2] and "detection-recall" in table.columns, defense
