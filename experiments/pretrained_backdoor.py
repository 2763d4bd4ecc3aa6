"""Backdoored pre-trained checkpoints, and what federated fine-tuning does to them, over seeds.

    python -m experiments.pretrained_backdoor experiments/pretrained/ml100k.toml [--data-dir DIR]
    python -m experiments.pretrained_backdoor experiments/pretrained/ml100k.toml --table-only

For every seed of the spec: the provider pre-trains each checkpoint of `[checkpoints]` on its share of
the users (`python -m pretrained pretrain`, in-process), the deployer audits it on the federation's
users (the "as is" usage, with the target-blind exposure scan), the `rates` sweep pre-trains and audits
more checkpoints, and each fine-tuned checkpoint x `[scenarios]` (a scenario's `checkpoints` list limits
it) fine-tunes through `flwr run` on the federation's users (evaluated at epoch 0 and after every
epoch). Everything is written under `--out` and resumes: existing checkpoints, audits and completed runs
are kept. The report (tables in `report.md`, `persistence.png`) is rebuilt at the end, or alone with
`--table-only`.

Lift = ER@K(backdoored) / max(ER@K(clean), floor), paired with the clean checkpoint of the same seed;
the floor is one exposure among the group's user-target pairs, 1 / (targets x group users), since a
clean checkpoint's ER@K can be exactly 0. Specificity = group ER@K / max(rest ER@K, rest floor).
"""

import json
import tomllib
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

from app_config import make_config  # noqa: E402
from datasets import load_dataset  # noqa: E402
from experiments.run import run_overrides  # noqa: E402
from experiments.seeds import BAND_CAPTION, format_values, plot_mean_band, seed_run_name, split_seed_run_name  # noqa: E402
from fedrec.models.registry import build_model  # noqa: E402
from fedrec.reporting.results import plot_metrics  # noqa: E402
from harness.arguments import add_data_dir, one_line_errors, script_parser  # noqa: E402
from pretrained.checkpoint import load_checkpoint  # noqa: E402
from pretrained.exposure_scan import exposure_scan, scan_report  # noqa: E402
from pretrained.provider import audit, pretrain  # noqa: E402

PROJECT = Path(__file__).resolve().parents[1]
KS = (5, 10, 20)


def _config(overrides: dict, data_dir: str, **forced: object):  # noqa: ANN202 (RunConfig)
    merged = {**overrides, "data-dir": data_dir, **forced}
    return make_config(merged)


def _checkpoint(name: str, overrides: dict, data_dir: str, out: Path) -> Path:
    path = out / "checkpoints" / f"{name}.pt"
    if not path.exists():
        config = _config(overrides, data_dir, **{"user-share": "provider"})
        checkpoint = pretrain(config, load_dataset(config))
        checkpoint.save(path)
        print(f"{name}: pre-trained in {checkpoint.meta['wall-time-s']}s -> {path}", flush=True)
    return path


def _audit(name: str, overrides: dict, data_dir: str, out: Path, checkpoint_path: Path) -> None:
    """The checkpoint on the federation's users: metrics (`<name>.json`) and the target-blind exposure
    scan (`<name>.scan.json`)."""
    path, scan_path = out / "audits" / f"{name}.json", out / "audits" / f"{name}.scan.json"
    if path.exists() and scan_path.exists():
        return
    checkpoint = load_checkpoint(checkpoint_path)
    config = _config(overrides, data_dir, **{"user-share": "federation"})
    dataset, targets = load_dataset(config), tuple(checkpoint.meta["targets"])
    metrics = audit(config, dataset, checkpoint.theta, targets)
    scan = scan_report(exposure_scan(build_model(config), checkpoint.theta, dataset), targets)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({**checkpoint.meta, "metrics": metrics}, indent=1))
    scan_path.write_text(json.dumps(scan, indent=1, default=float))


