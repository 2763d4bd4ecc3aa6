"""Benchmark: the paper's setting on MovieLens-1M through Flower, a plain loop and (optionally) the reference code.

NCF (dim 8, MLP 8-8), BCE, 4 negatives, 256 clients per round, server sums gradients, SGD lr 0.001,
30 epochs with full-ranking evaluation after every epoch, on the published reference split
(`train.dat` and `test.dat` in `--data-dir`). One command, one after another on this machine:

- the Flower run: the whole `flwr run` (start-up included) and the ServerApp's own time;
- the plain loop (harness/plain_loop.py): the same math in one process, no Flower;
- with `--reference DIR`, PoisonFedDLRS's own code (its `main.py`, attack None, same split and epochs);
- with `--ml100k-dir DIR`, the cost of one leaderboard-sized cell: a whole 20-epoch ML-100K `flwr run`.

It prints their wall times and ratios, the simulation engine's floor (it polls for messages every 0.1 s,
so each message round costs at least that: 0.1 s x (train rounds + evaluation rounds)), the overhead
beyond it (Flower run - plain loop - floor) as a share of the plain loop, the plain loop's time per
epoch, and peak memory (the Flower run's process tree as summed RSS and summed PSS). The metrics of the
Flower run and the plain loop are printed beside the reference paper's; `--keep DIR` keeps the Flower run's
folder (metrics.csv) to compare bit for bit with another commit's. `--json PATH` writes every number.

    python -m bench.ml1m_flower_vs_plain --data-dir DIR [--epochs 30] [--reference DIR] [--ml100k-dir DIR]
"""

import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from app_config import make_config
from datasets.split_files import SPLIT_NAMES, has_split
from experiments.reference_runs import seeded_copy
from harness.arguments import add_data_dir, existing_dir, script_parser
from harness.flwr_local import FlwrRun, flwr_run
from harness.plain_loop import run_plain

#: The reference paper's epoch-30 numbers (Rong et al., IJCAI 2022) on this split.
REFERENCE = {"recall@20": 0.0233, "ndcg@20": 0.0403}
#: Flower's simulation engine takes new messages from its state every 0.1 s (flwr's vce_api).
ENGINE_POLL_S = 0.1
#: PoisonFedDLRS's own seed (its main.py).
REFERENCE_SEED = 20220110
FEDERATION = "num-supernodes=2 client-resources-num-cpus=1"


def _flower(overrides: dict[str, object], scratch: Path, name: str, federation: str) -> tuple[FlwrRun, dict]:
    results = scratch / f"results-{name}"
    run = flwr_run(
        {**overrides, "results-dir": str(results), "run-name": name}, scratch / f"home-{name}", federation, 3600
    )
    if run.returncode != 0:
        print(run.output)
        raise SystemExit(f"flwr run ({name}) failed with exit code {run.returncode}")
    folder = results / name
    config, summary = (json.loads((folder / file).read_text()) for file in ("config.json", "summary.json"))
    return run, {**config, **summary}


def _reference(code_dir: Path, data_dir: Path, epochs: int, scratch: Path) -> float:
    """Wall time of the reference code's run with no attack (its own default threads)."""
    code = seeded_copy(code_dir, data_dir, scratch / "reference", REFERENCE_SEED)
    command = [sys.executable, "-u", "main.py", "--dataset=ML", "--attack=None", f"--epochs={epochs}", "--device=cpu"]
    started = time.time()
    done = subprocess.run(command, cwd=code, capture_output=True, text=True, env=dict(os.environ), check=False)
    if done.returncode != 0:
        print(done.stdout[-2000:], done.stderr[-2000:])
        raise SystemExit(f"the reference code failed with exit code {done.returncode}")
    return time.time() - started


