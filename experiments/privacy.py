"""The privacy experiment: leakage to a curious server without and with each defense, and its utility cost.

    python -m experiments.privacy experiments/privacy/ml100k.toml [--data-dir DIR] [--table-only]

The TOML has `[base]` (run-config keys for every run, with a `privacy-attack` so uploads are recorded),
`seeds`, and `[conditions.<name>]` (the keys of one defense setting; `{}` = no defense). Every condition
runs once per seed through `flwr run` (experiments/run.py's runner, resumable; `--data-dir` is the
folder of the spec's dataset, by default the app's download cache), into
`results/privacy/<experiment>/<condition>__seed<k>/`. Each run records the uploads of the same
`privacy-users` users in every epoch of `privacy-epochs` (privacy-uploads.pt); this script then runs
every attack of `attacks` on them offline (`privacy-<attack>.csv`; `<attack>@<w>` runs it on the
uploads of the first w recorded epochs only, to show what w rounds give a multi-round attack; DLG,
which costs seconds per upload, on at most `dlg-uploads` of them and only in the `dlg-conditions`) and
writes `privacy.md` (mean ± std over seeds, n, the rounds of each user the attack saw, beside random
chance and the informed baseline, i.e. the `popularity` attack on the same uploads, which reads no
gradient; F1 − informed per seed; Recall@10 averaged over the last 5 epochs; then per condition the
strongest attack and Recall@10 minus that of the `none` condition, paired per seed) and
`privacy-utility.png` (interaction-inference F1 and p_u cosine against Recall@10; points = means over
seeds, bars = min-max over seeds; each condition's informed baseline F1 drawn beside its attacks). An
attack `<name>+popularity` is that attack's scores fused with the informed baseline's (privacy/fusion.py).
Runs under `round-difference` also get `round-difference.md`: how the isolated uploads compare with the
users' true updates (ids found, positives found, relative L2 residual of the raw difference).
"""

import argparse
import json
import tomllib
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

from app_config import SCHEMA, make_config  # noqa: E402
from experiments.run import PROJECT, completed, run_overrides  # noqa: E402
from experiments.seeds import format_values, seed_run_name, split_seed_run_name  # noqa: E402
from fedrec.models.registry import build_model  # noqa: E402
from harness.arguments import add_data_dir, script_parser  # noqa: E402
from privacy import PRIVACY_ATTACKS  # noqa: E402
from privacy.evaluation import attack_uploads  # noqa: E402
from privacy.fusion import PopularityFusion  # noqa: E402
from privacy.recording import load_uploads  # noqa: E402
from server_app.round_difference import ISOLATION_CSV  # noqa: E402

SHOWN = ("f1", "chance_f1", "auc", "cosine")
INFORMED = "popularity"  # the informed baseline: every table shows it beside each attack
WINDOW = "@"
FUSED = "+" + INFORMED  # `<attack>+popularity`: the attack's scores fused with the informed baseline's
CONTROL = "none"  # the condition each other one's Recall@10 is paired with, seed by seed


def offline_attack(folder: Path, attack_key: str, limit: int | None) -> Path:
    """`privacy-<attack>.csv` of a finished run: the attack on its recorded uploads (skipped if there).

    `attack_key` is an attack's name, optionally followed by `+popularity` (its scores fused with the informed
    baseline's, privacy/fusion.py) and then by `@<w>` (on the uploads of the first w recorded epochs only).
    """
    out = folder / f"privacy-{attack_key}.csv"
    if out.exists():
        return out
    attack_name, _, window = attack_key.partition(WINDOW)
    recorded = json.loads((folder / "config.json").read_text())
    config = make_config({key: value for key, value in recorded.items() if key in SCHEMA.keys})
    model = build_model(config)
    uploads, item_uploads = load_uploads(folder)
    if window:
        seen = sorted({upload.epoch for upload in uploads})[: int(window)]
        uploads = [upload for upload in uploads if upload.epoch in seen]
    fused = attack_name.endswith(FUSED)
    attack = PRIVACY_ATTACKS.get(attack_name.removesuffix(FUSED))(model, config)
    if fused:
        attack = PopularityFusion(attack)
    attack_uploads(attack, uploads[:limit] if limit else uploads, item_uploads).to_csv(out, index=False)
    return out


def informed_baseline(folder: Path, scores: pd.DataFrame) -> pd.Series:
    """The informed baseline's mean F1 and AUC on the uploads `scores` covers (by epoch and user), so an attack
    run on a subset (DLG's `dlg-uploads`, a window `@w`) is compared on its own uploads; empty if it was not run."""
    informed = folder / f"privacy-{INFORMED}.csv"
    if not informed.exists():
        return pd.Series(dtype=float)
    return pd.read_csv(informed).merge(scores[["epoch", "user"]], on=["epoch", "user"])[["f1", "auc"]].mean()