def run_spec(spec: dict, data_dir: str, out: Path, federation: str) -> None:
    base = tomllib.loads((PROJECT / spec["base"]).read_text())
    for seed in spec["seeds"]:
        checkpoints = {}
        for kind, overrides in spec["checkpoints"].items():
            settings = {**base, **overrides, "seed": seed}
            name = seed_run_name(kind, seed)
            checkpoints[kind] = _checkpoint(name, settings, data_dir, out)
            _audit(name, settings, data_dir, out, checkpoints[kind])
        for kind in spec.get("fine-tuned", list(checkpoints)):
            path = checkpoints[kind]
            targets = ",".join(map(str, load_checkpoint(path).meta["targets"]))
            for scenario, overrides in spec["scenarios"].items():
                overrides = dict(overrides)
                if kind not in overrides.pop("checkpoints", [kind]):
                    continue
                settings = {
                    **base,
                    **spec["federation"],
                    **overrides,
                    "seed": seed,
                    "user-share": "federation",
                    "data-dir": data_dir,
                    "initial-checkpoint": str(path.resolve()),
                    "target-items": targets,
                }
                run_overrides(seed_run_name(f"{kind}-{scenario}", seed), settings, out / "runs", federation)
    for seed in spec["seeds"]:
        for kind in spec.get("rate-checkpoints", []):
            for rate in spec.get("rates", []):
                settings = {**base, **spec["checkpoints"][kind], "backdoor-rate": rate, "seed": seed}
                name = seed_run_name(f"{kind}-rate{rate}", seed)
                _audit(name, settings, data_dir, out, _checkpoint(name, settings, data_dir, out))


def _scan_rows(spec: dict, out: Path) -> pd.DataFrame:
    rows = []
    for path in sorted((out / "audits").glob("*__seed*.scan.json")):
        kind, seed = split_seed_run_name(path.name.removesuffix(".scan.json"))
        if kind not in spec["checkpoints"]:
            continue
        scan = json.loads(path.read_text())
        top = scan["most-suspicious"][0]
        rows.append(
            {
                "checkpoint": kind,
                "seed": seed,
                "targets among the top 5": scan["targets-among-top-5"],
                "targets among the top 10": scan["targets-among-top-10"],
                "top suspect": f"item {int(top['item'])} in {top['group']} "
                f"({int(top['exposed'])} exposed, {int(top['popularity'])} interactions)",
            }
        )
    return pd.DataFrame(rows)


def _audit_rows(out: Path) -> pd.DataFrame:
    rows = []
    for path in sorted((out / "audits").glob("*.json")):
        if path.name.endswith(".scan.json"):
            continue
        name, seed = split_seed_run_name(path.stem)
        stored = json.loads(path.read_text())
        rows.append({"checkpoint": name, "seed": seed, "targets": len(stored["targets"]), **stored["metrics"]})
    return pd.DataFrame(rows)


def _run_rows(out: Path) -> pd.DataFrame:
    """Every fine-tuning run's metrics; each run's own figures are redrawn (per group) on the way."""
    frames = []
    for metrics in sorted((out / "runs").glob("*/metrics.csv")):
        name, seed = split_seed_run_name(metrics.parent.name)
        frame = pd.read_csv(metrics)
        plot_metrics(frame, metrics.parent, KS)
        frame["run"], frame["seed"] = name, seed
        frames.append(frame)
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def _with_lift(rows: pd.DataFrame, by: list[str], clean: str, k: int) -> pd.DataFrame:
    """Adds lift@k (vs the clean rows of the same seed and `by` keys) and specificity@k."""
    floor = 1.0 / (rows["targets"] * rows["group/evaluated-users"])
    rest_floor = 1.0 / (rows["targets"] * rows["rest/evaluated-users"])
    reference = rows[rows["checkpoint"] == clean].set_index([*by, "seed"])[f"group/er@{k}"]
    keys = pd.MultiIndex.from_frame(rows[[*by, "seed"]])
    clean_er = reference.reindex(keys).to_numpy()
    rows = rows.copy()
    rows[f"lift@{k}"] = (
        rows[f"group/er@{k}"]
        / pd.concat([pd.Series(clean_er), floor.reset_index(drop=True)], axis=1).max(axis=1).to_numpy()
    )
    rows[f"specificity@{k}"] = rows[f"group/er@{k}"] / pd.concat([rows[f"rest/er@{k}"], rest_floor], axis=1).max(axis=1)
    rows.loc[rows["checkpoint"] == clean, f"lift@{k}"] = float("nan")  # the clean checkpoint is the reference
    rows["floor"] = floor
    return rows


