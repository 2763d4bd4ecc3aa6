"""The privacy experiment's table compares each attack with the informed baseline on the same uploads."""

from pathlib import Path

import pandas as pd
import pytest

from experiments.privacy import INFORMED, informed_baseline


def test_informed_baseline_is_taken_on_the_uploads_the_attack_covered(tmp_path: Path) -> None:
    pd.DataFrame(
        {"epoch": [1, 1, 2, 2], "user": [5, 6, 5, 6], "f1": [0.2, 0.4, 0.6, 0.8], "auc": [0.5, 0.6, 0.7, 0.8]}
    ).to_csv(tmp_path / f"privacy-{INFORMED}.csv", index=False)
    subset = pd.DataFrame({"epoch": [1, 2], "user": [6, 5], "f1": [1.0, 1.0]})
    baseline = informed_baseline(tmp_path, subset)
    assert baseline["f1"] == pytest.approx(0.5) and baseline["auc"] == pytest.approx(0.65)


def test_informed_baseline_is_empty_when_the_baseline_was_not_run(tmp_path: Path) -> None:
    assert informed_baseline(tmp_path, pd.DataFrame({"epoch": [1], "user": [5]})).empty