def run_rows(results: Path, attacks: list[str]) -> pd.DataFrame:
    """One row per (run, attack): the condition, seed, final Recall@10, the attack's mean scores, the mean rounds
    of a user it saw, and the informed baseline's F1 and AUC on the same uploads (NaN if it was not run)."""
    rows = []
    for folder in sorted(path for path in results.iterdir() if completed(path)):
        condition, seed = split_seed_run_name(folder.name)
        # The mean of the last 5 epochs: a single final epoch of this victim can catch a transient dip.
        recall = pd.read_csv(folder / "metrics.csv")["recall@10"].tail(5).mean()
        for attack in attacks:
            if not (folder / f"privacy-{attack}.csv").exists():
                continue
            scores = pd.read_csv(folder / f"privacy-{attack}.csv")
            baseline = informed_baseline(folder, scores)
            rows.append(
                {
                    "condition": condition,
                    "seed": seed,
                    "attack": attack,
                    "recall@10": recall,
                    "uploads": len(scores),
                    "rounds": scores["rounds"].mean() if "rounds" in scores else 1.0,
                    **scores[list(SHOWN)].mean().to_dict(),
                    "informed_f1": baseline.get("f1", float("nan")),
                    "informed_auc": baseline.get("auc", float("nan")),
                }
            )
    return pd.DataFrame(rows)


def recall_deltas(rows: pd.DataFrame, condition: str) -> str:
    """Recall@10 of `condition` minus that of `none`, seed by seed (the paired utility cost); '–' without `none`."""
    per_seed = rows.drop_duplicates(["condition", "seed"]).set_index(["condition", "seed"])["recall@10"]
    if CONTROL not in per_seed.index.get_level_values(0):
        return "–"
    own, control = per_seed[condition], per_seed[CONTROL]
    return ", ".join(f"{own[seed] - control[seed]:+.3f}" for seed in sorted(own.index) if seed in control.index)


