"""The provider's command line.

    python -m pretrained pretrain SETTINGS.toml --out backdoored.pt [--data-dir DIR]
    python -m pretrained audit SETTINGS.toml --checkpoint backdoored.pt [--data-dir DIR]

SETTINGS.toml holds run-config overrides (the README's keys; the same files `flwr run --run-config`
takes). `pretrain` trains on the provider's share of the users (`user-share = "provider"` is set for
it) and writes the checkpoint; `audit` measures a checkpoint's utility and target exposure, by user
group, on the users the settings select (by default the federation's share, i.e. data held out from
the provider) and prints them as JSON, with an exposure scan that
does not know the targets (pretrained/exposure_scan.py): the ten most suspicious items, and how many
of the checkpoint's own targets are among them. Bad input prints one line and exits with status 2.
"""

import argparse
import json
import sys
import tomllib
from pathlib import Path

from app_config import make_config
from datasets import load_dataset
from fedrec.errors import ConfigError
from fedrec.models.registry import build_model
from pretrained.checkpoint import load_checkpoint
from pretrained.exposure_scan import exposure_scan, scan_report
from pretrained.provider import audit, pretrain


def _config(settings: Path | None, data_dir: Path | None, **forced: str):  # noqa: ANN202 (a RunConfig)
    overrides = tomllib.loads(settings.read_text()) if settings else {}
    if data_dir is not None:
        overrides["data-dir"] = str(data_dir)
    return make_config(overrides, **forced)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m pretrained", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    commands = parser.add_subparsers(dest="command", required=True)
    make = commands.add_parser("pretrain", help="pre-train a (backdoored) checkpoint on the provider's users")
    make.add_argument("settings", type=Path, nargs="?")
    make.add_argument("--out", type=Path, required=True)
    make.add_argument("--data-dir", type=Path)
    check = commands.add_parser("audit", help="a checkpoint's utility and target exposure by user group")
    check.add_argument("settings", type=Path, nargs="?")
    check.add_argument("--checkpoint", type=Path, required=True)
    check.add_argument("--data-dir", type=Path)
    check.add_argument("--user-share", default="federation", choices=("all", "provider", "federation"))
    args = parser.parse_args(argv)
    try:
        if args.command == "pretrain":
            config = _config(args.settings, args.data_dir, user_share="provider")
            dataset = load_dataset(config)
            print(f"pretrained: {dataset.summary()}; backdoor {config.backdoor!r}", flush=True)
            checkpoint = pretrain(config, dataset)
            checkpoint.save(args.out)
            print(json.dumps({"checkpoint": str(args.out), **checkpoint.meta}))
        else:
            checkpoint = load_checkpoint(args.checkpoint, source="--checkpoint")
            config = _config(args.settings, args.data_dir, user_share=args.user_share)
            dataset = load_dataset(config)
            targets = tuple(checkpoint.meta["targets"])
            metrics = audit(config, dataset, checkpoint.theta, targets)
            scan = scan_report(exposure_scan(build_model(config), checkpoint.theta, dataset), targets)
            print(
                json.dumps(
                    {"checkpoint": str(args.checkpoint), **checkpoint.meta, "metrics": metrics, "exposure-scan": scan},
                    default=float,
                )
            )
    except (ConfigError, OSError, tomllib.TOMLDecodeError) as error:
        print(f"python -m pretrained: {error}", file=sys.stderr)
        raise SystemExit(2) from None


if __name__ == "__main__":
    main()
