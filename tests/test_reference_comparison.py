"""Running the reference code over seeds, reading its logs and summarising runs for the side-by-side comparison."""

import subprocess
import sys
from pathlib import Path

import pandas as pd

from experiments.reference_comparison import (
    PROJECT,
    collect,
    hum_over_ra,
    plot_curves,
    rank_tests,
    reference_curve,
    summary,
)
from tests.claims import Evidence, claim

RUNNER = "experiments.reference_runs"
LOG = "\n".join(
    [
        "Arguments: attack=A-hum,dim=8",
        "Iteration 0(init), (0.0053093, 0.0096192, 0.0097856) on test, "
        "(0.0000000, 0.0000000, 0.0000000, 0.0000000) on target. [5.8s]",
        "Iteration 1, loss = 0.52 [6.0s], (0.0100000, 0.0200000, 0.0300000) on test, "
        "(0.1000000, 0.5000000, 0.9000000, 1.0000000) on target. [5.1s]",
        "Iteration 2, loss = 0.50 [6.0s], (0.0110000, 0.0210000, 0.0310000) on test, "
        "(0.3000000, 0.9500000, 1.0000000, 1.0000000) on target. [5.1s]",
        "Iteration 3, loss = 0.49 [6.0s], (0.0120000, 0.0220000, 0.0320000) on test, "
        "(0.2000000, 0.8000000, 1.0000000, 1.0000000) on target. [5.1s]",
        "DONE",
        "",
    ]
)


def test_a_reference_log_becomes_a_curve_and_a_summary(tmp_path: Path) -> None:
    log = tmp_path / "A-hum-seed1.log"
    log.write_text(LOG)
    curve = reference_curve(log)
    assert curve["epoch"].tolist() == [0, 1, 2, 3]
    assert curve.loc[2, "er@10"] == 0.95 and curve.loc[3, "recall@20"] == 0.012
    result = summary(curve)
    assert result["final ER@10"] == 0.8 and result["max ER@10"] == 0.95 and result["max ER@5"] == 0.3
    assert result["first epoch ER@10 >= 0.9"] == 2.0 and result["final Recall@20"] == 0.012
    assert result["mean ER@10 over epochs"] == (0.5 + 0.95 + 0.8) / 3, "epoch 0 (before training) is not counted"


def test_a_project_curve_that_never_reaches_the_threshold_says_so() -> None:
    curve = pd.DataFrame({"epoch": [1, 2], "er@5": [0.0, 0.1], "er@10": [0.2, 0.4], "recall@20": [0.01, 0.02]})
    result = summary(curve)
    assert pd.isna(result["first epoch ER@10 >= 0.9"]) and result["final ER@10"] == 0.4


def _log(er10: list[float]) -> str:
    lines = [
        f"Iteration {epoch}, loss = 0.5 [1.0s], (0.0200000, 0.0300000, 0.0400000) on test, "
        f"(0.1000000, {value:.7f}, 1.0000000, 1.0000000) on target. [1.0s]"
        for epoch, value in enumerate(er10, start=1)
    ]
    return "\n".join(lines) + "\nDONE\n"


def test_collect_rank_tests_and_figure_from_both_codes(tmp_path: Path) -> None:
    logs, results = tmp_path / "logs", tmp_path / "results"
    logs.mkdir()
    for seed, er10 in ((1, [0.2, 0.95]), (2, [0.1, 0.5]), (3, [0.3, 0.4])):
        (logs / f"A-ra-seed{seed}.log").write_text(_log(er10))
    (logs / "A-ra-seed4.log").write_text(_log([0.9]).replace("DONE", ""))  # unfinished: left out
    for seed, er10 in ((1, [0.9, 1.0]), (2, [0.95, 1.0]), (3, [0.92, 0.97])):
        folder = results / f"reference-like-a-ra-0.001__seed{seed}"
        folder.mkdir(parents=True)
        (folder / "summary.json").write_text("{}")
        pd.DataFrame({"epoch": [1, 2], "er@5": [0.1, 0.2], "er@10": er10, "recall@20": [0.02, 0.03]}).to_csv(
            folder / "metrics.csv", index=False
        )
    runs, curves = collect(logs, results)
    assert sorted(runs.groupby("code")["seed"].apply(list).to_dict().items()) == [
        ("reference", [1, 2, 3]),
        ("this project", [1, 2, 3]),
    ]
    assert len(curves) == 6 * 2
    rows = {line.split(" | ")[1]: line for line in rank_tests(runs).splitlines()[2:]}
    # first epoch ER@10 >= 0.9: reference 2, never, never (ranked as epoch 3) vs project 1, 1, 1.
    assert rows["first epoch ER@10 >= 0.9"].endswith("| 0.059 |"), "U = 9 of 9, ties: normal approximation"
    assert "| 2–2 (3, never in 2) | 1–1 (3) |" in rows["first epoch ER@10 >= 0.9"]
    assert plot_curves(curves, tmp_path / "figure.png").stat().st_size > 0
    # A code none of whose runs reaches the level: its range says never, with the number of runs.
    runs.loc[runs["code"] == "reference", "first epoch ER@10 >= 0.9"] = float("nan")
    rows = {line.split(" | ")[1]: line for line in rank_tests(runs).splitlines()[2:]}
    assert "| never (3) | 1–1 (3) |" in rows["first epoch ER@10 >= 0.9"]


def test_reference_runs_seed_a_copy_mark_finished_logs_and_resume(tmp_path: Path) -> None:
    # A stand-in for the reference's main.py (the real one trains for minutes): it prints its seed and attack.
    reference, data = tmp_path / "reference", tmp_path / "data"
    reference.mkdir()
    data.mkdir()
    (data / "train.dat").write_text("0 1\n")
    (reference / "main.py").write_text(
        "import sys\ndef setup_seed(seed):\n    print('seed', seed)\n"
        "setup_seed(20220110)\nprint(sys.argv[2])\nopen('Data/ML/train.dat').read()\n"
    )
    (reference / "main.py").chmod(0o444)
    logs = tmp_path / "logs"
    command = [
        sys.executable,
        "-m",
        RUNNER,
        "--reference",
        str(reference),
        "--data-dir",
        str(data),
        "--work",
        str(tmp_path / "work"),
        "--logs",
        str(logs),
        "--seeds",
        "7",
        "--attacks",
        "A-ra",
        "--jobs",
        "2",
    ]
    subprocess.run(command, check=True, capture_output=True, cwd=PROJECT)
    assert (logs / "A-ra-seed7.log").read_text() == "seed 7\n--attack=A-ra\nDONE\n"
    again = subprocess.run(command, check=True, capture_output=True, text=True, cwd=PROJECT)
    assert "0 reference run(s) to do" in again.stdout


def test_hum_over_ra_pairs_the_attacks_of_one_code_by_seed() -> None:
    runs = pd.DataFrame(
        {
            "code": ["reference"] * 4,
            "attack": ["A-hum", "A-hum", "A-ra", "A-ra"],
            "seed": [1, 2, 1, 2],
            "final ER@5": [0.9, 0.5, 0.4, 0.5],
            "final ER@10": [1.0, 1.0, 0.6, 1.0],
        }
    )
    text = hum_over_ra(runs)
    # A-hum's value minus A-ra's, seed by seed; seed 2's final ER@10 is 1.0 for both (a tie).
    assert claim(text, "reference", "ER@5") == Evidence(1, 2, 1, {1: 0.5, 2: 0.0}, mean=0.25)
    assert claim(text, "reference", "ER@10") == Evidence(1, 2, 1, {1: 0.4, 2: 0.0}, mean=0.2)
