"""How long the provider's pre-training takes: each backdoor on ML-100K's provider half, timed.

    python bench/pretraining.py --data-dir ../shared/data/ml-100k
    python bench/pretraining.py --data-dir ../shared/data/ml-100k --backdoors none --threads 1

Runs `pretrained.provider.pretrain` (what `python -m pretrained pretrain` runs) with the settings of
experiments/pretrained/ml100k-base.toml and each backdoor, and prints the wall time, the epochs of every
stage and the seconds per epoch. Nothing is written. Timings depend on the machine's load: run it alone.
"""

import argparse
import sys
import time
import tomllib
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from app_config import make_config  # noqa: E402
from datasets import load_dataset  # noqa: E402
from pretrained.provider import pretrain  # noqa: E402

PROJECT = Path(__file__).resolve().parents[1]
BASE = PROJECT / "experiments" / "pretrained" / "ml100k-base.toml"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", type=Path, default=PROJECT.parent / "shared" / "data" / "ml-100k")
    parser.add_argument("--backdoors", nargs="+", default=["none", "basic-replacement", "prompt-enhanced"])
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    base = tomllib.loads(BASE.read_text())
    for backdoor in args.backdoors:
        settings = {**base, "backdoor": backdoor, "user-share": "provider", "data-dir": str(args.data_dir)}
        config = make_config(settings)
        dataset = load_dataset(config)
        started = time.perf_counter()
        checkpoint = pretrain(config, dataset)
        wall = time.perf_counter() - started
        epochs = sum(checkpoint.meta["stage-epochs"].values())
        print(
            f"{backdoor}: {dataset.num_users} provider users, {epochs} epochs in {wall:.1f} s "
            f"({wall / max(epochs, 1):.2f} s/epoch, {args.threads} thread(s)); stages {checkpoint.meta['stage-epochs']}",
            flush=True,
        )


if __name__ == "__main__":
    main()
