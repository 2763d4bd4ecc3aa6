"""Benchmark: what one leaderboard cell costs, each run on a fresh runtime against runs on a kept one.

The same cell (`--epochs` of ML-100K in the leaderboard's setting, no attack, FedAvg), `--runs` times each way,
alternating so both meet the same load: a whole `flwr run` that starts and stops its own SuperLink and Ray
(harness/flwr_local.py, as `flwr run .` alone), and a `flwr run` on one SuperLink and Ray cluster kept up
across the runs (harness/kept_runtime.py, as experiments/leaderboard and experiments/sweep run grids). The
kept runtime's start (the Ray head) is timed apart; the first run on it also brings its SuperLink up. It
prints every run's wall time and the run's own time (the ServerApp's, summary.json), the means, and checks
that every run gave the same metrics.

    python -m bench.grid_cell --ml100k-dir DIR [--runs 3] [--epochs 5]
"""

import json
import tempfile
import time
from pathlib import Path

import pandas as pd

from harness.arguments import existing_dir, script_parser
from harness.flwr_local import flwr_run
from harness.kept_runtime import KeptRuntime

FEDERATION = "num-supernodes=2 client-resources-num-cpus=1"
#: The leaderboard's ML-100K setting (experiments/leaderboard/grid.toml), without attack.
CELL = {"dataset": "ml-100k", "lr": 0.01, "user-lr": 0.01, "seed": 1}


def _own_time(results: Path, name: str) -> tuple[float, pd.DataFrame]:
    summary = json.loads((results / name / "summary.json").read_text())
    if summary["status"] != "completed":
        raise SystemExit(f"{name}: the run did not complete")
    return summary["wall-time-s"], pd.read_csv(results / name / "metrics.csv").drop(columns="elapsed-s")


def main() -> None:
    parser = script_parser(__spec__.name, __doc__)
    parser.add_argument("--ml100k-dir", type=existing_dir, required=True, metavar="DIR", help="ML-100K (u.data)")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=5)
    args = parser.parse_args()
    cell = {**CELL, "data-dir": args.ml100k_dir, "epochs": args.epochs}
    rows, metrics = [], []
    with tempfile.TemporaryDirectory() as scratch_name:
        scratch = Path(scratch_name)
        results = scratch / "results"
        started = time.time()
        with KeptRuntime() as runtime:
            ray_start = time.time() - started
            for index in range(args.runs):
                for way in ("fresh", "kept"):
                    name = f"{way}-{index}"
                    overrides = {**cell, "results-dir": str(results), "run-name": name}
                    if way == "fresh":
                        run = flwr_run(overrides, scratch / f"home-{name}", FEDERATION, timeout=1800)
                    else:
                        run = runtime.run(overrides, FEDERATION, timeout=1800)
                    own, frame = _own_time(results, name)
                    rows.append({"way": way, "run": index, "whole-s": run.wall_time_s, "own-s": own})
                    metrics.append(frame)
                    print(f"{name}: whole flwr run {run.wall_time_s:.1f} s, the run itself {own:.1f} s", flush=True)
    frame = pd.DataFrame(rows)
    same = all(part.equals(metrics[0]) for part in metrics[1:])
    print(f"\nKept runtime's Ray head: up in {ray_start:.1f} s (once per grid worker)")
    for way, part in frame.groupby("way", sort=False):
        later = part[part["run"] > 0]
        print(
            f"{way}: whole flwr run mean {part['whole-s'].mean():.1f} s over {len(part)} runs "
            f"({later['whole-s'].mean():.1f} s without the first), the run itself {part['own-s'].mean():.1f} s"
        )
    print(f"metrics identical across all {len(metrics)} runs: {same}")


if __name__ == "__main__":
    main()
