"""A run's results folder: resolved config, per-epoch metrics, summary, and plots.

Each epoch's row is appended to `metrics.csv` and flushed as soon as it is known, so a run that
crashes keeps every epoch already evaluated; `finish` (called from a `finally`) writes the summary
and plots from whatever is on disk, with the run's status.
"""

import csv
import json
import os
import time
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # files only; runs have no display
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

from fedrec.config import RunConfig  # noqa: E402

METRICS_CSV = "metrics.csv"
UPDATE_NORMS_CSV = "update-norms.csv"
TARGET_PUSHES_CSV = "target-pushes.csv"
SUMMARY_JSON = "summary.json"
#: Per-epoch counts of what the federation lost (see strategies/base.py); the summary carries their totals.
FAILURE_COLUMNS = ("failed-replies", "missed-users")
CONFIG_JSON = "config.json"


def default_run_name(config: RunConfig) -> str:
    stamp = time.strftime("%Y%m%d-%H%M%S")
    return f"{stamp}_{config.dataset}_{config.model}_{config.attack}_{config.defense}_seed{config.seed}"


class RunRecorder:
    """Writes one run's folder under `results-dir`."""

    def __init__(self, config: RunConfig, extra: dict[str, Any]) -> None:
        name = config.run_name or default_run_name(config)
        self.path = Path(config.results_dir) / name
        suffix = 1
        while self.path.exists():
            suffix += 1
            self.path = Path(config.results_dir) / f"{name}-{suffix}"
        self.path.mkdir(parents=True)
        self.config = config
        self.started = time.time()
        self._columns: list[str] | None = None
        (self.path / CONFIG_JSON).write_text(json.dumps({**config.as_dict(), **extra}, indent=2) + "\n")

    def elapsed(self) -> float:
        return time.time() - self.started

    def record_epoch(self, epoch: int, metrics: dict[str, float]) -> None:
        row = {
            "epoch": epoch,
            "elapsed-s": round(self.elapsed(), 3),
            **{k: v for k, v in metrics.items() if k != "epoch"},
        }
        if self._columns is None:
            self._columns = list(row)
        new = [column for column in row if column not in self._columns]
        if new:  # e.g. a rule's detection rates, from epoch 1 of a run whose epoch 0 evaluated a checkpoint untrained
            self._columns += new
            _widen(self.path / METRICS_CSV, self._columns)
        _append_row(self.path / METRICS_CSV, self._columns, row)

    def record_update_norms(self, epoch: int, group: str, stats: dict[str, float], count: int) -> None:
        """One row of `update-norms.csv`: quartiles of the L2 norms of a group's updates in an epoch."""
        row = {"epoch": epoch, "group": group, "updates": count, **stats}
        _append_row(self.path / UPDATE_NORMS_CSV, list(row), row)

    def record_target_push(self, epoch: int, push: dict[str, Any]) -> None:
        """One row of `target-pushes.csv`: how one group's uploads moved the target rows in an epoch."""
        row = {"epoch": epoch, **push}
        _append_row(self.path / TARGET_PUSHES_CSV, list(row), row)

    def record_json(self, name: str, content: dict[str, Any]) -> None:
        """A JSON file of the run's folder (e.g. an audit made before training); NumPy scalars as Python numbers."""
        (self.path / name).write_text(json.dumps(content, indent=2, default=_python_number) + "\n")

    def finish(self, status: str, error: str = "", extra: dict[str, Any] | None = None) -> dict[str, Any]:
        """Write `summary.json` (status, epochs, wall time, final metrics, failure totals, `extra`) and the plots."""
        table = self.read_metrics()
        summary: dict[str, Any] = {
            "status": status,
            "epochs-completed": int(table["epoch"].max()) if len(table) else 0,
            "wall-time-s": round(self.elapsed(), 2),
            "final": table.iloc[-1].to_dict() if len(table) else {},
        }
        for column in FAILURE_COLUMNS:
            if column in table:
                summary[f"{column}-total"] = int(table[column].sum())
        if error:
            summary["error"] = error
        summary.update(extra or {})
        (self.path / SUMMARY_JSON).write_text(json.dumps(summary, indent=2) + "\n")
        if len(table):
            plot_metrics(table, self.path, self.config.top_k)
        return summary

    def read_metrics(self) -> pd.DataFrame:
        csv_path = self.path / METRICS_CSV
        return pd.read_csv(csv_path) if csv_path.exists() else pd.DataFrame()


def _python_number(value: Any) -> Any:
    """A NumPy scalar (an item id, a count, a score) as the Python number it holds, for JSON."""
    return value.item() if hasattr(value, "item") else float(value)


def _widen(path: Path, columns: list[str]) -> None:
    """Rewrite the CSV under the `columns` header, the earlier rows' cells of the new columns empty."""
    with open(path, newline="") as handle:
        rows = list(csv.DictReader(handle))
    temporary = path.with_suffix(".tmp")
    with open(temporary, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows)
        handle.flush()
        os.fsync(handle.fileno())
    temporary.replace(path)  # atomic: a crash leaves the old file or the new one whole


def _append_row(path: Path, columns: list[str], row: dict[str, Any]) -> None:
    """Append and flush one CSV row (header first), so it survives a crash right after."""
    with open(path, "a", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns)
        if handle.tell() == 0:
            writer.writeheader()
        writer.writerow(row)
        handle.flush()
        os.fsync(handle.fileno())


def plot_metrics(table: pd.DataFrame, folder: Path, ks: tuple[int, ...]) -> list[Path]:
    """`exposure.png` (ER@K over epochs; per user group when the run has `target-group`: the group solid,
    the rest dashed) and `utility.png` (Recall@K and NDCG@K over epochs)."""
    written = []
    grouped = any(f"group/er@{k}" in table for k in ks)
    exposure = ("er", "ER@K of target items" + (": target group (solid), the rest (dashed)" if grouped else ""))
    panels = [("exposure.png", [exposure]), ("utility.png", [("recall", "Recall@K"), ("ndcg", "NDCG@K")])]
    for filename, metrics in panels:
        if not any(f"{metric}@{k}" in table for metric, _ in metrics for k in ks):
            continue
        figure, axes = plt.subplots(1, len(metrics), figsize=(5.5 * len(metrics), 4), squeeze=False)
        for axis, (metric, title) in zip(axes[0], metrics):
            for k in ks:
                column = f"{metric}@{k}"
                if metric == "er" and grouped:
                    (line,) = axis.plot(
                        table["epoch"], table[f"group/{column}"], marker="o", markersize=3, label=f"K={k}"
                    )
                    axis.plot(table["epoch"], table[f"rest/{column}"], linestyle="--", color=line.get_color())
                elif column in table:
                    axis.plot(table["epoch"], table[column], marker="o", markersize=3, label=f"K={k}")
            axis.set(title=title, xlabel="epoch", ylabel=metric)
            axis.grid(alpha=0.3)
            axis.legend()
        figure.tight_layout()
        figure.savefig(folder / filename, dpi=110)
        plt.close(figure)
        written.append(folder / filename)
    return written
