"""Benchmark: the paper's setting on MovieLens-1M through Flower vs a plain PyTorch loop.

NCF (dim 8, MLP 8-8), BCE, 4 negatives, 256 clients per round, server sums gradients, SGD lr 0.001,
30 epochs with full-ranking evaluation after every epoch, on the published reference split
(`../shared/data/ml-1m/train.dat`, `test.dat`). Prints both wall times, their ratio, peak memory and
the epoch-30 metrics next to the reference implementation's (recall@20 0.0233, NDCG@20 0.0403).

    python bench/ml1m_flower_vs_plain.py [--epochs 30] [--data-dir ../shared/data/ml-1m]
"""

import argparse
import json
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from app_config import make_config  # noqa: E402
from bench.plain_loop import run_plain  # noqa: E402
from harness.flwr_local import flwr_run  # noqa: E402

REFERENCE = {"recall@20": 0.0233, "ndcg@20": 0.0403}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--data-dir", default=str(Path(__file__).resolve().parents[2] / "shared" / "data" / "ml-1m"))
    parser.add_argument("--federation-config", default="num-supernodes=2 client-resources-num-cpus=1")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        overrides = {
            "dataset": "ml-1m",
            "data-dir": str(Path(args.data_dir).resolve()),
            "epochs": args.epochs,
            "results-dir": str(Path(scratch) / "results"),
            "run-name": "bench",
        }
        flower = flwr_run(overrides, Path(scratch) / "flwr-home", args.federation_config, timeout=3600)
        if flower.returncode != 0:
            print(flower.output)
            raise SystemExit(f"flwr run failed with exit code {flower.returncode}")
        run_dir = Path(scratch) / "results" / "bench"
        flower_summary = json.loads((run_dir / "summary.json").read_text())
        print("\n".join(line for line in flower.output.splitlines() if line.startswith(("epoch", "fedrec-arena"))))
    plain = run_plain(
        make_config({k: v for k, v in overrides.items() if k not in ("results-dir", "run-name")}), log=False
    )
    final = flower_summary["final"]
    print()
    print(f"{'':28}{'flower':>12}{'plain':>12}{'reference':>12}")
    for metric in ("recall@20", "ndcg@20", "recall@10", "ndcg@10", "er@20"):
        print(f"{metric:28}{final[metric]:>12.4f}{plain[metric]:>12.4f}{REFERENCE.get(metric, float('nan')):>12.4f}")
    print(f"{'wall time, whole flwr run (s)':28}{flower.wall_time_s:>12.1f}{plain['wall-time-s']:>12.1f}")
    print(f"{'wall time, ServerApp (s)':28}{flower_summary['wall-time-s']:>12.1f}")
    print(f"{'peak RSS (MB)':28}{flower.peak_rss_mb:>12.0f}{plain['peak-rss-mb']:>12.0f}")
    print(f"ratio flower/plain (whole run): {flower.wall_time_s / plain['wall-time-s']:.2f}")
    for metric, value in REFERENCE.items():
        print(f"{metric}: flower {final[metric]:.4f} vs reference {value} ({100 * (final[metric] / value - 1):+.1f}%)")


if __name__ == "__main__":
    main()
