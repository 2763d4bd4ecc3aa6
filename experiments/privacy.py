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
gradient; F1 − informed per seed; Recall@10 averaged over the last 5 epochs) and `privacy-utility.png`
(interaction-inference F1 and p_u cosine against Recall@10; points = means over seeds, bars = min-max
over seeds). Runs under `round-difference` also get `round-difference.md`: how the isolated uploads compare
with the users' true updates (ids found, positives found, relative L2 residual of the raw difference).
"""

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
from privacy.recording import load_uploads  # noqa: E402
from server_app.round_difference import ISOLATION_CSV  # noqa: E402

SHOWN = ("f1", "chance_f1", "auc", "cosine")
INFORMED = "popularity"  # the informed baseline: every table shows it beside each attack
WINDOW = "@"


def offline_attack(folder: Path, attack_key: str, limit: int | None) -> Path:
    """`privacy-<attack>.csv` of a finished run: the attack on its recorded uploads (skipped if there).

    `attack_key` is an attack's name, or `<name>@<w>`: the attack on the uploads of the first w recorded epochs.
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
    attack = PRIVACY_ATTACKS.get(attack_name)(model, config)
    attack_uploads(attack, uploads[:limit] if limit else uploads, item_uploads).to_csv(out, index=False)
    return out


def run_rows(results: Path, attacks: list[str]) -> pd.DataFrame:
    """One row per (run, attack): the condition, seed, final Recall@10, the attack's mean scores, the mean rounds
    of a user it saw, and the informed baseline's F1 and AUC on the same run (NaN if it was not run)."""
    rows = []
    for folder in sorted(path for path in results.iterdir() if completed(path)):
        condition, seed = split_seed_run_name(folder.name)
        # The mean of the last 5 epochs: a single final epoch of this victim can catch a transient dip.
        recall = pd.read_csv(folder / "metrics.csv")["recall@10"].tail(5).mean()
        for attack in attacks:
            if not (folder / f"privacy-{attack}.csv").exists():
                continue
            scores = pd.read_csv(folder / f"privacy-{attack}.csv")
            informed = folder / f"privacy-{INFORMED}.csv"
            baseline = pd.read_csv(informed)[["f1", "auc"]].mean() if informed.exists() else pd.Series(dtype=float)
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


def markdown(rows: pd.DataFrame, conditions: list[str]) -> str:
    """The table: each attack beside random chance and the informed baseline, F1 − informed per seed."""
    lines = [
        "| condition | attack | rounds seen | n | F1 | informed F1 | chance F1 | F1 − informed per seed | AUC "
        "| informed AUC | p_u cosine | Recall@10 (last 5 epochs) |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    columns = ("f1", "informed_f1", "chance_f1", "margin", "auc", "informed_auc", "cosine", "recall@10")
    for condition in conditions:
        for attack, group in rows[rows["condition"] == condition].groupby("attack", sort=False):
            group = group.sort_values("seed").assign(margin=group["f1"] - group["informed_f1"])
            cells = [
                ", ".join(f"{value:+.3f}" for value in group["margin"])
                if column == "margin"
                else format_values(group[column], 3, with_n=False)
                for column in columns
            ]
            rounds = f"{group['rounds'].mean():g}"
            lines.append(f"| {condition} | {attack} | {rounds} | {len(group)} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


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
    panels = (("f1", "interaction-inference F1"), ("cosine", "p_u cosine"))
    fig, axes = plt.subplots(1, len(panels), figsize=(11, 4.2))
    for axis, (metric, label) in zip(axes, panels):
        for attack, marker in zip(rows["attack"].unique(), "os^vDP*"):
            for condition in conditions:
                group = rows[(rows["condition"] == condition) & (rows["attack"] == attack)]
                if group.empty or group[metric].isna().all():
                    continue
                x, y = group["recall@10"], group[metric]
                axis.errorbar(
                    x.mean(),
                    y.mean(),
                    xerr=[[x.mean() - x.min()], [x.max() - x.mean()]],
                    yerr=[[y.mean() - y.min()], [y.max() - y.mean()]],
                    marker=marker,
                    capsize=3,
                    label=f"{condition} ({attack}, n={len(group)})",
                )
        if metric == "f1":
            chance = rows.groupby("condition")["chance_f1"].mean()
            axis.axhline(chance.mean(), color="grey", linestyle=":", label="chance F1 (mean)")
            if rows["informed_f1"].notna().any():
                informed = rows.groupby("condition")["informed_f1"].mean()
                axis.axhline(informed.mean(), color="black", linestyle="--", label="informed baseline F1 (mean)")
        axis.set(xlabel="Recall@10 (mean of the last 5 epochs)", ylabel=label)
        axis.grid(alpha=0.3)
    axes[0].legend(fontsize=6, ncol=2)
    fig.suptitle("privacy vs utility (points: mean over seeds; bars: min-max over seeds)")
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out


def main() -> None:
    parser = script_parser(__spec__.name, __doc__)
    parser.add_argument("spec", type=Path)
    add_data_dir(parser)
    parser.add_argument("--results-dir", type=Path, default=None)
    parser.add_argument("--federation-config", default="num-supernodes=2 client-resources-num-cpus=1")
    parser.add_argument("--table-only", action="store_true", help="only rebuild the table and figure")
    args = parser.parse_args()
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


if __name__ == "__main__":
    main()
