"""Sweep a grid of attacks x defenses x rho x seeds from one TOML file; resumes where it stopped.

    python -m experiments.sweep experiments/sweeps/ml100k-defenses.toml [--seeds 1 2 3] [--data-dir DIR]
        [--results-dir DIR]

The TOML has `[base]` (run-config keys for every cell), `[grid]` (lists: attack, defense,
malicious-fraction, seed; `--seeds` replaces the seed list) and optional `[attack-settings.<attack>]`
(keys for that attack's cells). Every cell and seed is one `flwr run` (experiments/run.py's runner;
`--data-dir` is the folder of the sweep's dataset, by default the app's download cache)
into `<results-dir>/<sweep>/<attack>__<defense>__rho<rho>__seed<k>`; finished runs are skipped, and a run that
fails does not stop the others (the sweep exits with an error naming them at the end). The sweep writes, in
`<results-dir>/<sweep>/`:

- `sweep.csv`: one row per run (per seed): final Recall@10, NDCG@10, ER@10, detection
  precision/recall, the peak and last-5-epoch mean of Recall@10, wall time;
- `sweep-seeds.csv`: those metrics aggregated over seeds, one row per attack, defense, rho and
  metric: n, mean, std (sample, ddof = 1; empty for n = 1), min, max;
- `sweep.md`: attack x defense tables of `mean ± std (n=k)` per metric and rho;
- `heatmap-<metric>.png`: attack x defense, the mean over seeds, one panel per rho, n in the title;
- `curves-recallat10.png`: Recall@10 over epochs per attack and defense, the mean over seeds as a
  line and their min–max as a band.
"""

import itertools
import json
import threading
import tomllib
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.axes import Axes  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from experiments.run import PROJECT, completed, run_overrides  # noqa: E402
from experiments.seeds import (  # noqa: E402
    BAND_CAPTION,
    aggregate,
    describe_n,
    format_cell,
    plot_mean_band,
    seed_curves,
    seed_run_name,
)
from harness.arguments import add_data_dir, script_parser  # noqa: E402
from harness.kept_runtime import KeptRuntime  # noqa: E402

METRICS = (
    "recall@10",
    "ndcg@10",
    "er@10",
    "detection-precision",
    "detection-recall",
    "recall@10-max",
    "recall@10-last5",
    "ndcg@10-last5",
)
#: The keys of a table cell; the seed is what a cell aggregates over.
CELL_KEYS = ("attack", "defense", "malicious-fraction")
GRID_KEYS = (*CELL_KEYS, "seed")
CURVE_METRIC = "recall@10"
#: How often `run_cells` starts a run that leaves no folder (a bad setting fails as fast each time).
STARTS = 5
#: (cell, summary.json, metrics.csv) of a completed run.
Run = tuple[dict, dict, pd.DataFrame]


@dataclass(frozen=True)
class CellRun:
    """One `flwr run` of a grid: its folder's name, its run-config overrides and the folder it goes in."""

    name: str
    overrides: dict
    results: Path


def parse_shard(text: str) -> tuple[int, int]:
    """`i/n` -> (i, n), with 0 <= i < n; anything else is one clear error line."""
    index, slash, count = text.partition("/")
    if not (slash and index.isdigit() and count.isdigit() and 0 <= int(index) < int(count)):
        raise SystemExit(f"--shard {text}: expected i/n with 0 <= i < n (e.g. 0/2)")
    return int(index), int(count)


def run_cells(
    planned: list[CellRun],
    federation: str,
    shard: tuple[int, int] = (0, 1),
    jobs: int = 1,
    keep_runtime: bool = True,
) -> list[str]:
    """Run the shard's share of `planned` (every n-th from the i-th), `jobs` at a time, skipping completed
    folders (experiments/run.py `run_overrides`); returns the names of the runs that did not complete.

    With `keep_runtime` each of the `jobs` workers runs its runs on its own SuperLink and Ray cluster, kept up
    from its first run to the end (harness/kept_runtime.py: the same numbers, without a start-up per run);
    without, every run starts and stops its own, as `flwr run .` alone does.

    A failed run does not stop the others: a grid runs unattended for hours, and its tables show the
    failure in its cell. A run that never started (no folder) is started again, up to STARTS times in all:
    on a busy machine `flwr run` gives up when its local SuperLink takes more than 15 s to come up.
    """
    index, count = shard
    mine = [(number, run) for number, run in enumerate(planned, 1) if (number - 1) % count == index]
    worker = threading.local()
    runtimes: list[KeptRuntime] = []

    def runtime() -> KeptRuntime | None:
        if keep_runtime and not hasattr(worker, "runtime"):
            worker.runtime = KeptRuntime()
            runtimes.append(worker.runtime)
        return getattr(worker, "runtime", None)

    def attempt(number: int, run: CellRun) -> str | None:
        if completed(run.results / run.name):  # no runtime is started for a grid that is already done
            print(f"{run.name}: already completed, skipped ({run.results / run.name})", flush=True)
            return None
        for _ in range(STARTS):
            print(f"[{number}/{len(planned)}] {run.name}: starting", flush=True)
            try:
                run_overrides(run.name, run.overrides, run.results, federation, runtime())
                return None
            except SystemExit as failure:  # run_overrides' verdict on a run that did not complete
                print(failure, flush=True)
                if (run.results / run.name).exists():  # it ran and failed: a result, not a hiccup
                    break
        return str(run.results / run.name)

    try:
        with ThreadPoolExecutor(max_workers=jobs) as pool:  # each flwr run is its own process tree
            outcomes = list(pool.map(lambda item: attempt(*item), mine))
    finally:
        for kept in runtimes:
            kept.close()
    return [name for name in outcomes if name]


