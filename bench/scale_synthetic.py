"""Benchmark: one epoch on a synthetic federation of a million users, its time and peak memory.

The synthetic dataset (datasets/synthetic.py) with `--users` users and its default items and interactions
per user, NCF as in the paper's setting, one epoch with its evaluation. `--engine plain` runs the plain
loop in this process (peak RSS of this process); `--engine flower` runs the whole `flwr run` with two
simulated SuperNodes (peak memory of its process tree, summed RSS and summed PSS).

    python -m bench.scale_synthetic [--users 1000000] [--engine plain|flower] [--clients-per-round 256]
"""

import tempfile
import time
from pathlib import Path

from app_config import make_config
from harness.arguments import script_parser
from harness.flwr_local import flwr_run
from harness.plain_loop import run_plain


def main() -> None:
    parser = script_parser(__spec__.name, __doc__)
    parser.add_argument("--users", type=int, default=1_000_000)
    parser.add_argument("--engine", choices=("plain", "flower"), default="plain")
    parser.add_argument("--clients-per-round", type=int, default=256)
    parser.add_argument("--federation-config", default="num-supernodes=2 client-resources-num-cpus=1")
    args = parser.parse_args()
    settings = {
        "dataset": "synthetic",
        "synthetic-users": args.users,
        "clients-per-round": args.clients_per_round,
        "epochs": 1,
    }
    config = make_config(settings)
    print(
        f"{args.users} synthetic users, {config.synthetic_items} items, about {config.synthetic_interactions} "
        f"interactions each, {args.clients_per_round} clients per round, one epoch ({args.engine})",
        flush=True,
    )
    if args.engine == "plain":
        started = time.time()
        metrics = run_plain(config, log=False)
        print(f"plain loop: {time.time() - started:.1f} s, peak RSS {metrics['peak-rss-mb']:.0f} MB")
        print(f"recall@20 {metrics['recall@20']:.4f}")
        return
    with tempfile.TemporaryDirectory() as scratch:
        run = flwr_run(
            {**settings, "results-dir": str(Path(scratch) / "results"), "run-name": "scale"},
            Path(scratch) / "flwr-home",
            args.federation_config,
            timeout=7200,
        )
    if run.returncode != 0:
        print(run.output[-3000:])
        raise SystemExit(f"flwr run failed with exit code {run.returncode}")
    print("\n".join(line for line in run.output.splitlines() if line.startswith(("epoch", "fedrec-arena"))))
    print(
        f"Flower run: {run.wall_time_s:.1f} s, peak memory {run.peak_rss_mb:.0f} MB summed RSS, "
        f"{run.peak_pss_mb:.0f} MB summed PSS"
    )


if __name__ == "__main__":
    main()
