"""Who moves the target item: the attackers' push against the benign users' pull, epoch by epoch.

    python -m experiments.plot_target_pushes results/target-pushes/<run> [<run> ...]
        [--out docs/figures/target-pushes.png]

Reads each run's `metrics.csv` and `target-pushes.csv` (written by every run with target items) and
draws one row per run: ER@10 and Recall@20; the norm of the benign and of the malicious net push on the
target rows per epoch (log scale); and the cosine between the two pushes (−1: the benign users pull
the target straight back against the attackers).
"""

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

from experiments.seeds import save_figure  # noqa: E402
from fedrec.reporting.results import METRICS_CSV, TARGET_PUSHES_CSV  # noqa: E402
from harness.arguments import script_parser  # noqa: E402

PROJECT = Path(__file__).resolve().parents[1]


def read_run(folder: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(per-epoch metrics, target pushes with one column per group) of a run folder."""
    for name in (METRICS_CSV, TARGET_PUSHES_CSV):
        if not (folder / name).exists():
            raise SystemExit(f"{folder / name} not found: run the experiment first (a run with target items writes it)")
    pushes = pd.read_csv(folder / TARGET_PUSHES_CSV).pivot(index="epoch", columns="group")
    return pd.read_csv(folder / METRICS_CSV), pushes


def plot(folders: list[Path], out: Path) -> Path:
    figure, axes = plt.subplots(len(folders), 3, figsize=(14, 3.3 * len(folders)), squeeze=False)
    for row, folder in zip(axes, folders):
        metrics, pushes = read_run(folder)
        exposure, norms, cosine = row
        exposure.plot(metrics["epoch"], metrics["er@10"], color="tab:red", label="ER@10")
        exposure.set_ylim(-0.02, 1.02)
        utility = exposure.twinx()
        utility.plot(metrics["epoch"], metrics["recall@20"], color="tab:gray", linestyle="--", label="Recall@20")
        exposure.set_title(f"{folder.name}\nER@10 (red), Recall@20 (grey, right axis)", fontsize=9)
        for group, color in (("benign", "tab:blue"), ("malicious", "tab:red")):
            norms.plot(pushes.index, pushes[("push-norm", group)], color=color, label=f"{group} push")
        norms.set_yscale("log")
        norms.set_title("norm of the net push on the target rows", fontsize=9)
        norms.legend(fontsize=8)
        cosine.plot(pushes.index, pushes[("cosine-to-other", "benign")], color="black")
        cosine.axhline(0, color="gray", linewidth=0.5)
        cosine.set_ylim(-1.05, 1.05)
        cosine.set_title("cosine(benign push, malicious push)", fontsize=9)
        for axis in row:
            axis.set_xlabel("epoch")
    return save_figure(figure, out)


def main() -> None:
    parser = script_parser(__spec__.name, __doc__)
    parser.add_argument("runs", nargs="+", type=Path)
    parser.add_argument("--out", type=Path, default=PROJECT / "docs" / "figures" / "target-pushes.png")
    args = parser.parse_args()
    print(f"-> {plot(args.runs, args.out)}")


if __name__ == "__main__":
    main()
