"""Figures and a results table for the shipped attack experiments (reads what experiments/run.py wrote).

    python experiments/plot.py [--results-dir docs/experiments] [--out docs]

Writes `<out>/figures/*.png` and `<out>/attack-experiments.md`: the reference paper's RQ1 (ER@K over
epochs per attack at rho = 0.5%), RQ2 (final ER@K against rho for A-ra and A-hum), RQ3 (A-ra vs
A-hum at rho = 0.1% and 0.2%), and FedAttack vs its random-sampling control and no attack (Recall@10
and NDCG@10 over epochs, and the L2 norms of benign and malicious updates). Missing runs are skipped.
"""

import argparse
import sys
import textwrap
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from fedrec.results import UPDATE_NORMS_CSV  # noqa: E402

PROJECT = Path(__file__).resolve().parents[1]
KS = (5, 10, 20, 30)
RQ1 = ["rq1-none", "rq1-random", "rq1-bandwagon", "rq1-eb", "rq1-a-ra", "rq1-a-hum"]
RHOS = (0.001, 0.002, 0.003, 0.004, 0.005)
FEDATTACK = {
    "MovieLens-1M, FedAttack's own victim (NeuMF-64, BPR with 1 negative, server Adam lr 0.001, random 80/20 split)": [
        "fedattack-setting-none-0.05",
        "fedattack-setting-random-samples-0.05",
        "fedattack-setting-fedattack-0.05",
    ],
    "MovieLens-1M, FedAttack's own victim, uploads scaled to the client's honest update norm (not in the paper)": [
        "fedattack-setting-none-0.05",
        "fedattack-setting-random-samples-0.05",
        "fedattack-setting-fedattack-honest-norm-0.05",
    ],
    "MovieLens-1M, the paper's victim (lr 0.001)": ["rq1-none", "random-samples-0.05", "fedattack-0.05"],
    "MovieLens-1M, the paper's victim with user-lr 0.1 (user embeddings move 100x faster)": [
        "trained-ml1m-none-0.05",
        "trained-ml1m-random-samples-0.05",
        "trained-ml1m-fedattack-0.05",
    ],
    "MovieLens-100K, a trained victim (lr 0.01)": [
        "trained-ml100k-none-0.05",
        "trained-ml100k-random-samples-0.05",
        "trained-ml100k-fedattack-0.05",
    ],
}


def _label(run: str) -> str:
    for prefix in ("rq1-", "trained-ml100k-", "trained-ml1m-", "fedattack-setting-"):
        run = run.removeprefix(prefix)
    return run.replace("-0.05", " (rho 5%)")


def _rq2_run(attack: str, rho: float) -> str:
    return f"rq1-{attack}" if rho == 0.005 else f"rq2-{attack}-{rho}"


def load(results: Path) -> dict[str, pd.DataFrame]:
    tables = {}
    for folder in sorted(results.iterdir()) if results.exists() else []:
        if (folder / "metrics.csv").exists():
            tables[folder.name] = pd.read_csv(folder / "metrics.csv")
    return tables


def _save(figure: plt.Figure, path: Path) -> Path:
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)
    return path


def _over_epochs(axis: plt.Axes, tables: dict[str, pd.DataFrame], runs: list[tuple[str, str]], column: str, title: str) -> None:
    """One line per (run, label) present in `tables`: `column` against the epoch.

    Styles differ per line because runs often coincide (all at 0 or all at 1).
    """
    styles = [("-", "o"), ("--", "s"), (":", "^"), ("-.", "v"), ("-", "x"), ("--", "d")]
    for (run, label), (line, marker) in zip(runs, styles):
        if run in tables:
            axis.plot(tables[run]["epoch"], tables[run][column], linestyle=line, marker=marker, markersize=3, label=label)
    axis.set(title=title, xlabel="epoch")
    axis.grid(alpha=0.3)


def plot_rq1(tables: dict[str, pd.DataFrame], out: Path) -> Path:
    figure, axes = plt.subplots(1, len(KS), figsize=(4.2 * len(KS), 3.6), sharey=True)
    for axis, k in zip(axes, KS):
        _over_epochs(axis, tables, [(run, _label(run)) for run in RQ1], f"er@{k}", f"ER@{k}, rho = 0.5%")
    axes[0].set_ylabel("exposure ratio of the target")
    axes[-1].legend(fontsize=8)
    return _save(figure, out / "rq1-exposure.png")


