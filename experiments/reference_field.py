"""The field's reference codes over seeds, from their own logs: per seed final and best values, and the epoch
the target's exposure first passes 0.9.

    python -m experiments.reference_field [--reference-logs results/reference-logs] [--out docs/reference-runs.md]

Each reference code (FedRecAttack, ClusterAttack-UNION, Spattack, PIECK; how each was run and what it
must be matched on: docs/reference-settings.md) prints one line per epoch (ClusterAttack-UNION's
`test.py`: one per saved checkpoint, every 200 rounds) in its own format. Its logs are
`<reference-logs>/<reference>/<condition>-seed<k>.log`, the run's output as printed, ending in a line
`DONE` once it finished; unfinished logs are left out. Per run and headline metric: the value at the
last epoch and the max (exposure, utility) or min (utility under an untargeted attack) over the trained
epochs (epoch >= 1), and for a targeted attack the
first epoch with ER@5 >= 0.9 and with ER@10 >= 0.9. Then per condition: mean ± sample std over seeds (n).
Writes the tables to `--out` and prints where.
"""

import re
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from experiments.seeds import format_values
from harness.arguments import script_parser

PROJECT = Path(__file__).resolve().parents[1]
_NUMBER = r"([-\d.naif]+)"  # a printed float, nan and inf included
_LOG_NAME = re.compile(r"^(?P<condition>.+)-seed(?P<seed>\d+)\.log$")
#: The exposure level whose first epoch a targeted attack's summary gives, as the project's reports do.
EXPOSED = 0.9
_UP = ("final", "max")  # a target's exposure, or utility
_DOWN = ("final", "min")  # utility under an untargeted attack


@dataclass(frozen=True)
class LogFormat:
    """How one reference code prints an evaluation: a regex whose groups are the epoch then `metrics`, and
    which of them its paper reports (`headline`, each with the statistics over epochs to show: the best
    for the attacker is the max of an exposure, the min of an untargeted attack's HR); the targeted
    attacks' ER@K columns also get first-pass epochs."""

    title: str
    pattern: re.Pattern[str]
    metrics: tuple[str, ...]
    headline: tuple[tuple[str, tuple[str, ...]], ...]
    epoch_unit: str = "epoch"

    def curve(self, text: str) -> pd.DataFrame:
        """One row per evaluation in `text`: the epoch (round for ClusterAttack-UNION) and the metrics (NaN where
        a line leaves one out, as Spattack's evaluation before training leaves out the loss)."""
        rows = [
            [float("nan") if value is None else float(value) for value in match.groups()]
            for match in self.pattern.finditer(text)
        ]
        return pd.DataFrame(rows, columns=["epoch", *self.metrics])

    @property
    def exposures(self) -> tuple[str, ...]:
        return tuple(metric for metric in ("ER@5", "ER@10") if metric in self.metrics)


FORMATS = {
    "fedrecattack": LogFormat(
        "FedRecAttack (ICDE 2022)",
        re.compile(
            rf"Iteration (\d+)(?:\(init\))?,.*?\({_NUMBER}\) on test, "
            rf"\({_NUMBER}, {_NUMBER}, {_NUMBER}\) on target"
        ),
        ("HR@10", "ER@5", "ER@10", "NDCG@10"),
        (("ER@5", _UP), ("ER@10", _UP), ("NDCG@10", _UP), ("HR@10", _UP)),
    ),
    "clusterattack-union": LogFormat(
        "ClusterAttack and UNION (AAAI 2023)",
        re.compile(
            rf"\[Test\] Round: (\d+), HR@5: {_NUMBER}, nDCG@5: {_NUMBER}, HR@10: {_NUMBER}, "
            rf"nDCG@10: {_NUMBER}, HR@20: {_NUMBER}, nDCG@20: {_NUMBER}"
        ),
        ("HR@5", "NDCG@5", "HR@10", "NDCG@10", "HR@20", "NDCG@20"),
        (("HR@10", _DOWN), ("NDCG@10", _DOWN)),
        epoch_unit="round",
    ),
    "spattack": LogFormat(
        "Spattack (AAAI 2025)",
        re.compile(
            rf"Iteration:(\d+)(?:\(init\))?,(?: loss:{_NUMBER},)?hit_5:{_NUMBER}, hit_10:{_NUMBER}, "
            rf"ndcg_5:{_NUMBER}, ?ndcg_10:{_NUMBER}"
        ),
        ("loss", "HR@5", "HR@10", "NDCG@5", "NDCG@10"),
        (("HR@10", _DOWN), ("NDCG@10", _DOWN)),
    ),
    "pieck": LogFormat(
        "PIECK (MF-FRS)",
        re.compile(
            rf"Iteration (\d+)(?:\(init\))?,.*?\({_NUMBER}, {_NUMBER}, {_NUMBER}\) on test, "
            rf"\({_NUMBER}, {_NUMBER}, {_NUMBER}\) on target"
        ),
        ("HR@5", "HR@10", "HR@20", "ER@5", "ER@10", "ER@20"),
        (("ER@5", _UP), ("ER@10", _UP), ("HR@10", _UP)),
    ),
}


