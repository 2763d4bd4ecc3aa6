"""This project's A-ra / A-hum / no-attack runs side by side with the reference code's, over seeds.

    python -m experiments.run experiments/configs/reference-like-*.toml --data-dir ML1M --seeds 20220110 1 2 3 4
    python -m experiments.reference_runs --reference CODE --data-dir ML1M --seeds 20220110 1 2 3 4 --jobs 2
    python -m experiments.reference_comparison [--reference-logs results/reference-logs]
        [--results-dir results/experiments]

ML1M is the folder of ML-1M's published split, CODE the reference's. The reference (PoisonFedDLRS, run by
experiments/reference_runs.py into results/reference-logs/, one log per attack
and seed, `<attack>-seed<k>.log` with attack A-ra, A-hum or None and the seed set in its `setup_seed` line)
prints one line per epoch: (HR@20 = recall@20, Prec@20, NDCG@20) on test and (ER@5, ER@10, ER@20,
ER@30) of the target. Both sides are summarised the same way per run: final and maximum ER@5 and
ER@10, the first epoch with ER@10 >= 0.9, the mean ER@10 over the epochs (how early and how long the
target is exposed), final and mean Recall@20; then mean ± std over seeds (n). The two
codes draw their seeds from different generators, so seeds are never paired across codes: each measure
is compared as two independent samples (range of each, two-sided Mann-Whitney U). Writes
`docs/reference-comparison.md` and its figure `docs/figures/reference-comparison.png` (per-epoch ER@5,
ER@10 and Recall@20 of each code: mean over seeds, min-max band).
"""

import re
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
from scipy.stats import mannwhitneyu  # noqa: E402

from experiments.seeds import format_values, paired, save_figure, split_seed_run_name  # noqa: E402
from harness.arguments import script_parser  # noqa: E402

PROJECT = Path(__file__).resolve().parents[1]
#: The reference's attack names and this project's configs for the same condition.
CONDITIONS = {"A-ra": "reference-like-a-ra-0.001", "A-hum": "reference-like-a-hum-0.001", "None": "reference-like-none"}
_LINE = re.compile(
    r"Iteration (\d+)(?:\(init\))?,.*?\(([\d.]+), ([\d.]+), ([\d.]+)\) on test, "
    r"\(([\d.]+), ([\d.]+), ([\d.]+), ([\d.]+)\) on target"
)
MEASURES = [
    "final ER@5",
    "final ER@10",
    "max ER@5",
    "max ER@10",
    "first epoch ER@10 >= 0.9",
    "mean ER@10 over epochs",
    "final Recall@20",
    "mean Recall@20 over epochs",
]
COLUMNS = ["epoch", "recall@20", "precision@20", "ndcg@20", "er@5", "er@10", "er@20", "er@30"]


def reference_curve(log: Path) -> pd.DataFrame:
    """One row per evaluated epoch of a reference log (epoch 0 is its evaluation before training)."""
    rows = [[float(v) for v in match.groups()] for match in _LINE.finditer(log.read_text())]
    return pd.DataFrame(rows, columns=COLUMNS)


def summary(curve: pd.DataFrame) -> dict[str, float]:
    trained = curve[curve["epoch"] >= 1]
    reached = trained.loc[trained["er@10"] >= 0.9, "epoch"]
    last = trained.iloc[-1]
    return {
        "epochs": float(last["epoch"]),
        "final ER@5": last["er@5"],
        "final ER@10": last["er@10"],
        "max ER@5": trained["er@5"].max(),
        "max ER@10": trained["er@10"].max(),
        "first epoch ER@10 >= 0.9": float(reached.iloc[0]) if len(reached) else float("nan"),
        "final Recall@20": last["recall@20"],
        "mean ER@10 over epochs": trained["er@10"].mean(),
        "mean Recall@20 over epochs": trained["recall@20"].mean(),
    }