def plot_rq2(tables: dict[str, pd.DataFrame], out: Path) -> Path:
    figure, axes = plt.subplots(1, len(KS), figsize=(4.2 * len(KS), 3.6), sharey=True)
    for axis, k in zip(axes, KS):
        for attack in ("a-ra", "a-hum"):
            points = [(rho * 100, tables[_rq2_run(attack, rho)][f"er@{k}"].iloc[-1]) for rho in RHOS if _rq2_run(attack, rho) in tables]
            if points:
                axis.plot(*zip(*points), marker="o", label=attack)
        axis.set(title=f"final ER@{k}", xlabel="malicious users (% of benign)")
        axis.grid(alpha=0.3)
    axes[0].set_ylabel("exposure ratio at epoch 30")
    axes[-1].legend()
    return _save(figure, out / "rq2-exposure-vs-rho.png")


def plot_rq3(tables: dict[str, pd.DataFrame], out: Path) -> Path:
    figure, axes = plt.subplots(1, 4, figsize=(16.8, 3.6), sharey=True)
    panels = [(rho, k) for rho in (0.001, 0.002) for k in (5, 10)]
    for axis, (rho, k) in zip(axes, panels):
        runs = [(_rq2_run(attack, rho), attack) for attack in ("a-ra", "a-hum")]
        _over_epochs(axis, tables, runs, f"er@{k}", f"ER@{k}, rho = {rho * 100:.1f}%")
    axes[0].set_ylabel("exposure ratio of the target")
    axes[-1].legend()
    return _save(figure, out / "rq3-ara-vs-ahum.png")


def plot_fedattack(tables: dict[str, pd.DataFrame], out: Path) -> Path:
    figure, axes = plt.subplots(len(FEDATTACK), 2, figsize=(10, 3.8 * len(FEDATTACK)), squeeze=False)
    for row, (setting, runs) in zip(axes, FEDATTACK.items()):
        for axis, metric in zip(row, ("recall@10", "ndcg@10")):
            _over_epochs(axis, tables, [(run, _label(run)) for run in runs], metric, f"{metric}: {setting}")
            axis.set_title(textwrap.fill(f"{metric}: {setting}", 70), fontsize=8)
        row[-1].legend(fontsize=8)
    return _save(figure, out / "fedattack-utility.png")


def plot_fedattack_norms(results: Path, out: Path) -> Path | None:
    """Benign vs malicious update norms per epoch (median line, q25-q75 band, min-max band), per setting."""
    settings = [
        (setting, runs[-1]) for setting, runs in FEDATTACK.items() if (results / runs[-1] / UPDATE_NORMS_CSV).exists()
    ]
    if not settings:
        return None
    figure, axes = plt.subplots(1, len(settings), figsize=(5 * len(settings), 3.9), squeeze=False)
    for axis, (setting, run) in zip(axes[0], settings):
        norms = pd.read_csv(results / run / UPDATE_NORMS_CSV)
        for group, color in (("benign", "tab:blue"), ("malicious", "tab:red")):
            rows = norms[norms["group"] == group]
            axis.fill_between(rows["epoch"], rows["min"], rows["max"], color=color, alpha=0.12)
            axis.fill_between(rows["epoch"], rows["q25"], rows["q75"], color=color, alpha=0.3)
            axis.plot(rows["epoch"], rows["median"], color=color, label=f"{group} (median, q25-q75, min-max)")
        axis.set_yscale("log")
        axis.set_xlabel("epoch")
        axis.set_title(textwrap.fill(setting, 60), fontsize=8)
    axes[0][0].set_ylabel("L2 norm of a user's update")
    axes[0][-1].legend(fontsize=8)
    return _save(figure, out / "fedattack-update-norms.png")


def _first_epoch_at_least(table: pd.DataFrame, column: str, level: float) -> str:
    reached = table.loc[table[column] >= level, "epoch"]
    return str(int(reached.iloc[0])) if len(reached) else "never"


