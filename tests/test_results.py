"""The results folder survives a crash with every epoch already written."""

import json

import pandas as pd

from app_config import make_config
from fedrec.reporting.results import RunRecorder


def _metrics(epoch: int) -> dict[str, float]:
    return {
        "train-loss": 0.5 / epoch,
        "recall@10": 0.1 * epoch,
        "ndcg@10": 0.05 * epoch,
        "er@10": 0.0,
        "recall@20": 0.2 * epoch,
        "ndcg@20": 0.1 * epoch,
        "er@20": 0.01,
    }


def test_epochs_written_before_a_crash_are_kept(tmp_path) -> None:  # type: ignore[no-untyped-def]
    recorder = RunRecorder(make_config(results_dir=str(tmp_path), run_name="crashy", top_k="10,20"), {"targets": [3]})
    try:
        for epoch in (1, 2):
            recorder.record_epoch(epoch, _metrics(epoch))
        raise RuntimeError("node lost")
    except RuntimeError as error:
        summary = recorder.finish("failed", str(error))
    folder = tmp_path / "crashy"
    table = pd.read_csv(folder / "metrics.csv")
    assert table["epoch"].tolist() == [1, 2]
    assert table["recall@10"].tolist() == [0.1, 0.2]
    assert json.loads((folder / "summary.json").read_text())["status"] == "failed"
    assert summary["epochs-completed"] == 2 and summary["error"] == "node lost"
    assert json.loads((folder / "config.json").read_text())["targets"] == [3]
    assert (folder / "exposure.png").stat().st_size > 0 and (folder / "utility.png").stat().st_size > 0


def test_a_second_run_with_the_same_name_gets_its_own_folder(tmp_path) -> None:  # type: ignore[no-untyped-def]
    config = make_config(results_dir=str(tmp_path), run_name="same")
    assert RunRecorder(config, {}).path != RunRecorder(config, {}).path


def test_columns_that_appear_after_the_first_epoch_widen_the_table(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Epoch 0 of a fine-tuning run evaluates the checkpoint before any round, so a rule's detection rates start at
    epoch 1: the earlier rows keep their values and get empty cells there."""
    recorder = RunRecorder(make_config(results_dir=str(tmp_path), run_name="widen", top_k="10,20"), {})
    recorder.record_epoch(0, _metrics(1))
    recorder.record_epoch(1, {**_metrics(1), "detection-recall": 1.0, "flagged-users": 4.0})
    recorder.record_epoch(2, {**_metrics(2), "detection-recall": 0.5, "flagged-users": 2.0})
    table = pd.read_csv(tmp_path / "widen" / "metrics.csv")
    assert table["epoch"].tolist() == [0, 1, 2]
    assert table["recall@10"].tolist() == [0.1, 0.1, 0.2]
    assert table["detection-recall"].isna().tolist() == [True, False, False]
    assert table["flagged-users"].tolist()[1:] == [4.0, 2.0]
