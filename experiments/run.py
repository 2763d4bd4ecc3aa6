"""Run shipped experiment configs through `flwr run`, one results folder per config, resuming.

    python -m experiments.run experiments/configs/rq1-a-ra.toml --data-dir DIR      # one experiment
    python -m experiments.run experiments/configs/*.toml --data-dir DIR             # all; finished ones are skipped
    python -m experiments.run experiments/configs/rq1-a-ra.toml --seeds 1 2 3      # one run per seed

Each config holds run-config overrides (any key of the README's table) and, optionally, the key
`federation-config`: the simulation's `--federation-config` for that config's runs (e.g. one SuperNode),
which takes the place of this script's `--federation-config`. This script adds the data
location (`--data-dir`, the folder of the configs' dataset, e.g. MovieLens-1M's published split for the
RQ configs; without it the app's download cache) and the results folder, runs the app on a private
local SuperLink (two nodes, one CPU each) and stops it. Run it from the project's root: `flwr run`
builds the app from there.
Without `--seeds` a config runs once with its own seed (the `seed` key, else the app default) into
`<results-dir>/<config>`; with `--seeds` it runs once per seed into `<results-dir>/<config>__seed<k>`
(`python -m experiments.plot` reads both and aggregates over seeds).
Without the script, the same experiment is
`flwr run . --stream --run-config experiments/configs/rq1-a-ra.toml` plus `data-dir` in the file.
"""

import json
import shutil
import tempfile
import tomllib
from pathlib import Path

from experiments.seeds import seed_run_name
from harness.arguments import add_data_dir, script_parser
from harness.flwr_local import flwr_run
from harness.kept_runtime import KeptRuntime

PROJECT = Path(__file__).resolve().parents[1]
FEDERATION_CONFIG_KEY = "federation-config"  # a config's own federation, not a run-config key
RUN_TIMEOUT_S = 7200


def completed(folder: Path) -> bool:
    summary = folder / "summary.json"
    return summary.exists() and json.loads(summary.read_text()).get("status") == "completed"


def run_overrides(
    name: str, overrides: dict, results_dir: Path, federation: str, runtime: KeptRuntime | None = None
) -> Path:
    """One run named `name` under `results_dir`; skipped if a completed one is there, redone if not. It runs on
    `runtime` if given (a grid's SuperLink and Ray kept up across its runs), else on a fresh local SuperLink."""
    folder = results_dir / name
    if completed(folder):
        print(f"{name}: already completed, skipped ({folder})", flush=True)
        return folder
    if folder.exists():  # an interrupted earlier attempt: start it again from scratch
        shutil.rmtree(folder)
    results_dir.mkdir(parents=True, exist_ok=True)
    overrides = {**overrides, "results-dir": str(results_dir.resolve()), "run-name": name}
    if runtime is not None:
        run = runtime.run(overrides, federation, timeout=RUN_TIMEOUT_S)
    else:
        with tempfile.TemporaryDirectory() as flwr_home:
            run = flwr_run(overrides, Path(flwr_home), federation, timeout=RUN_TIMEOUT_S)
    if not completed(folder):
        print(run.output[-4000:])
        raise SystemExit(f"{name}: the run did not complete")
    print(f"{name}: completed in {run.wall_time_s:.0f}s -> {folder}", flush=True)
    return folder


def read_config(config_path: Path) -> tuple[dict, str | None]:
    """A shipped config's run-config overrides, and its own federation config if it sets one."""
    overrides = tomllib.loads(config_path.read_text())
    return overrides, overrides.pop(FEDERATION_CONFIG_KEY, None)


def run_one(
    config_path: Path, data_dir: str, results_dir: Path, federation: str, seeds: list[int] | None
) -> list[Path]:
    """The config's runs: one with its own seed, or one per seed of `seeds` (folders `<config>__seed<k>`).

    `data_dir` is the run-config data-dir unless the config sets its own; `federation` is the simulation's
    federation config unless the config sets its own (key `federation-config`).
    """
    overrides, own_federation = read_config(config_path)
    federation = own_federation or federation
    overrides.setdefault("data-dir", data_dir)
    if seeds is None:
        return [run_overrides(config_path.stem, overrides, results_dir, federation)]
    return [
        run_overrides(seed_run_name(config_path.stem, seed), overrides | {"seed": seed}, results_dir, federation)
        for seed in seeds
    ]


def main() -> None:
    parser = script_parser(__spec__.name, __doc__)
    parser.add_argument("configs", nargs="+", type=Path)
    add_data_dir(parser)
    parser.add_argument("--results-dir", type=Path, default=PROJECT / "results" / "experiments")
    parser.add_argument("--federation-config", default="num-supernodes=2 client-resources-num-cpus=1")
    parser.add_argument(
        "--seeds", type=int, nargs="+", help="run every config once per seed (default: once, with its own seed)"
    )
    args = parser.parse_args()
    missing = [str(path) for path in args.configs if not path.is_file()]
    if missing:
        parser.error(f"no such config: {', '.join(missing)}")
    for config_path in args.configs:
        run_one(config_path, args.data_dir, args.results_dir, args.federation_config, args.seeds)


if __name__ == "__main__":
    main()
