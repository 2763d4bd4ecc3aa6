"""Statistics over seeds: aggregate per-seed results, format them, and compare two conditions seed by seed.

One seed of a federated run is one draw of the initialisation, the split, the client sampling and the
attackers' randomness; two cells of a sweep can differ by more than that noise or not. So every number
the experiment scripts publish from several seeds carries its spread and its n, and every comparison
they state ("A lowers Recall@10 more than B") carries the seeds it holds in, paired by seed (both
conditions share the seed's data split and initialisation, so the per-seed difference removes that
shared part of the noise).

Plain functions on pandas frames; `plot_mean_band` draws on a matplotlib axis it is given.
"""

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure

#: A run folder of one seed is `<name>__seed<k>`; a folder without the suffix is one run of its config's seed.
SEED_SUFFIX = "__seed"
#: The figure caption for `plot_mean_band`.
BAND_CAPTION = "line: mean over seeds; shaded band: min–max over seeds"
#: What a cell shows where there is no value (no seed, or the std of a single seed).
MISSING = "–"


def seed_run_name(name: str, seed: int) -> str:
    """The folder name of `name`'s run with `seed`."""
    return f"{name}{SEED_SUFFIX}{seed}"


def split_seed_run_name(folder: str) -> tuple[str, int | None]:
    """(name, seed) of a `<name>__seed<k>` folder; (folder, None) for a folder without the suffix."""
    name, suffix, seed = folder.rpartition(SEED_SUFFIX)
    return (name, int(seed)) if suffix and seed.isdigit() else (folder, None)


def aggregate(rows: pd.DataFrame, by: Sequence[str], metrics: Sequence[str]) -> pd.DataFrame:
    """Per group of `by` and per metric: n, mean, std, min and max over the group's rows (one row per seed).

    n counts the seeds with a value (a metric a rule does not report, such as detection rates, is NaN
    and not counted). std is the sample standard deviation (ddof = 1), the estimate of the spread
    between seeds; it is NaN for n = 1, where the spread is unknown rather than 0. The result is long
    (a `metric` column) because metric names can themselves end in a statistic: `recall@10-max` is the
    peak over epochs, and its max over seeds is the row (`recall@10-max`, max).
    """
    long = rows.melt(id_vars=list(by), value_vars=list(metrics), var_name="metric")
    grouped = long.groupby([*by, "metric"], sort=False)["value"]
    stats = grouped.agg(["count", "mean", "min", "max"]).rename(columns={"count": "n"})
    stats["std"] = grouped.std(ddof=1)
    return stats[["n", "mean", "std", "min", "max"]].reset_index()


def format_cell(mean: float, std: float, n: int, digits: int = 4, with_n: bool = True) -> str:
    """`0.1184 ± 0.0012 (n=3)` for a markdown table; the std of one seed shows as `–`, no seed as `–` alone.

    `with_n=False` leaves out the n for tables that give it once in a column of its own.
    """
    if n == 0:
        return MISSING
    spread = MISSING if pd.isna(std) else f"{std:.{digits}f}"
    return f"{mean:.{digits}f} ± {spread}" + (f" (n={n})" if with_n else "")


def format_values(values: pd.Series, digits: int = 4, with_n: bool = True) -> str:
    """`format_cell` of the mean, sample std (ddof = 1) and count of one condition's per-seed values (NaN = not run)."""
    return format_cell(values.mean(), values.std(ddof=1), values.count(), digits, with_n)


def describe_n(counts: Iterable[int]) -> str:
    """`n=3` when every cell has the same number of seeds, `n=1–3` when they differ (a sweep not finished)."""
    present = sorted({int(count) for count in counts if count > 0})
    if not present:
        return "n=0"
    return f"n={present[0]}" if len(present) == 1 else f"n={present[0]}–{present[-1]}"


def n_seeds(n: int) -> str:
    """`n=1 seed`, `n=3 seeds`: how many seeds a sentence rests on."""
    return f"n={n} seed{'' if n == 1 else 's'}"


@dataclass(frozen=True)
class Paired:
    """a − b per seed, over the seeds where both conditions have a value (indexed by seed)."""

    differences: pd.Series

    @property
    def n(self) -> int:
        return len(self.differences)

    @property
    def holds(self) -> int:
        """Seeds in which a > b."""
        return int((self.differences > 0).sum())

    @property
    def ties(self) -> int:
        """Seeds in which a == b (e.g. both attacks saturated at ER = 1): neither holds nor contradicts a > b."""
        return int((self.differences == 0).sum())

    @property
    def mean(self) -> float:
        """Mean paired difference (NaN without a shared seed)."""
        return float(self.differences.mean())

    def evidence(self, digits: int = 4) -> str:
        """`in 2 of 3 seeds (seed 1 +0.0100, seed 2 -0.0020, seed 3 +0.0300; mean +0.0127)`; seeds where a == b
        are counted apart (`in 1 of 3 seeds, equal in 2 (...)`).

        Completes a sentence stating a > b; with one seed it says n=1, so a single run is never
        read as a settled result.
        """
        if self.n == 0:
            return "in no seed (no seed has both conditions)"
        per_seed = ", ".join(f"seed {seed} {value:+.{digits}f}" for seed, value in self.differences.items())
        tied = f", equal in {self.ties}" if self.ties else ""
        if self.n == 1:
            return f"in {self.holds} of 1 seed{tied} (n=1: {per_seed})"
        return f"in {self.holds} of {self.n} seeds{tied} ({per_seed}; mean {self.mean:+.{digits}f})"


def paired(a: pd.Series, b: pd.Series) -> Paired:
    """Compare condition a with condition b seed by seed: both indexed by seed, NaN or absent = not run."""
    both = pd.concat({"a": a, "b": b}, axis=1).dropna()
    return Paired((both["a"] - both["b"]).sort_index())


def seed_curves(tables: Mapping[int, pd.DataFrame], column: str, x: str = "epoch") -> pd.DataFrame:
    """`column` of each seed's table against `x`: a column per seed, aligned on x (NaN where a seed lacks a point)."""
    return pd.DataFrame({seed: table.set_index(x)[column] for seed, table in tables.items()}).sort_index()


def plot_mean_band(axis: Axes, curves: pd.DataFrame, label: str, **style: object) -> None:
    """The mean over the seeds (columns of `curves`) as a line, their min–max at each x as a band.

    The band shows the whole range the seeds covered, not a confidence interval: with 3 seeds a
    ± std band would rest on a spread estimated from 3 values. It is drawn only for more than one
    seed; the legend label gets the number of seeds, as a range where points rest on different numbers
    (a seed missing at some x). Say `BAND_CAPTION` in the figure's title or caption.
    """
    (line,) = axis.plot(
        curves.index, curves.mean(axis=1), label=f"{label} ({describe_n(curves.count(axis=1))})", **style
    )
    if curves.shape[1] > 1:
        low, high = curves.min(axis=1), curves.max(axis=1)
        axis.fill_between(curves.index, low, high, color=line.get_color(), alpha=0.2, linewidth=0)


def save_figure(figure: Figure, path: Path, dpi: int = 100) -> Path:
    """Lay out, write (creating its folder) and close a figure; returns where it went."""
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=dpi)
    plt.close(figure)
    return path