def cells(spec: dict) -> list[dict]:
    grid = spec["grid"]
    out = []
    for values in itertools.product(*(grid[key] for key in GRID_KEYS)):
        cell = dict(zip(GRID_KEYS, values))
        out.append({**spec.get("base", {}), **spec.get("attack-settings", {}).get(cell["attack"], {}), **cell})
    return out


def cell_name(cell: dict) -> str:
    defense = cell["defense"].replace(":", "-")
    return seed_run_name(f"{cell['attack']}__{defense}__rho{cell['malicious-fraction']}", cell["seed"])


def load_runs(results: Path, all_cells: list[dict]) -> list[Run]:
    """Every completed run of the grid."""
    runs = []
    for cell in all_cells:
        folder = results / cell_name(cell)
        if completed(folder):
            runs.append((cell, json.loads((folder / "summary.json").read_text()), pd.read_csv(folder / "metrics.csv")))
    return runs


def table(runs: list[Run]) -> pd.DataFrame:
    """One row per run: its grid keys (seed included), METRICS and wall time."""
    rows = []
    for cell, summary, epochs in runs:
        # Peak and late average next to the final value: a single last epoch can catch a transient dip.
        final = summary["final"] | {
            "recall@10-max": epochs["recall@10"].max(),
            "recall@10-last5": epochs["recall@10"].tail(5).mean(),
            "ndcg@10-last5": epochs["ndcg@10"].tail(5).mean(),
        }
        rows.append(
            {key: cell[key] for key in GRID_KEYS}
            | {metric: final.get(metric, np.nan) for metric in METRICS}
            | {"wall-time-s": summary["wall-time-s"]}
        )
    return pd.DataFrame(rows, columns=[*GRID_KEYS, *METRICS, "wall-time-s"])


def seed_table(frame: pd.DataFrame) -> pd.DataFrame:
    """`table`'s rows aggregated over seeds per attack, defense and rho (experiments/seeds.py `aggregate`)."""
    return aggregate(frame, CELL_KEYS, METRICS)


def _grids(aggregated: pd.DataFrame, attacks: list[str], defenses: list[str]) -> list[tuple[str, float, pd.DataFrame]]:
    """(metric, rho, rows indexed by attack and defense) for every metric that some run reports."""
    out = []
    for (metric, rho), rows in aggregated.groupby(["metric", "malicious-fraction"], sort=False):
        if rows["n"].sum() == 0:
            continue
        grid = rows.set_index(["attack", "defense"]).reindex(pd.MultiIndex.from_product([attacks, defenses]))
        out.append((metric, rho, grid.fillna({"n": 0})))
    order = {metric: i for i, metric in enumerate(METRICS)}
    return sorted(out, key=lambda item: (order[item[0]], item[1]))


def annotated_heatmap(
    figure: Figure, axis: Axes, values: np.ndarray, rows: list[str], columns: list[str], title: str
) -> None:
    """`values` [rows, columns] as a viridis image with each value written in its square (NaN: left blank)."""
    image = axis.imshow(values, cmap="viridis", aspect="auto")
    axis.set_xticks(range(len(columns)), columns, rotation=45, ha="right")
    axis.set_yticks(range(len(rows)), rows)
    axis.set_title(title, fontsize=9)
    if np.isnan(values).all():
        return
    middle = (np.nanmin(values) + np.nanmax(values)) / 2
    for (i, j), value in np.ndenumerate(values):
        if not np.isnan(value):  # dark text on the bright end of viridis, light on the dark end
            colour = "black" if value > middle else "white"
            axis.text(j, i, f"{value:.3f}", ha="center", va="center", color=colour, fontsize=8)
    figure.colorbar(image, ax=axis, fraction=0.04)


def heatmaps(aggregated: pd.DataFrame, out: Path, attacks: list[str], defenses: list[str]) -> list[Path]:
    written = []
    grids = _grids(aggregated, attacks, defenses)
    for metric in dict.fromkeys(metric for metric, _, _ in grids):
        panels = [(rho, grid) for m, rho, grid in grids if m == metric]
        size = (1.2 * len(defenses) * len(panels) + 2, 0.6 * len(attacks) + 2)
        figure, axes = plt.subplots(1, len(panels), figsize=size, squeeze=False)
        for axis, (rho, grid) in zip(axes[0], panels):
            values = grid["mean"].to_numpy(dtype=float).reshape(len(attacks), len(defenses))
            title = f"{metric} (rho = {rho}), mean over seeds, {describe_n(grid['n'])}"
            annotated_heatmap(figure, axis, values, attacks, defenses, title)
        figure.tight_layout()
        path = out / f"heatmap-{metric.replace('@', 'at')}.png"
        figure.savefig(path, dpi=100)
        plt.close(figure)
        written.append(path)
    return written