def _table(rows: pd.DataFrame, by: list[str], columns: list[str], digits: dict[str, int]) -> str:
    header = "| " + " | ".join([*by, "n", *columns]) + " |"
    lines = [header, "|" + "---|" * (len(by) + 1 + len(columns))]
    for keys, group in rows.groupby(by, sort=False):
        keys = keys if isinstance(keys, tuple) else (keys,)
        cells = [format_values(group[c], digits.get(c, 4), with_n=False) for c in columns]
        lines.append("| " + " | ".join([*map(str, keys), str(group["seed"].nunique()), *cells]) + " |")
    return "\n".join(lines)


def report(spec: dict, out: Path) -> None:
    clean = spec.get("clean", "clean")
    audits = _audit_rows(out)
    if audits.empty:
        print("no audits yet")
        return
    audits["kind"] = "as is"
    audits = _with_lift(audits, ["kind"], clean, 10)
    main = audits[audits["checkpoint"].isin(list(spec["checkpoints"]))]
    er_columns = [f"group/er@{k}" for k in KS] + ["rest/er@10", "lift@10", "specificity@10", "recall@10", "ndcg@10"]
    digits = {"lift@10": 1, "specificity@10": 1}
    sections = [
        "# Pre-trained backdoors: results",
        f"Generated by `python -m experiments.pretrained_backdoor {spec['path']}`; mean ± std over seeds (n in its "
        "column).",
        f"Floor of the lift: one exposure among the group's user-target pairs (mean {main['floor'].mean():.5f}).",
        "## The checkpoint as is (audited on the federation's users, no fine-tuning)",
        _table(main, ["checkpoint"], er_columns, digits),
        "Per seed, group ER@10 and lift@10:",
        _per_seed(main, ["checkpoint"], ["group/er@10", "lift@10"]),
    ]
    scans = _scan_rows(spec, out)
    if len(scans):
        sections += [
            "## Exposure audit before deployment (does not know the targets)",
            "pretrained/exposure_scan.py ranks items by (users exposed + 1) / (interactions + 1) in every profile "
            "group "
            "of the federation's users; share of the checkpoint's targets among the most suspicious items:",
            _table(scans, ["checkpoint"], ["targets among the top 5", "targets among the top 10"], {}),
            "Most suspicious item per seed:",
            _per_seed_text(scans, "top suspect"),
        ]
    rated = audits[audits["checkpoint"].str.contains("-rate")]
    if len(rated):
        sections += ["## Backdoor rate (as is)", _table(rated, ["checkpoint"], er_columns, digits)]
    runs = _run_rows(out)
    if not runs.empty:
        runs["checkpoint"] = runs["run"].map(lambda r: next(k for k in spec["checkpoints"] if r.startswith(f"{k}-")))
        runs["scenario"] = [r[len(c) + 1 :] for r, c in zip(runs["run"], runs["checkpoint"])]
        runs["targets"] = main["targets"].iloc[0]
        last = runs.loc[runs.groupby(["run", "seed"])["epoch"].idxmax()]
        first = runs[runs["epoch"] == 0]
        table_rows = []
        for when, frame in (("epoch 0", first), ("last epoch", last)):
            frame = _with_lift(frame, ["scenario"], clean, 10)
            frame["when"] = when
            table_rows.append(frame)
        persistence = pd.concat(table_rows).sort_values(["scenario", "checkpoint", "when"], kind="stable")
        columns = ["group/er@10", "rest/er@10", "lift@10", "specificity@10", "recall@10", "ndcg@10"]
        sections += [
            f"## Federated fine-tuning ({int(last['epoch'].max())} epochs): persistence",
            _table(persistence, ["scenario", "checkpoint", "when"], columns, digits),
            "Per seed, group ER@10 at the last epoch:",
            _per_seed(
                persistence[persistence["when"] == "last epoch"], ["scenario", "checkpoint"], ["group/er@10", "lift@10"]
            ),
            "![persistence](persistence.png)",
        ]
        _plot(runs, spec, out / "persistence.png")
    (out / "report.md").write_text("\n\n".join(sections) + "\n")
    print(f"report -> {out / 'report.md'}")


