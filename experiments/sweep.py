"""Sweep a grid of attacks x defenses x rho x seeds from one TOML file; resumes where it stopped.

    python experiments/sweep.py experiments/sweeps/ml100k-defenses.toml [--data-dir DIR] [--results-dir DIR]

The TOML has `[base]` (run-config keys for every cell), `[grid]` (lists: attack, defense,
malicious-fraction, seed) and optional `[attack-settings.<attack>]` (keys for that attack's
cells). Every cell is one `flwr run` (experiments/run.py's runner); finished cells are skipped. The
sweep writes `<results-dir>/<sweep>/sweep.csv` (one row per cell: final Recall@10, NDCG@10, ER@10,
detection precision/recall, the peak and last-5-epoch mean of Recall@10, wall time), `sweep.md` (the same as attack x defense tables) and
`heatmap-<metric>.png` (attack x defense, mean over seeds, one panel per rho).
"""

import argparse
import itertools
import json
import sys
import tomllib
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from experiments.run import PROJECT, completed, run_overrides  # noqa: E402

DATA = PROJECT.parent / "shared" / "data"
METRICS = (
    "recall@10", "ndcg@10", "er@10", "detection-precision", "detection-recall",
    "recall@10-max", "recall@10-last5", "ndcg@10-last5",
)
GRID_KEYS = ("attack", "defense", "malicious-fraction", "seed")


def cells(spec: dict) -> list[dict]:
    grid = spec["grid"]
    out = []
    for values in itertools.product(*(grid[key] for key in GRID_KEYS)):
        cell = dict(zip(GRID_KEYS, values))
        out.append({**spec.get("base", {}), **spec.get("attack-settings", {}).get(cell["attack"], {}), **cell})
    return out


def cell_name(cell: dict) -> str:
    return f"{cell['attack']}__{cell['defense'].replace(':', '-')}__rho{cell['malicious-fraction']}__seed{cell['seed']}"


def table(results: Path, all_cells: list[dict]) -> pd.DataFrame:
    rows = []
    for cell in all_cells:
        folder = results / cell_name(cell)
        if not completed(folder):
            continue
        final = json.loads((folder / "summary.json").read_text())["final"]
        epochs = pd.read_csv(folder / "metrics.csv")
        # Peak and late average next to the final value: a single last epoch can catch a transient dip.
        final |= {
            "recall@10-max": epochs["recall@10"].max(),
            "recall@10-last5": epochs["recall@10"].tail(5).mean(),
            "ndcg@10-last5": epochs["ndcg@10"].tail(5).mean(),
        }
        rows.append(
            {key: cell[key] for key in GRID_KEYS}
            | {metric: final.get(metric, np.nan) for metric in METRICS}
            | {"wall-time-s": json.loads((folder / "summary.json").read_text())["wall-time-s"]}
        )
    return pd.DataFrame(rows)


def heatmaps(frame: pd.DataFrame, out: Path, attacks: list[str], defenses: list[str]) -> list[Path]:
    written = []
    rhos = sorted(frame["malicious-fraction"].unique())
    for metric in METRICS:
        if frame[metric].isna().all():
            continue
        figure, axes = plt.subplots(1, len(rhos), figsize=(1.2 * len(defenses) * len(rhos) + 2, 0.6 * len(attacks) + 2), squeeze=False)
        for axis, rho in zip(axes[0], rhos):
            grid = (
                frame[frame["malicious-fraction"] == rho]
                .groupby(["attack", "defense"])[metric].mean()
                .unstack("defense")
                .reindex(index=attacks, columns=defenses)
            )
            values = grid.to_numpy(dtype=float)
            image = axis.imshow(values, cmap="viridis", aspect="auto")
            middle = (np.nanmin(values) + np.nanmax(values)) / 2 if not np.isnan(values).all() else 0.0
            axis.set_xticks(range(len(defenses)), defenses, rotation=45, ha="right")
            axis.set_yticks(range(len(attacks)), attacks)
            for (i, j), value in np.ndenumerate(values):
                if not np.isnan(value):  # dark text on the bright end of viridis, light on the dark end
                    colour = "black" if value > middle else "white"
                    axis.text(j, i, f"{value:.3f}", ha="center", va="center", color=colour, fontsize=8)
            axis.set_title(f"{metric} (rho = {rho})")
            figure.colorbar(image, ax=axis, fraction=0.04)
        figure.tight_layout()
        path = out / f"heatmap-{metric.replace('@', 'at')}.png"
        figure.savefig(path, dpi=100)
        plt.close(figure)
        written.append(path)
    return written


def markdown(frame: pd.DataFrame, attacks: list[str], defenses: list[str]) -> str:
    """One attack x defense table per metric (mean over seeds and rho), for the docs."""
    parts = []
    for metric in METRICS:
        if frame[metric].isna().all():
            continue
        grid = frame.groupby(["attack", "defense"])[metric].mean().unstack("defense").reindex(index=attacks, columns=defenses)
        header = f"| {metric} | " + " | ".join(defenses) + " |"
        rule = "|---|" + "---|" * len(defenses)
        rows = [
            f"| {attack} | " + " | ".join("–" if np.isnan(v) else f"{v:.4f}" for v in grid.loc[attack].to_numpy(dtype=float)) + " |"
            for attack in attacks
        ]
        parts.append("\n".join([header, rule, *rows]))
    return "\n\n".join(parts) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("spec", type=Path)
    parser.add_argument("--data-dir", type=Path, help="default: the machine's copy of the sweep's dataset")
    parser.add_argument("--results-dir", type=Path, default=PROJECT / "docs" / "sweeps")
    parser.add_argument("--federation-config", default="num-supernodes=2 client-resources-num-cpus=1")
    parser.add_argument("--table-only", action="store_true", help="only rebuild the table and heatmaps")
    parser.add_argument("--shard", default="0/1", help="i/n with 0 <= i < n: run only every n-th cell from the i-th (parallel workers)")
    args = parser.parse_args()
    spec = tomllib.loads(args.spec.read_text())
    results = args.results_dir / args.spec.stem
    all_cells = cells(spec)
    shard, shards = (int(part) for part in args.shard.split("/"))
    if not 0 <= shard < shards:
        raise SystemExit(f"--shard {args.shard}: the shard index runs from 0 to {shards - 1}")
    if not args.table_only:
        for number, cell in enumerate(all_cells, 1):
            if (number - 1) % shards != shard:
                continue
            dataset = cell.get("dataset", "synthetic")
            data_dir = args.data_dir or (DATA / dataset if dataset != "synthetic" else None)
            overrides = dict(cell) | ({"data-dir": str(Path(data_dir).resolve())} if data_dir else {})
            print(f"[{number}/{len(all_cells)}] ", end="", flush=True)
            run_overrides(cell_name(cell), overrides, results, args.federation_config)
    frame = table(results, all_cells)
    frame.to_csv(results / "sweep.csv", index=False)
    (results / "sweep.md").write_text(markdown(frame, spec["grid"]["attack"], spec["grid"]["defense"]) if len(frame) else "")
    written = heatmaps(frame, results, spec["grid"]["attack"], spec["grid"]["defense"]) if len(frame) else []
    print(frame.to_string(index=False))
    print("\n".join(str(path) for path in [results / "sweep.csv", *written]))


if __name__ == "__main__":
    main()