def finished(text: str) -> bool:
    return text.rstrip().endswith("DONE")


def summary(curve: pd.DataFrame, log_format: LogFormat) -> dict[str, float]:
    """Per headline metric its final value and its max or min over the trained epochs; per ER@K the first epoch
    >= 0.9."""
    trained = curve[curve["epoch"] >= 1]
    row = {"epochs": float(trained["epoch"].iloc[-1])}
    for metric, statistics in log_format.headline:
        for statistic in statistics:
            values = trained[metric]
            row[f"{statistic} {metric}"] = values.iloc[-1] if statistic == "final" else values.agg(statistic)
    for metric in log_format.exposures:
        reached = trained.loc[trained[metric] >= EXPOSED, "epoch"]
        row[f"first {log_format.epoch_unit} {metric} >= {EXPOSED}"] = (
            float(reached.iloc[0]) if len(reached) else float("nan")
        )
    return row


def collect(reference_logs: Path) -> dict[str, pd.DataFrame]:
    """Per reference with finished logs: one summary row per run (condition, seed, measures)."""
    runs = {}
    for reference, log_format in FORMATS.items():
        rows = []
        for log in sorted((reference_logs / reference).glob("*.log")):
            name = _LOG_NAME.match(log.name)
            text = log.read_text()
            if name is None or not finished(text):
                continue
            curve = log_format.curve(text)
            if curve.empty:
                continue
            rows.append({"condition": name["condition"], "seed": int(name["seed"]), **summary(curve, log_format)})
        if rows:
            runs[reference] = pd.DataFrame(rows)
    return runs


def _cell(value: float, measure: str) -> str:
    if pd.isna(value):
        return "never" if measure.startswith("first") else "–"
    return f"{value:.0f}" if measure.startswith("first") or measure == "epochs" else f"{value:.4f}"


def per_seed_table(runs: pd.DataFrame) -> str:
    measures = [column for column in runs.columns if column not in ("condition", "seed")]
    lines = ["| condition | seed | " + " | ".join(measures) + " |", "|---|---|" + "---|" * len(measures)]
    for _, row in runs.sort_values(["condition", "seed"], kind="stable").iterrows():
        cells = " | ".join(_cell(row[measure], measure) for measure in measures)
        lines.append(f"| {row['condition']} | {row['seed']} | {cells} |")
    return "\n".join(lines)


def over_seeds_table(runs: pd.DataFrame) -> str:
    measures = [column for column in runs.columns if column not in ("condition", "seed", "epochs")]
    lines = ["| condition | n | " + " | ".join(measures) + " |", "|---|---|" + "---|" * len(measures)]
    for condition, group in runs.groupby("condition", sort=True):
        cells = []
        for measure in measures:
            values = group[measure]
            never = int(values.isna().sum())
            digits = 1 if measure.startswith("first") else 4
            cell = format_values(values.dropna(), digits, with_n=False) if values.notna().any() else "never"
            cells.append(f"{cell} (never in {never})" if never and values.notna().any() else cell)
        lines.append(f"| {condition} | {len(group)} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def report(runs: dict[str, pd.DataFrame]) -> str:
    text = [
        "# The field's reference codes, run over seeds",
        "Generated by `python -m experiments.reference_field` from the logs in `results/reference-logs/<reference>/`. "
        "How each code was run (commands, the few edits to run it here) and the protocol details the project "
        "must match: [reference settings](reference-settings.md). Final = last evaluated epoch; max (min for an "
        "untargeted attack's HR and NDCG) over the trained epochs (epoch >= 1); mean ± sample std over seeds. "
        "Seeds are the reference's own seed argument or `setup_seed` line.",
    ]
    for reference, rows in runs.items():
        text += [
            f"## {FORMATS[reference].title}",
            "Over seeds:",
            over_seeds_table(rows),
            "Per seed:",
            per_seed_table(rows),
        ]
    return "\n\n".join(text) + "\n"


def main() -> None:
    parser = script_parser(__spec__.name, __doc__)
    parser.add_argument("--reference-logs", type=Path, default=PROJECT / "results" / "reference-logs")
    parser.add_argument("--out", type=Path, default=PROJECT / "docs" / "reference-runs.md")
    args = parser.parse_args()
    runs = collect(args.reference_logs)
    if not runs:
        parser.exit(2, f"{parser.prog}: no finished logs under {args.reference_logs}/<reference>/\n")
    args.out.write_text(report(runs))
    print(f"-> {args.out} ({', '.join(f'{name}: {len(rows)} runs' for name, rows in runs.items())})")


if __name__ == "__main__":
    main()
