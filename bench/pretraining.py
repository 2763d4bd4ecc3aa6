"""How long the provider's pre-training takes: each backdoor on ML-100K's provider half, timed.

    python -m bench.pretraining [--data-dir DIR]
    python -m bench.pretraining [--data-dir DIR] --backdoors none --threads 1

Runs `pretrained.provider.pretrain` (what `python -m pretrained pretrain` runs) with the settings of
experiments/pretrained/ml100k-base.toml and each backdoor, and prints the wall time, the epochs of every
stage and the seconds per epoch. Nothing is written. Timings depend on the machine's load: run it alone.
"""

import time
import tomllib
from importlib import resources

import torch

from app_config import make_config
from datasets import load_dataset
from harness.arguments import add_data_dir, one_line_errors, script_parser
from pretrained.provider import pretrain

BASE = resources.files("experiments") / "pretrained" / "ml100k-base.toml"


def main() -> None:
    parser = script_parser(__spec__.name, __doc__)
    add_data_dir(parser)
    parser.add_argument("--backdoors", nargs="+", default=["none", "basic-replacement", "prompt-enhanced"])
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    base = tomllib.loads(BASE.read_text())
    with one_line_errors(parser):
        for backdoor in args.backdoors:
            settings = {**base, "backdoor": backdoor, "user-share": "provider", "data-dir": args.data_dir}
            config = make_config(settings)
            dataset = load_dataset(config)
            started = time.perf_counter()
            checkpoint = pretrain(config, dataset)
            wall = time.perf_counter() - started
            stages = checkpoint.meta["stage-epochs"]
            epochs = sum(stages.values())
            print(
                f"{backdoor}: {dataset.num_users} provider users, {epochs} epochs in {wall:.1f} s "
                f"({wall / max(epochs, 1):.2f} s/epoch, {args.threads} thread(s)); stages {stages}",
                flush=True,
            )


if __name__ == "__main__":
    main()