def curves(runs: list[Run], out: Path, attacks: list[str], defenses: list[str]) -> Path:
    """CURVE_METRIC over epochs, one panel per rho and attack, one mean line with a min–max band per defense."""
    rhos = sorted({cell["malicious-fraction"] for cell, _, _ in runs})
    figure, axes = plt.subplots(
        len(rhos),
        len(attacks),
        figsize=(4.5 * len(attacks), 3.6 * len(rhos) + 0.4),
        squeeze=False,
        sharey=True,
    )
    for row, rho in zip(axes, rhos):
        for axis, attack in zip(row, attacks):
            for defense in defenses:
                tables = {
                    cell["seed"]: epochs
                    for cell, _, epochs in runs
                    if (cell["attack"], cell["defense"], cell["malicious-fraction"]) == (attack, defense, rho)
                }
                if tables:
                    plot_mean_band(axis, seed_curves(tables, CURVE_METRIC), defense)
            axis.set(title=f"attack {attack}, rho = {rho}", xlabel="epoch")
            axis.grid(alpha=0.3)
            if axis.lines:  # a panel of an attack with no finished run yet
                axis.legend(fontsize=7)
        row[0].set_ylabel(CURVE_METRIC)
    figure.suptitle(f"{CURVE_METRIC} over epochs ({BAND_CAPTION})", fontsize=10)
    figure.tight_layout()
    path = out / f"curves-{CURVE_METRIC.replace('@', 'at')}.png"
    figure.savefig(path, dpi=100)
    plt.close(figure)
    return path


def markdown(aggregated: pd.DataFrame, attacks: list[str], defenses: list[str]) -> str:
    """One attack x defense table per metric and rho, each cell `mean ± std (n=k)` over seeds, for the docs."""
    parts = [
        "Each cell: mean ± sample std (ddof = 1) over seeds (n=k); the std of a single seed is –; "
        "– alone: no value (not run, or a metric the rule does not report)."
    ]
    for metric, rho, grid in _grids(aggregated, attacks, defenses):
        header = f"| {metric}, rho = {rho} | " + " | ".join(defenses) + " |"
        rule = "|---|" + "---|" * len(defenses)
        rows = [
            f"| {attack} | "
            + " | ".join(format_cell(c["mean"], c["std"], int(c["n"])) for _, c in cells.iterrows())
            + " |"
            for attack, cells in grid.groupby(level=0, sort=False)
        ]
        parts.append("\n".join([header, rule, *rows]))
    return "\n\n".join(parts) + "\n"


def main() -> None:
    parser = script_parser(__spec__.name, __doc__)
    parser.add_argument("spec", type=Path)
    parser.add_argument("--seeds", type=int, nargs="+", help="run these seeds instead of the grid's seed list")
    add_data_dir(parser)
    parser.add_argument("--results-dir", type=Path, default=PROJECT / "results" / "sweeps")
    parser.add_argument("--federation-config", default="num-supernodes=2 client-resources-num-cpus=1")
    parser.add_argument("--table-only", action="store_true", help="only rebuild the tables and figures")
    parser.add_argument(
        "--shard", default="0/1", help="i/n with 0 <= i < n: run only every n-th cell from the i-th (parallel workers)"
    )
    parser.add_argument(
        "--fresh-runtime",
        action="store_true",
        help="start and stop a SuperLink and Ray for every run (default: one of each per worker, kept up)",
    )
    args = parser.parse_args()
    spec = tomllib.loads(args.spec.read_text())
    if args.seeds:
        spec["grid"]["seed"] = args.seeds
    results = args.results_dir / args.spec.stem
    all_cells = cells(spec)
    shard = parse_shard(args.shard)
    failed = []
    if not args.table_only:
        data = {"data-dir": args.data_dir} if args.data_dir else {}
        planned = [CellRun(cell_name(cell), dict(cell) | data, results) for cell in all_cells]
        failed = run_cells(planned, args.federation_config, shard, keep_runtime=not args.fresh_runtime)
    runs = load_runs(results, all_cells)
    attacks, defenses = spec["grid"]["attack"], spec["grid"]["defense"]
    frame = table(runs)
    aggregated = seed_table(frame)
    results.mkdir(parents=True, exist_ok=True)
    frame.to_csv(results / "sweep.csv", index=False)
    aggregated.to_csv(results / "sweep-seeds.csv", index=False)
    text = markdown(aggregated, attacks, defenses) if runs else ""
    (results / "sweep.md").write_text(text)
    written = []
    if runs:
        written = [*heatmaps(aggregated, results, attacks, defenses), curves(runs, results, attacks, defenses)]
    print(text)
    print("\n".join(str(path) for path in [results / "sweep.csv", results / "sweep-seeds.csv", *written]))
    if failed:
        raise SystemExit(f"{len(failed)} runs did not complete: {', '.join(failed)}")


if __name__ == "__main__":
    main()
