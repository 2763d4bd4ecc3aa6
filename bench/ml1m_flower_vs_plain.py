"""Benchmark: the paper's setting on MovieLens-1M through Flower vs a plain PyTorch loop.

NCF (dim 8, MLP 8-8), BCE, 4 negatives, 256 clients per round, server sums gradients, SGD lr 0.001,
30 epochs with full-ranking evaluation after every epoch, on the published reference split
(`train.dat` and `test.dat` in `--data-dir`). Prints both wall times, their ratio, peak memory and
the epoch-30 metrics next to the reference implementation's (recall@20 0.0233, NDCG@20 0.0403).

    python -m bench.ml1m_flower_vs_plain --data-dir DIR [--epochs 30]
"""

import json
import tempfile
from pathlib import Path

from app_config import make_config
from datasets.split_files import SPLIT_NAMES, has_split
from harness.arguments import add_data_dir, script_parser
from harness.flwr_local import flwr_run
from harness.plain_loop import run_plain

REFERENCE = {"recall@20": 0.0233, "ndcg@20": 0.0403}


def main() -> None:
    parser = script_parser(__spec__.name, __doc__)
    parser.add_argument("--epochs", type=int, default=30)
    add_data_dir(parser, required=True, help_text="the folder of ML-1M's published split (train.dat, test.dat)")
    parser.add_argument("--federation-config", default="num-supernodes=2 client-resources-num-cpus=1")
    args = parser.parse_args()
    if not has_split(Path(args.data_dir)):
        parser.error(f"--data-dir {args.data_dir}: no {' and '.join(SPLIT_NAMES)} (ML-1M's published split)")
    with tempfile.TemporaryDirectory() as scratch:
        overrides = {
            "dataset": "ml-1m",
            "data-dir": args.data_dir,
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