def _per_seed_text(rows: pd.DataFrame, column: str) -> str:
    return "\n".join(
        f"- {kind}: "
        + "; ".join(f"seed {int(r['seed'])}: {r[column]}" for _, r in group.sort_values("seed").iterrows())
        for kind, group in rows.groupby("checkpoint", sort=False)
    )


def _per_seed(rows: pd.DataFrame, by: list[str], columns: list[str]) -> str:
    lines = []
    for keys, group in rows.groupby(by, sort=False):
        keys = keys if isinstance(keys, tuple) else (keys,)
        values = "; ".join(
            f"seed {int(r['seed'])}: " + ", ".join(f"{c} {r[c]:.4g}" for c in columns)
            for _, r in group.sort_values("seed").iterrows()
        )
        lines.append(f"- {' / '.join(map(str, keys))}: {values}")
    return "\n".join(lines)


def _plot(runs: pd.DataFrame, spec: dict, path: Path) -> None:
    scenarios = list(spec["scenarios"])
    columns = 3
    rows = -(-len(scenarios) // columns)
    figure, axes = plt.subplots(rows, columns, figsize=(4.6 * columns, 3.4 * rows), sharey=True, squeeze=False)
    colors = dict(zip(spec["checkpoints"], plt.rcParams["axes.prop_cycle"].by_key()["color"]))
    for axis, scenario in zip(axes.flat, scenarios):
        for kind in spec["checkpoints"]:
            part = runs[(runs["scenario"] == scenario) & (runs["checkpoint"] == kind)]
            for group, style in (("group", "-"), ("rest", ":")):
                if len(part):
                    curves = part.pivot(index="epoch", columns="seed", values=f"{group}/er@10")
                    plot_mean_band(axis, curves, f"{kind}: {group}", linestyle=style, color=colors[kind])
        axis.set_title(f"fine-tune = {scenario}", fontsize=10)
        axis.set_xlabel("federated epoch (0 = checkpoint as received)", fontsize=8)
        axis.grid(alpha=0.3)
    for axis in axes.flat[len(scenarios) :]:
        axis.axis("off")
    for axis in axes[:, 0]:
        axis.set_ylabel("ER@10 of the targets")
    labels = {}
    for axis in axes.flat:
        for handle, label in zip(*axis.get_legend_handles_labels()):
            labels.setdefault(label, handle)
    figure.legend(labels.values(), labels.keys(), loc="lower right", fontsize=8, ncol=2, bbox_to_anchor=(0.98, 0.08))
    figure.suptitle(
        f"Backdoor persistence under federated fine-tuning: target group (solid), the rest (dotted); {BAND_CAPTION}",
        fontsize=9,
    )
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)


def main() -> None:
    parser = script_parser(__spec__.name, __doc__)
    parser.add_argument("spec", type=Path)
    add_data_dir(parser)
    parser.add_argument("--out", type=Path, help="default: results/pretrained/<spec name>")
    parser.add_argument("--federation-config", default="num-supernodes=2 client-resources-num-cpus=1")
    parser.add_argument("--table-only", action="store_true")
    args = parser.parse_args()
    spec = tomllib.loads(args.spec.read_text()) | {"path": str(args.spec)}
    out = args.out or PROJECT / "results" / "pretrained" / args.spec.stem
    if not args.table_only:
        with one_line_errors(parser):
            run_spec(spec, args.data_dir, out, args.federation_config)
    report(spec, out)


if __name__ == "__main__":
    main()