def main() -> None:
    parser = script_parser(__spec__.name, __doc__)
    parser.add_argument("--epochs", type=int, default=30)
    add_data_dir(parser, required=True, help_text="the folder of ML-1M's published split (train.dat, test.dat)")
    parser.add_argument("--federation-config", default=FEDERATION)
    parser.add_argument("--reference", type=existing_dir, metavar="DIR", help="PoisonFedDLRS's code: also time it")
    parser.add_argument("--ml100k-dir", type=existing_dir, metavar="DIR", help="ML-100K (u.data): time a grid cell")
    parser.add_argument("--keep", type=Path, metavar="DIR", help="copy the Flower run's folder here")
    parser.add_argument("--json", type=Path, metavar="PATH", help="write every number measured here")
    args = parser.parse_args()
    data_dir = Path(args.data_dir)
    if not has_split(data_dir):
        parser.error(f"--data-dir {data_dir}: no {' and '.join(SPLIT_NAMES)} (ML-1M's published split)")
    if args.reference and not (Path(args.reference) / "main.py").is_file():
        parser.error(f"--reference {args.reference}: no main.py (PoisonFedDLRS's code)")
    overrides = {"dataset": "ml-1m", "data-dir": str(data_dir), "epochs": args.epochs}
    out: dict[str, float] = {"epochs": args.epochs}
    with tempfile.TemporaryDirectory() as scratch_name:
        scratch = Path(scratch_name)
        flower, summary = _flower(overrides, scratch, "ml1m", args.federation_config)
        if args.keep:
            shutil.copytree(scratch / "results-ml1m" / "ml1m", args.keep, dirs_exist_ok=True)
        plain = run_plain(make_config(overrides), log=False)
        reference_s = _reference(Path(args.reference), data_dir, args.epochs, scratch) if args.reference else None
        cell = None
        if args.ml100k_dir:
            cell_overrides = {"dataset": "ml-100k", "data-dir": args.ml100k_dir, "epochs": 20}
            cell, _ = _flower(cell_overrides, scratch, "ml100k", args.federation_config)
    rounds = args.epochs * math.ceil(summary["num-users"] / summary["clients-per-round"])
    evaluations = args.epochs  # eval-every = 1
    floor = ENGINE_POLL_S * (rounds + evaluations)
    overhead = flower.wall_time_s - plain["wall-time-s"] - floor
    out.update(
        {
            "flower-s": flower.wall_time_s,
            "serverapp-s": summary["wall-time-s"],
            "plain-s": plain["wall-time-s"],
            "plain-s-per-epoch": plain["wall-time-s"] / args.epochs,
            "rounds": rounds,
            "evaluation-rounds": evaluations,
            "floor-s": floor,
            "overhead-s": overhead,
            "overhead-share-of-plain": overhead / plain["wall-time-s"],
            "flower-over-plain": flower.wall_time_s / plain["wall-time-s"],
            "flower-peak-rss-mb": flower.peak_rss_mb,
            "flower-peak-pss-mb": flower.peak_pss_mb,
            "plain-peak-rss-mb": plain["peak-rss-mb"],
        }
    )
    final = summary["final"]
    print(f"{'':32}{'flower':>12}{'plain':>12}{'paper':>12}")
    for metric in ("recall@20", "ndcg@20", "recall@10", "ndcg@10", "er@20"):
        print(f"{metric:32}{final[metric]:>12.4f}{plain[metric]:>12.4f}{REFERENCE.get(metric, float('nan')):>12.4f}")
        out[f"flower-{metric}"], out[f"plain-{metric}"] = final[metric], plain[metric]
    print()
    print(f"{'Flower run, whole flwr run':44}{flower.wall_time_s:>10.1f} s  (ServerApp {summary['wall-time-s']:.1f} s)")
    print(f"{'plain loop':44}{plain['wall-time-s']:>10.1f} s  ({out['plain-s-per-epoch']:.2f} s per epoch)")
    if reference_s is not None:
        out["reference-s"], out["flower-over-reference"] = reference_s, flower.wall_time_s / reference_s
        print(f"{'reference code (PoisonFedDLRS)':44}{reference_s:>10.1f} s")
    print(f"{'engine floor, 0.1 s x ' + f'{rounds} + {evaluations} rounds':44}{floor:>10.1f} s")
    share = f"{100 * out['overhead-share-of-plain']:.0f}% of the plain loop"
    print(f"{'overhead beyond it (flower - plain - floor)':44}{overhead:>10.1f} s  ({share})")
    print(f"ratio flower/plain: {out['flower-over-plain']:.2f}", end="")
    print(f"; flower/reference: {out['flower-over-reference']:.2f}" if reference_s is not None else "")
    print(
        f"peak memory: Flower run {flower.peak_rss_mb:.0f} MB summed RSS, {flower.peak_pss_mb:.0f} MB summed PSS; "
        f"plain loop {plain['peak-rss-mb']:.0f} MB RSS"
    )
    if cell is not None:
        out["ml100k-cell-s"], out["ml100k-cell-peak-pss-mb"] = cell.wall_time_s, cell.peak_pss_mb
        print(f"ML-100K grid cell (20 epochs, whole flwr run): {cell.wall_time_s:.1f} s")
    if args.json:
        args.json.write_text(json.dumps(out, indent=2) + "\n")


if __name__ == "__main__":
    main()