def markdown(rows: pd.DataFrame, conditions: list[str]) -> str:
    """The tables: each attack beside random chance and the informed baseline (F1 − informed per seed), and per
    condition the strongest attack (highest mean F1) with its utility cost paired per seed against `none`."""
    lines = [
        "| condition | attack | rounds seen | n | F1 | informed F1 | chance F1 | F1 − informed per seed | AUC "
        "| informed AUC | p_u cosine | Recall@10 (last 5 epochs) |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    columns = ("f1", "informed_f1", "chance_f1", "margin", "auc", "informed_auc", "cosine", "recall@10")
    strongest = [
        "",
        "Strongest attack per condition (highest mean F1, the informed baseline included), and the utility cost:",
        "",
        "| condition | strongest attack | rounds seen | n | F1 | informed F1 | F1 − informed per seed | Recall@10 "
        f"| Recall@10 − {CONTROL} per seed |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for condition in conditions:
        best = None
        for attack, group in rows[rows["condition"] == condition].groupby("attack", sort=False):
            group = group.sort_values("seed").assign(margin=group["f1"] - group["informed_f1"])
            cells = {
                column: ", ".join(f"{value:+.3f}" for value in group["margin"])
                if column == "margin"
                else format_values(group[column], 3, with_n=False)
                for column in columns
            }
            head = f"| {condition} | {attack} | {group['rounds'].mean():g} | {len(group)} | "
            lines.append(head + " | ".join(cells[column] for column in columns) + " |")
            if best is None or group["f1"].mean() > best[0]:
                best = (group["f1"].mean(), head, cells)
        if best is not None:
            _, head, cells = best
            shown = ("f1", "informed_f1", "margin", "recall@10")
            strongest.append(
                head + " | ".join(cells[column] for column in shown) + f" | {recall_deltas(rows, condition)} |"
            )
    return "\n".join(lines + strongest)


MARGIN = 0.05  # how close to the informed baseline a defense must bring the strongest attack


ISOLATION = ("id_precision", "id_recall", "found_positives", "true_positives", "raw_row_error", "raw_dense_error")


def isolation_markdown(results: Path, conditions: list[str]) -> str | None:
    """Under `round-difference`: how each run's isolated uploads compare with the users' true updates (mean ±
    std over seeds of the per-run means; round-difference.csv), or None when no run isolated anyone."""
    runs = []
    for folder in sorted(path for path in results.iterdir() if (path / ISOLATION_CSV).exists()):
        condition, seed = split_seed_run_name(folder.name)
        runs.append(
            {"condition": condition, "seed": seed, **pd.read_csv(folder / ISOLATION_CSV)[list(ISOLATION)].mean()}
        )
    if not runs:
        return None
    table = pd.DataFrame(runs)
    lines = [
        "| condition | n | id precision | id recall | positives found / true | row residual | dense residual |",
        "|---|---|---|---|---|---|---|",
    ]
    for condition in conditions:
        group = table[table["condition"] == condition]
        if group.empty:
            continue
        cells = [format_values(group[column], 3, with_n=False) for column in ISOLATION[:2]]
        found = f"{group['found_positives'].mean():.1f} / {group['true_positives'].mean():.1f}"
        residuals = [format_values(group[column], 3, with_n=False) for column in ISOLATION[4:]]
        lines.append(f"| {condition} | {len(group)} | " + " | ".join([*cells, found, *residuals]) + " |")
    return "\n".join(lines)


def figure(rows: pd.DataFrame, conditions: list[str], out: Path) -> Path:
    """F1, F1 minus the informed baseline, and p_u cosine against Recall@10: colour = condition, marker =
    attack; in the F1 panel each condition's informed baseline (`popularity` on the same uploads) is the wide
    bar in its colour, in the margin panel it is 0 (dashed: the 0.05 line)."""
    rows = rows.assign(margin=rows["f1"] - rows["informed_f1"])
    panels = (
        ("f1", "interaction-inference F1"),
        ("margin", "F1 − informed baseline F1 (same uploads)"),
        ("cosine", "p_u cosine"),
    )
    colours = dict(zip(conditions, plt.get_cmap("tab10").colors))
    attacks = [attack for attack in rows["attack"].unique() if attack != INFORMED]
    fig, axes = plt.subplots(1, len(panels), figsize=(17, 5.2))
    for axis, (metric, label) in zip(axes, panels):
        for condition in conditions:
            own = rows[rows["condition"] == condition]
            for attack, marker in zip(attacks, "os^vDP*<>"):
                group = own[own["attack"] == attack]
                if group.empty or group[metric].isna().all():
                    continue
                x, y = group["recall@10"], group[metric]
                axis.errorbar(
                    x.mean(),
                    y.mean(),
                    xerr=[[x.mean() - x.min()], [x.max() - x.mean()]],
                    yerr=[[y.mean() - y.min()], [y.max() - y.mean()]],
                    marker=marker,
                    color=colours[condition],
                    elinewidth=0.6,
                    capsize=2,
                    label=f"{condition}: {attack} (n={len(group)})",
                )
            if metric == "f1" and own["informed_f1"].notna().any():
                axis.plot(
                    own["recall@10"].mean(),
                    own["informed_f1"].mean(),
                    marker="_",
                    markersize=28,
                    markeredgewidth=2.5,
                    color=colours[condition],
                    linestyle="none",
                    label=f"{condition}: informed baseline",
                )
        if metric == "f1":
            chance = rows.groupby("condition")["chance_f1"].mean()
            axis.axhline(chance.mean(), color="grey", linestyle=":", label="chance F1 (mean)")
        if metric == "margin":
            axis.axhline(0.0, color="black", linewidth=0.8)
            axis.axhline(MARGIN, color="black", linestyle="--", linewidth=0.8)
        axis.set(xlabel="Recall@10 (mean of the last 5 epochs)", ylabel=label)
        axis.grid(alpha=0.3)
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, fontsize=6, loc="center right", ncol=1)
    fig.suptitle(
        "privacy vs utility (points: mean over seeds; bars: min-max over seeds; wide bars: informed baseline F1)"
    )
    fig.tight_layout(rect=(0, 0, 0.83, 1))
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out


def experiment_parser(name: str, doc: str | None) -> argparse.ArgumentParser:
    """The command line of a privacy spec's script: the spec, where its data and results are, `--table-only`."""
    parser = script_parser(name, doc)
    parser.add_argument("spec", type=Path)
    add_data_dir(parser)
    parser.add_argument("--results-dir", type=Path, default=None)
    parser.add_argument("--federation-config", default="num-supernodes=2 client-resources-num-cpus=1")
    parser.add_argument("--table-only", action="store_true", help="only rebuild the table and figure")
    return parser


def run_experiment(args: argparse.Namespace) -> tuple[dict, Path]:
    """Every run of the spec (completed ones skipped), its offline attacks, `privacy.md` and the figure;
    (the spec, its results folder)."""
    spec = tomllib.loads(args.spec.read_text())
    base, conditions = spec["base"], spec["conditions"]
    attacks, limit = spec.get("attacks", ["analytic", "dlg"]), spec.get("dlg-uploads")
    dlg_conditions = set(spec.get("dlg-conditions", conditions))
    results = args.results_dir or PROJECT / "results" / "privacy" / args.spec.stem
    for condition, overrides in conditions.items():
        for seed in spec["seeds"]:
            name = seed_run_name(condition, seed)
            if not args.table_only:
                settings = {**base, "data-dir": args.data_dir, **overrides, "seed": seed}
                run_overrides(name, settings, results, args.federation_config)
            if completed(results / name):
                for attack in attacks:
                    if attack != "dlg" or condition in dlg_conditions:
                        offline_attack(results / name, attack, limit if attack == "dlg" else None)
    rows = run_rows(results, attacks)
    rows.to_csv(results / "privacy-runs.csv", index=False)
    (results / "privacy.md").write_text(markdown(rows, list(conditions)) + "\n")
    isolation = isolation_markdown(results, list(conditions))
    if isolation is not None:
        (results / "round-difference.md").write_text(isolation + "\n")
    print(figure(rows, list(conditions), results / "privacy-utility.png"))
    return spec, results


def main() -> None:
    run_experiment(experiment_parser(__spec__.name, __doc__).parse_args())


if __name__ == "__main__":
    main()
