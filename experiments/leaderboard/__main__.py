"""Run a leaderboard grid and write its page.

    python -m experiments.leaderboard experiments/leaderboard/grid.toml --data-dir /path/to/data --jobs 2
    python -m experiments.leaderboard experiments/leaderboard/grid.toml --datasets ml-100k --shard 0/2
    python -m experiments.leaderboard experiments/leaderboard/grid.toml --attacks none a-ra --defenses fedavg krum
    python -m experiments.leaderboard experiments/leaderboard/grid.toml --core --datasets steam --jobs 2
    python -m experiments.leaderboard experiments/leaderboard/grid.toml --table-only

The grid (experiments/leaderboard/grid.py) is datasets x attacks x defenses x seeds; every run is one
`flwr run` (experiments/run.py's runner) into `<results-dir>/<grid>/<dataset>/<attack>__<defense>__rho<rho>__seed<k>`.
Completed run folders are skipped, so the command resumes where it stopped; `--shard i/n` runs every n-th run
from the i-th (n workers, one shard each), `--attacks` and `--defenses` run only those rows and columns,
`--core` the grid's `core-attacks` x `core-defenses` (the page shows the whole grid and how complete its core
is), `--jobs` runs that many at a time (each run takes about one core),
each worker on its own SuperLink and Ray cluster kept up across its runs (harness/kept_runtime.py;
`--fresh-runtime` starts and stops them for every run).
`--data-dir` is the folder holding one folder per dataset named as its run-config `dataset` (`ml-100k/`,
`steam/`), the layout of the download cache, which is the default. Before the runs, each dataset's utility
without training (the popularity ranking and chance, per seed) is written beside its run folders
(experiments/leaderboard/baselines.py). Then the page (`--out`, by default
docs/leaderboard.md) is written from every completed run, with its heatmaps in `figures/leaderboard/` beside it.
"""

from pathlib import Path

from experiments.leaderboard.baselines import write_baselines
from experiments.leaderboard.grid import load_grid, planned_runs
from experiments.leaderboard.page import write_page
from experiments.run import PROJECT
from experiments.sweep import parse_shard, run_cells
from harness.arguments import add_data_dir, script_parser


def main() -> None:
    parser = script_parser(__spec__.name, __doc__)
    parser.add_argument("grid", type=Path, help="the grid's TOML")
    add_data_dir(parser, help_text="the folder of the datasets' folders; default: the download cache")
    parser.add_argument("--datasets", nargs="+", help="run only these datasets of the grid (the page shows all)")
    parser.add_argument("--attacks", nargs="+", help="run only these attacks of the grid (the page shows all)")
    parser.add_argument("--defenses", nargs="+", help="run only these defenses of the grid (the page shows all)")
    parser.add_argument(
        "--core", action="store_true", help="run only the grid's core-attacks x core-defenses (unless named above)"
    )
    parser.add_argument("--shard", default="0/1", help="i/n with 0 <= i < n: run only every n-th run from the i-th")
    parser.add_argument("--jobs", type=int, default=1, choices=(1, 2), help="runs at a time (one core each)")
    parser.add_argument("--results-dir", type=Path, default=PROJECT / "results" / "leaderboard")
    parser.add_argument("--out", type=Path, default=PROJECT / "docs" / "leaderboard.md")
    parser.add_argument("--federation-config", default="num-supernodes=2 client-resources-num-cpus=1")
    parser.add_argument("--table-only", action="store_true", help="only write the page from the run folders")
    parser.add_argument(
        "--fresh-runtime",
        action="store_true",
        help="start and stop a SuperLink and Ray for every run (default: one of each per worker, kept up)",
    )
    args = parser.parse_args()
    grid = load_grid(args.grid)
    unknown = sorted(set(args.datasets or ()) - {dataset.name for dataset in grid.datasets})
    if unknown:
        parser.error(f"--datasets: {', '.join(unknown)} not in the grid")
    choices = (("--attacks", args.attacks, grid.attacks), ("--defenses", args.defenses, grid.defenses))
    for option, chosen, known in choices:
        unknown = [name for name in chosen or () if name not in known]
        if unknown:
            parser.error(f"{option}: {', '.join(unknown)} not in the grid")
    if args.core:
        args.attacks = args.attacks or grid.core_attacks
        args.defenses = args.defenses or grid.core_defenses
    shard = parse_shard(args.shard)
    failed = []
    if not args.table_only:
        for dataset in grid.datasets:
            if not args.datasets or dataset.name in args.datasets:
                data_dir = str(Path(args.data_dir) / dataset.base["dataset"]) if args.data_dir else None
                write_baselines(dataset, grid.seeds, grid.results(args.results_dir, dataset), data_dir)
        planned = planned_runs(grid, args.results_dir, args.data_dir, args.datasets, args.attacks, args.defenses)
        failed = run_cells(planned, args.federation_config, shard, args.jobs, not args.fresh_runtime)
    print(write_page(grid, args.results_dir, args.out, args.grid))
    if failed:
        raise SystemExit(f"{len(failed)} runs did not complete: {', '.join(failed)}")


if __name__ == "__main__":
    main()