def collect(reference_logs: Path, results_dir: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(one summary row per finished run, every run's per-epoch curve), both keyed by code, attack and seed."""
    rows, curves = [], []

    def add(code: str, attack: str, seed: int, curve: pd.DataFrame) -> None:
        rows.append({"code": code, "attack": attack, "seed": seed, **summary(curve)})
        curves.append(curve.assign(code=code, attack=attack, seed=seed))

    for attack, config in CONDITIONS.items():
        for log in sorted(reference_logs.glob(f"{attack}-seed*.log")):
            curve = reference_curve(log)
            if "DONE" in log.read_text() and len(curve):
                add("reference", attack, int(log.stem.rsplit("seed", 1)[1]), curve)
        for folder in sorted(results_dir.glob(f"{config}__seed*")):
            metrics = folder / "metrics.csv"
            if (folder / "summary.json").exists() and metrics.exists():
                add("this project", attack, split_seed_run_name(folder.name)[1], pd.read_csv(metrics))
    return pd.DataFrame(rows), pd.concat(curves, ignore_index=True) if curves else pd.DataFrame()


def table(runs: pd.DataFrame) -> str:
    lines = ["| attack | code | n | " + " | ".join(MEASURES) + " |", "|---|---|---|" + "---|" * len(MEASURES)]
    for (attack, code), group in runs.groupby(["attack", "code"], sort=False):
        cells = []
        for measure in MEASURES:
            values = group[measure]
            never = int(values.isna().sum()) if measure.startswith("first") else 0
            digits = 1 if measure.startswith("first") else 3 if "ER" in measure else 4
            cell = format_values(values.dropna(), digits, with_n=False)
            cells.append(f"{cell} (never in {never})" if never else cell)
        lines.append(f"| {attack} | {code} | {len(group)} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def per_seed(runs: pd.DataFrame) -> str:
    lines = []
    for (attack, code), group in runs.groupby(["attack", "code"], sort=False):
        values = "; ".join(
            f"seed {int(r['seed'])}: ER@10 {r['final ER@10']:.3f} (max {r['max ER@10']:.3f}), "
            f"Recall@20 {r['final Recall@20']:.4f}"
            for _, r in group.sort_values("seed").iterrows()
        )
        lines.append(f"- {attack}, {code}: {values}")
    return "\n".join(lines)


def _range(values: pd.Series) -> str:
    """min–max (n) of the runs' values; NaN (never reached) is counted, not shown as a number."""
    reached = values.dropna()
    never = len(values) - len(reached)
    span = f"{reached.min():.4g}–{reached.max():.4g}" if len(reached) else "never"
    return f"{span} ({len(values)}{f', never in {never}' if never and len(reached) else ''})"


def rank_tests(runs: pd.DataFrame) -> str:
    """Per attack and measure: each code's range and the two-sided Mann-Whitney U p-value of reference vs
    this project. A run that never reaches ER@10 >= 0.9 ranks after every epoch that does."""
    lines = [
        "| attack | measure | reference: range (n) | this project: range (n) | Mann-Whitney U p |",
        "|---|---|---|---|---|",
    ]
    for attack, group in runs.groupby("attack", sort=False):
        codes = {code: runs_of for code, runs_of in group.groupby("code")}
        if set(codes) != {"reference", "this project"}:
            continue
        for measure in MEASURES:
            samples = {code: codes[code][measure].fillna(codes[code]["epochs"] + 1) for code in codes}
            cells = [_range(codes[code][measure]) for code in samples]
            p_value = mannwhitneyu(samples["reference"], samples["this project"], alternative="two-sided").pvalue
            lines.append(f"| {attack} | {measure} | {cells[0]} | {cells[1]} | {p_value:.3f} |")
    return "\n".join(lines)


def hum_over_ra(runs: pd.DataFrame) -> str:
    """Within each code, A-hum against A-ra of the same seed (same data, initial model and negatives)."""
    lines = []
    for code, group in runs.groupby("code", sort=False):
        by_attack = {attack: rows.set_index("seed") for attack, rows in group.groupby("attack")}
        if not {"A-hum", "A-ra"} <= set(by_attack):
            continue
        for measure in ("final ER@5", "final ER@10"):
            evidence = paired(by_attack["A-hum"][measure], by_attack["A-ra"][measure]).evidence(3)
            lines.append(f"- {code}: A-hum's {measure} is higher than A-ra's {evidence}.")
    return "\n".join(lines)


def plot_curves(curves: pd.DataFrame, out: Path) -> Path:
    """ER@5, ER@10 and Recall@20 per epoch for each attack: each code's mean over seeds, min-max band."""
    attacks = list(dict.fromkeys(curves["attack"]))
    metrics = [("er@5", "ER@5"), ("er@10", "ER@10"), ("recall@20", "Recall@20")]
    figure, axes = plt.subplots(
        len(attacks), len(metrics), figsize=(4.2 * len(metrics), 3.2 * len(attacks)), squeeze=False
    )
    for row, attack in enumerate(attacks):
        for column, (metric, label) in enumerate(metrics):
            axis = axes[row][column]
            for code, style, color in (("reference", "-", "tab:blue"), ("this project", "--", "tab:orange")):
                runs = curves[(curves["attack"] == attack) & (curves["code"] == code) & (curves["epoch"] >= 1)]
                if runs.empty:
                    continue
                by_epoch = runs.groupby("epoch")[metric]
                n = runs["seed"].nunique()
                axis.plot(by_epoch.mean().index, by_epoch.mean(), style, color=color, label=f"{code} (n={n})")
                axis.fill_between(by_epoch.min().index, by_epoch.min(), by_epoch.max(), color=color, alpha=0.2)
            axis.set_title(f"{attack}: {label}")
            axis.set_xlabel("epoch")
            axis.legend(fontsize=7)
    return save_figure(figure, out)


def main() -> None:
    parser = script_parser(__spec__.name, __doc__)
    parser.add_argument("--reference-logs", type=Path, default=PROJECT / "results" / "reference-logs")
    parser.add_argument("--results-dir", type=Path, default=PROJECT / "results" / "experiments")
    parser.add_argument("--out", type=Path, default=PROJECT / "docs" / "reference-comparison.md")
    args = parser.parse_args()
    runs, curves = collect(args.reference_logs, args.results_dir)
    if runs.empty:
        raise SystemExit(f"no finished runs in {args.reference_logs} or {args.results_dir}")
    runs = runs.sort_values(["attack", "code", "seed"], kind="stable")
    figure = plot_curves(curves, args.out.parent / "figures" / "reference-comparison.png")
    text = [
        "# A-ra and A-hum: the reference code and this project, over seeds (ML-1M, rho = 0.1%)",
        f"Generated by `python -m experiments.reference_comparison` from {len(runs)} finished runs (commands below). "
        "Mean ± sample std over seeds; n per row. The two codes draw from different random generators, "
        "so seeds are not paired across codes.",
        table(runs),
        "Each measure as two independent samples: the range of each code and the two-sided Mann-Whitney U "
        "p-value (a run that never reaches ER@10 >= 0.9 ranks after every epoch; with 5 runs a side the "
        "smallest possible p is 0.008).",
        rank_tests(runs),
        "Within each code, A-hum against A-ra of the same seed (the paper's RQ3 claim at this rho):",
        hum_over_ra(runs),
        f"![reference-comparison]({figure.relative_to(args.out.parent).as_posix()})",
        "Per seed:",
        per_seed(runs),
    ]
    args.out.write_text("\n\n".join(text) + "\n")
    print(f"-> {args.out}")


if __name__ == "__main__":
    main()