def report(tables: dict[str, pd.DataFrame], results: Path, figures: list[Path], out: Path) -> str:
    lines = [
        "# Attack experiments (MovieLens-1M)",
        "",
        "Generated by `python experiments/plot.py` from the runs of `python experiments/run.py "
        "experiments/configs/*.toml` (results in `docs/experiments/<config>/`). The RQ runs use the reference "
        "paper's setting: NCF dim 8, MLP 8-8, BCE, 4 negatives, 256 users per round, server sums, lr 0.001, "
        "30 epochs, target = the least popular item (1805), published 80/20 split. Each FedAttack section below "
        "names its victim; its configs say the rest.",
        "",
        "| run | final Recall@10 | final NDCG@10 | max ER@10 | first epoch ER@10 >= 0.9 | final ER@5 | final ER@10 |",
        "|---|---|---|---|---|---|---|",
    ]
    for run, table in tables.items():
        last = table.iloc[-1]
        lines.append(
            f"| {run} | {last['recall@10']:.4f} | {last['ndcg@10']:.4f} | {table['er@10'].max():.3f} | "
            f"{_first_epoch_at_least(table, 'er@10', 0.9)} | {last['er@5']:.3f} | {last['er@10']:.3f} |"
        )
    lines += ["", *[f"![{path.stem}](figures/{path.name})" for path in figures], ""]
    for setting, (none, control, fedattack) in FEDATTACK.items():
        if not {none, control, fedattack} <= set(tables):
            continue
        if len({len(tables[run]) for run in (none, control, fedattack)}) != 1:
            print(f"skipped '{setting}': its runs have different numbers of evaluated epochs (one is unfinished?)")
            continue
        lines += [f"## FedAttack vs its random-sampling control: {setting}", ""]
        lines += ["| run | final Recall@10 | final NDCG@10 | mean Recall@10 over epochs | mean NDCG@10 over epochs |", "|---|---|---|---|---|"]
        for run in (none, control, fedattack):
            t = tables[run]
            lines.append(f"| {run} | {t['recall@10'].iloc[-1]:.4f} | {t['ndcg@10'].iloc[-1]:.4f} | {t['recall@10'].mean():.4f} | {t['ndcg@10'].mean():.4f} |")
        for metric in ("recall@10", "ndcg@10"):
            for what, value in (("final", lambda t: t.iloc[-1]), ("mean over epochs of", lambda t: t.mean())):
                drop = {run: value(tables[none][metric]) - value(tables[run][metric]) for run in (control, fedattack)}
                verdict = "lowers it more than the control" if drop[fedattack] > max(drop[control], 0.0) else "does NOT lower it more than the control"
                lines.append(
                    f"\n{what.capitalize()} {metric}, below no attack: FedAttack {drop[fedattack]:+.4f}, "
                    f"control {drop[control]:+.4f}: FedAttack {verdict}."
                )
        for metric in ("recall@10", "ndcg@10"):
            below = int((tables[fedattack][metric] < tables[control][metric]).sum())
            lines.append(f"\nFedAttack's {metric} is below the control's in {below} of {len(tables[fedattack])} evaluated epochs.")
        gap = tables[control]["recall@10"] - tables[fedattack]["recall@10"]
        worst = int(gap.idxmax())
        lines.append(
            f"\nLargest Recall@10 gap below the control: {gap.max():+.4f} at epoch {tables[fedattack]['epoch'].iloc[worst]:.0f} "
            f"({gap.max() / tables[control]['recall@10'].iloc[worst]:.0%} of the control's value)."
        )
        norms = pd.read_csv(results / fedattack / UPDATE_NORMS_CSV)
        lines += [
            "",
            "L2 norms of the uploaded updates (benign vs FedAttack's clients):",
            "",
            "| epoch | group | updates | min | q25 | median | q75 | max |",
            "|---|---|---|---|---|---|---|---|",
        ]
        last = int(norms["epoch"].max())
        for _, row in norms[norms["epoch"].isin([1, last // 2, last])].iterrows():
            lines.append(
                f"| {row['epoch']} | {row['group']} | {row['updates']} | {row['min']:.4g} | {row['q25']:.4g} | "
                f"{row['median']:.4g} | {row['q75']:.4g} | {row['max']:.4g} |"
            )
        wide = norms.pivot(index="epoch", columns="group")
        inside = ((wide[("min", "malicious")] >= wide[("min", "benign")]) & (wide[("max", "malicious")] <= wide[("max", "benign")])).mean()
        quartiles = ((wide[("q25", "malicious")] >= wide[("q25", "benign")] * 0.5) & (wide[("q75", "malicious")] <= wide[("q75", "benign")] * 2)).mean()
        malicious_median = wide[("median", "malicious")]
        typical = ((malicious_median >= wide[("q25", "benign")]) & (malicious_median <= wide[("q75", "benign")])).mean()
        lines += [
            "",
            f"Epochs in which every malicious norm lies within the benign [min, max]: {inside:.0%}; "
            f"in which the malicious quartiles lie within a factor 2 of the benign ones: {quartiles:.0%}; "
            f"in which the malicious median lies within the benign [q25, q75]: {typical:.0%}.",
            "",
        ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--results-dir", type=Path, default=PROJECT / "docs" / "experiments")
    parser.add_argument("--out", type=Path, default=PROJECT / "docs")
    args = parser.parse_args()
    tables = load(args.results_dir)
    figure_dir = args.out / "figures"
    figure_dir.mkdir(parents=True, exist_ok=True)
    figures = [plot(tables, figure_dir) for plot in (plot_rq1, plot_rq2, plot_rq3, plot_fedattack)]
    norms_figure = plot_fedattack_norms(args.results_dir, figure_dir)
    figures += [norms_figure] if norms_figure else []
    text = report(tables, args.results_dir, figures, args.out)
    (args.out / "attack-experiments.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
