"""Backdoored pre-trained checkpoints against equally trained clean controls, as is and under federated fine-tuning.

    python -m experiments.pretrained_backdoor experiments/pretrained/ml100k.toml [--data-dir DIR]
    python -m experiments.pretrained_backdoor experiments/pretrained/ml100k.toml --table-only

Every backdoored checkpoint of `[checkpoints]` names its `control`: a checkpoint pre-trained with the
same stages, epochs, users and seed and no poison (for prompt-enhanced, its own three stages with both
poisoning probabilities at 0). For every seed of the spec: the provider pre-trains each checkpoint on
its share of the users (in-process); the deployer audits each backdoored checkpoint and its control on
the federation's users with the backdoored checkpoint's targets (`<kind>.json`, `<kind>.control.json`),
with the target-blind exposure scan and each target's median rank in the group; the `rates` sweep does
the same for more checkpoints; and each fine-tuned checkpoint and its control x `[scenarios]` (a
scenario's `checkpoints` list limits it) fine-tune through `flwr run` on the federation's users
(`<kind>-<scenario>`, `<kind>.control-<scenario>`). Everything is written under `--out` and resumes.
The report (`report.md`, `persistence.png`) is rebuilt at the end, or alone with `--table-only`;
`--as-is-only` skips the fine-tuning runs.

Every comparison is per paired seed: Δ = backdoored - control of the same seed. Lift = group ER@K of
the backdoored checkpoint / max(its control's, floor); the floor is one exposure among the group's
user-target pairs, 1 / (targets x group users), since a control's ER@K can be exactly 0.
Specificity = group ER@K / max(rest ER@K, rest floor).
"""

import json
import tomllib
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from app_config import make_config  # noqa: E402
from datasets import load_dataset  # noqa: E402
from experiments.run import completed, run_overrides  # noqa: E402
from experiments.seeds import BAND_CAPTION, format_values, plot_mean_band, seed_run_name, split_seed_run_name  # noqa: E402
from fedrec.errors import ConfigError  # noqa: E402
from fedrec.models.registry import build_model  # noqa: E402
from fedrec.reporting.results import plot_metrics  # noqa: E402
from harness.arguments import add_data_dir, one_line_errors, script_parser  # noqa: E402
from pretrained.checkpoint import load_checkpoint  # noqa: E402
from pretrained.exposure_scan import exposure_scan, scan_report  # noqa: E402
from pretrained.provider import audit, group_members, pretrain  # noqa: E402
from pretrained.target_ranks import median_target_ranks  # noqa: E402

PROJECT = Path(__file__).resolve().parents[1]
KS = (5, 10, 20)
CONTROL = ".control"  # suffix of a control's audits and runs: `<kind>.control`
RECREATED = "recreated"  # audits of checkpoints pre-trained again from a spec entry: `<name>.<n>.json`
#: Spec keys of a checkpoint entry that are not run-config settings.
SPEC_ONLY = ("control",)
#: Spec keys of a scenario naming the scenario it differs from in one thing, with the report's section heading and
#: the words for the two sides: malicious fine-tuning clients (against none), a defense (against none).
COUNTERPARTS = {
    "honest-counterpart": (
        "Malicious fine-tuning clients against honest fine-tuning",
        "with them",
        "without",
        "every client honest",
    ),
    "undefended-counterpart": (
        "Defenses during fine-tuning against the same fine-tuning undefended",
        "defended",
        "undefended",
        "no defense",
    ),
}


def _config(overrides: dict, data_dir: str, **forced: object):  # noqa: ANN202 (RunConfig)
    merged = {**overrides, "data-dir": data_dir, **forced}
    return make_config(merged)


def _settings(entry: dict) -> dict:
    return {key: value for key, value in entry.items() if key not in SPEC_ONLY}


def _checkpoint(name: str, overrides: dict, data_dir: str, out: Path) -> Path:
    path = out / "checkpoints" / f"{name}.pt"
    if not path.exists():
        config = _config(overrides, data_dir, **{"user-share": "provider"})
        checkpoint = pretrain(config, load_dataset(config))
        checkpoint.save(path)
        print(f"{name}: pre-trained in {checkpoint.meta['wall-time-s']}s -> {path}", flush=True)
    return path


def _audit(name: str, overrides: dict, data_dir: str, out: Path, checkpoint_path: Path, targets: tuple) -> None:
    """The checkpoint on the federation's users with `targets`: metrics and each target's median rank in the
    group (`<name>.json`), and the target-blind exposure scan (`<name>.scan.json`)."""
    path, scan_path = out / "audits" / f"{name}.json", out / "audits" / f"{name}.scan.json"
    if path.exists() and scan_path.exists():
        return
    checkpoint = load_checkpoint(checkpoint_path)
    config = _config(overrides, data_dir, **{"user-share": "federation"})
    dataset, model = load_dataset(config), build_model(config)
    metrics = audit(config, dataset, checkpoint.theta, targets)
    group = np.flatnonzero(group_members(config, dataset))
    ranks = median_target_ranks(model, checkpoint.theta, dataset, group, targets)
    scan = scan_report(exposure_scan(model, checkpoint.theta, dataset), targets)
    path.parent.mkdir(parents=True, exist_ok=True)
    stored = {**checkpoint.meta, "targets": list(targets), "group-median-target-ranks": ranks, "metrics": metrics}
    path.write_text(json.dumps(stored, indent=1))
    scan_path.write_text(json.dumps(scan, indent=1, default=float))


def _audited(out: Path, name: str) -> bool:
    return (out / "audits" / f"{name}.json").exists() and (out / "audits" / f"{name}.scan.json").exists()


def _audit_pair(kind: str, seed: int, settings: dict, control: dict, data_dir: str, out: Path) -> tuple[int, ...]:
    """Audits a backdoored checkpoint and its control on the backdoored one's targets, pre-training each only if
    its audit is missing (a finished audit holds the targets); returns the targets."""
    name, control_name = seed_run_name(kind, seed), seed_run_name(control["name"], seed)
    if _audited(out, name):
        targets = tuple(json.loads((out / "audits" / f"{name}.json").read_text())["targets"])
    else:
        path = _checkpoint(name, settings, data_dir, out)
        targets = tuple(load_checkpoint(path).meta["targets"])
        _audit(name, settings, data_dir, out, path, targets)
    control_audit = seed_run_name(kind + CONTROL, seed)
    if not _audited(out, control_audit):
        path = _checkpoint(control_name, control["settings"], data_dir, out)
        _audit(control_audit, control["settings"], data_dir, out, path, targets)
    return targets


def run_spec(spec: dict, data_dir: str, out: Path, federation: str, fine_tune: bool = True) -> None:
    """Pre-trains and audits every pair of the spec; with `fine_tune`, runs the federated scenarios too."""
    check_spec(spec)
    base = tomllib.loads((PROJECT / spec["base"]).read_text())
    backdoored = _backdoored(spec)
    for seed in spec["seeds"]:
        for kind, entry in backdoored.items():
            settings = {**base, **_settings(entry), "seed": seed}
            control = {
                "name": entry["control"],
                "settings": {**base, **spec["checkpoints"][entry["control"]], "seed": seed},
            }
            targets = ",".join(map(str, _audit_pair(kind, seed, settings, control, data_dir, out)))
            if not fine_tune or kind not in spec.get("fine-tuned", []):
                continue
            checkpoints = {"": (kind, settings), CONTROL: (control["name"], control["settings"])}
            for scenario, overrides in spec.get("scenarios", {}).items():
                overrides = {key: value for key, value in overrides.items() if key not in COUNTERPARTS}
                if kind not in overrides.pop("checkpoints", [kind]):
                    continue
                for role, (checkpoint, checkpoint_settings) in checkpoints.items():
                    name = seed_run_name(f"{kind}{role}-{scenario}", seed)
                    if completed(out / "runs" / name):  # pre-train nothing a finished run would not use
                        continue
                    path = _checkpoint(seed_run_name(checkpoint, seed), checkpoint_settings, data_dir, out)
                    run = {
                        **base,
                        **spec["federation"],
                        **overrides,
                        "seed": seed,
                        "user-share": "federation",
                        "data-dir": data_dir,
                        "initial-checkpoint": str(path.resolve()),
                        "target-items": targets,
                    }
                    run_overrides(name, run, out / "runs", federation)
    for seed in spec["seeds"]:
        for kind in spec.get("rate-checkpoints", []):
            entry = backdoored[kind]
            control = {
                "name": entry["control"],
                "settings": {**base, **spec["checkpoints"][entry["control"]], "seed": seed},
            }
            for rate in spec.get("rates", []):
                settings = {**base, **_settings(entry), "backdoor-rate": rate, "seed": seed}
                _audit_pair(f"{kind}-rate{rate}", seed, settings, control, data_dir, out)


def check_spec(spec: dict) -> None:
    """Every checkpoint a list names is a backdoored one of the spec, and every control exists: a name that matches
    nothing (e.g. a dotted key left unquoted, which TOML reads as a nested table) would silently run nothing."""
    checkpoints, backdoored = spec.get("checkpoints", {}), _backdoored(spec)
    named = {"fine-tuned": spec.get("fine-tuned", []), "rate-checkpoints": spec.get("rate-checkpoints", [])}
    named |= {
        f"scenarios.{name}.checkpoints": entry.get("checkpoints", [])
        for name, entry in spec.get("scenarios", {}).items()
    }
    for where, names in named.items():
        for name in names:
            if name not in backdoored:
                raise ConfigError(
                    f"spec {where} names {name!r}, which is no backdoored checkpoint of the spec (quote a key with a "
                    f'dot: [checkpoints."name"]); backdoored: {", ".join(backdoored)}'
                )
    for kind, entry in backdoored.items():
        if entry["control"] not in checkpoints:
            raise ConfigError(
                f"spec checkpoint {kind!r} names the control {entry['control']!r}, which it does not define"
            )


def _backdoored(spec: dict) -> dict[str, dict]:
    """The spec's backdoored checkpoints (those naming a `control`), in spec order."""
    return {kind: entry for kind, entry in spec["checkpoints"].items() if "control" in entry}


def _scan_rows(spec: dict, out: Path) -> pd.DataFrame:
    rows = []
    for path in sorted((out / "audits").glob("*__seed*.scan.json")):
        kind, seed = split_seed_run_name(path.name.removesuffix(".scan.json"))
        if kind.removesuffix(CONTROL) not in _backdoored(spec):
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
        ranks = stored.get("group-median-target-ranks", [])
        rows.append(
            {
                "checkpoint": name,
                "seed": seed,
                "targets": len(stored["targets"]),
                "target ranks": ", ".join(f"{rank:.0f}" for rank in ranks),
                **stored["metrics"],
            }
        )
    return pd.DataFrame(rows)


def _run_rows(spec: dict, out: Path) -> pd.DataFrame:
    """Every completed fine-tuning run's metrics, named by its checkpoint kind (`<kind>` or `<kind>.control`) and
    scenario; each run's own figures are redrawn (per group) on the way. A run still going (or stopped) is left out:
    its last epoch is not the scenario's."""
    names = {
        f"{kind}{role}-{scenario}": (kind + role, scenario)
        for kind in _backdoored(spec)
        for scenario in spec.get("scenarios", {})
        for role in ("", CONTROL)
    }
    frames = []
    for metrics in sorted((out / "runs").glob("*/metrics.csv")):
        name, seed = split_seed_run_name(metrics.parent.name)
        if name not in names or not completed(metrics.parent):
            continue
        frame = pd.read_csv(metrics)
        plot_metrics(frame, metrics.parent, KS)
        frame["checkpoint"], frame["scenario"] = names[name]
        frame["seed"] = seed
        frames.append(frame)
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def exposure_floor(targets: float | pd.Series, users: float | pd.Series) -> float | pd.Series:
    """One exposure among the group's user-target pairs, 1 / (targets x users): the least ER@K a lift divides by,
    since a control's ER@K can be exactly 0."""
    return 1.0 / (targets * users)


def lift(er: float | pd.Series, control_er: float | pd.Series, floor: float | pd.Series) -> float | pd.Series:
    """ER@K over the control's ER@K, the control taken at least at `floor`."""
    return er / np.maximum(control_er, floor)


def paired(rows: pd.DataFrame, by: list[str], k: int = 10) -> pd.DataFrame:
    """One row per backdoored checkpoint, seed and `by` key, beside its control of the same seed: absolute group
    ER@k of both, Δ (backdoored - control) of group ER@k and HR@k, lift@k and specificity@k."""
    keys = [*by, "seed"]
    controls = rows[rows["checkpoint"].str.endswith(CONTROL)].copy()
    controls["checkpoint"] = controls["checkpoint"].str.removesuffix(CONTROL)
    taken = ["checkpoint", *keys, f"group/er@{k}", f"recall@{k}", "target ranks"]
    pairs = rows[~rows["checkpoint"].str.endswith(CONTROL)].merge(
        controls[[c for c in taken if c in controls]], on=["checkpoint", *keys], suffixes=("", " control")
    )
    floor = exposure_floor(pairs["targets"], pairs["group/evaluated-users"])
    rest_floor = exposure_floor(pairs["targets"], pairs["rest/evaluated-users"])
    pairs[f"Δ group/er@{k}"] = pairs[f"group/er@{k}"] - pairs[f"group/er@{k} control"]
    pairs[f"Δ hr@{k}"] = pairs[f"recall@{k}"] - pairs[f"recall@{k} control"]
    pairs[f"lift@{k}"] = lift(pairs[f"group/er@{k}"], pairs[f"group/er@{k} control"], floor)
    pairs[f"specificity@{k}"] = lift(pairs[f"group/er@{k}"], pairs[f"rest/er@{k}"], rest_floor)
    pairs["floor"] = floor
    return pairs


PAIR_COLUMNS = [
    "group/er@10",
    "group/er@10 control",
    "Δ group/er@10",
    "lift@10",
    "rest/er@10",
    "specificity@10",
    "recall@10",
    "recall@10 control",
    "Δ hr@10",
]
DIGITS = {"lift@10": 1, "specificity@10": 1}


def _table(rows: pd.DataFrame, by: list[str], columns: list[str], digits: dict[str, int]) -> str:
    header = "| " + " | ".join([*by, "n", *columns]) + " |"
    lines = [header, "|" + "---|" * (len(by) + 1 + len(columns))]
    for keys, group in rows.groupby(by, sort=False):
        keys = keys if isinstance(keys, tuple) else (keys,)
        cells = [format_values(group[c], digits.get(c, 4), with_n=False) for c in columns]
        lines.append("| " + " | ".join([*map(str, keys), str(group["seed"].nunique()), *cells]) + " |")
    return "\n".join(lines)


def _per_seed_pairs(pairs: pd.DataFrame, by: list[str], ranks: bool) -> str:
    """Per backdoored checkpoint, one line per seed: group ER@10 backdoored vs control (Δ), lift, HR@10 Δ, and with
    `ranks` each target's median rank in the group under the control."""
    lines = []
    for keys, group in pairs.groupby(by, sort=False):
        keys = keys if isinstance(keys, tuple) else (keys,)
        lines.append(f"- {' / '.join(map(str, keys))}:")
        for _, r in group.sort_values("seed").iterrows():
            line = (
                f"  - seed {int(r['seed'])}: group ER@10 {r['group/er@10']:.4f} vs control "
                f"{r['group/er@10 control']:.4f} (Δ {r['Δ group/er@10']:+.4f}, lift {r['lift@10']:.1f}); "
                f"HR@10 {r['recall@10']:.4f} vs {r['recall@10 control']:.4f} (Δ {r['Δ hr@10']:+.4f})"
            )
            if ranks:
                line += f"; targets' median rank in the group under the control: {r['target ranks control']}"
            lines.append(line)
    return "\n".join(lines)


def _counts(pairs: pd.DataFrame, by: list[str], threshold: float) -> str:
    return "\n".join(
        f"- {' / '.join(map(str, keys if isinstance(keys, tuple) else (keys,)))}: lift@10 ≥ {threshold:g} in "
        f"{int((group['lift@10'] >= threshold).sum())} of {len(group)} seeds; HR@10 lower than the control's in "
        f"{int((group['Δ hr@10'] < 0).sum())} of {len(group)}"
        for keys, group in pairs.groupby(by, sort=False)
    )


def report(spec: dict, out: Path) -> None:
    audits = _audit_rows(out)
    if audits.empty:
        print("no audits yet")
        return
    audits["kind"] = "as is"
    pairs = paired(audits, ["kind"])
    main = pairs[pairs["checkpoint"].isin(list(_backdoored(spec)))]
    sections = [
        "# Pre-trained backdoors against equally trained clean controls: results",
        f"Generated by `python -m experiments.pretrained_backdoor {spec['path']}`; mean ± std over seeds (n in its "
        "column). Each backdoored checkpoint is compared with its control (same stages, epochs, users, seed; no "
        "poison), audited on the same targets; Δ = backdoored - control of the same seed.",
        f"Floor of the lift: one exposure among the group's user-target pairs (mean {main['floor'].mean():.5f}).",
        "## The checkpoint as is (audited on the federation's users, no fine-tuning)",
        "Controls: " + "; ".join(f"{kind} → {entry['control']}" for kind, entry in _backdoored(spec).items()) + ".",
        _table(main, ["checkpoint"], PAIR_COLUMNS, DIGITS),
        "Per seed:",
        _per_seed_pairs(main, ["checkpoint"], ranks=True),
        "Counts over seeds:",
        _counts(main, ["checkpoint"], 10),
    ]
    scans = _scan_rows(spec, out)
    if len(scans):
        sections += [
            "## Exposure audit before deployment (does not know the targets)",
            "pretrained/exposure_scan.py ranks items by (users exposed + 1) / (interactions + 1) in every profile "
            "group of the federation's users (it needs their whole histories in one place); share of the backdoored "
            "checkpoint's targets among the most suspicious items (`.control`: the same targets, scanned in the "
            "control):",
            _table(scans, ["checkpoint"], ["targets among the top 5", "targets among the top 10"], {}),
            "Most suspicious item per seed:",
            _per_seed_text(scans, "top suspect"),
        ]
    rated = pairs[pairs["checkpoint"].str.contains("-rate")]
    if len(rated):
        sections += ["## Backdoor rate (as is)", _table(rated, ["checkpoint"], PAIR_COLUMNS, DIGITS)]
        sections += _scan_aware_rates(spec, out, pairs)
    runs = _run_rows(spec, out)
    if not runs.empty:
        runs["targets"] = main["targets"].iloc[0]
        last = runs.loc[runs.groupby(["checkpoint", "scenario", "seed"])["epoch"].idxmax()]
        frames = []
        for when, frame in (("epoch 0", runs[runs["epoch"] == 0]), ("last epoch", last)):
            frame = frame.assign(when=when, **{"target ranks": ""})
            frames.append(paired(frame, ["scenario", "when"]))
        persistence = pd.concat(frames).sort_values(["scenario", "checkpoint", "when"], kind="stable")
        final = persistence[persistence["when"] == "last epoch"]
        attacked = {name: o for name, o in spec["scenarios"].items() if o.get("attack", "none") != "none"}
        clients = "Every fine-tuning client is honest" + (
            f" except in {', '.join(f'`{name}`' for name in attacked)}, whose malicious clients (the spec's attack) "
            "fine-tune the backdoored checkpoint and its control alike."
            if attacked
            else "."
        )
        sections += [
            f"## Federated fine-tuning ({int(last['epoch'].max())} epochs): persistence",
            clients,
            _table(persistence, ["scenario", "checkpoint", "when"], PAIR_COLUMNS, DIGITS),
            "Per seed, at the last epoch:",
            _per_seed_pairs(final, ["scenario", "checkpoint"], ranks=False),
            "Counts over seeds, at the last epoch:",
            _counts(final, ["scenario", "checkpoint"], 10),
            "![persistence](persistence.png)",
        ]
        for key in COUNTERPARTS:
            sections += _against_counterpart(spec, last, key)
        sections += _run_scans(out)
        _plot(runs, spec, out / "persistence.png")
    (out / "report.md").write_text("\n\n".join(sections) + "\n")
    print(f"report -> {out / 'report.md'}")


def _provider_scan(out: Path, name: str) -> dict:
    """What the provider's own scan holds of a checkpoint's targets (`own`, top 10) and where that was read
    (`source`): from the audited checkpoint's meta, or else from the audits in `recreated/` of checkpoints
    pre-trained again from the same config and seed. The shipped checkpoints predate bit-reproducible pre-training
    (pretrained/training.py, `deterministic_algorithms`), so each re-creation is another draw of the same
    checkpoint; their value is used only when they agree."""
    own = json.loads((out / "audits" / f"{name}.json").read_text()).get("provider-scan")
    if own is not None:
        return {"own": own["targets-among-top-10"], "source": ""}
    again = [json.loads(path.read_text()) for path in sorted((out / RECREATED).glob(f"{name}.*.json"))]
    again = [audit for audit in again if "provider-scan" in audit]
    if not again:
        return {"own": None, "source": ""}
    values = [audit["provider-scan"]["targets-among-top-10"] for audit in again]
    exposures = ", ".join(f"{audit['metrics']['group/er@10']:.4f}" for audit in again)
    return {
        "own": values[0] if len(set(values)) == 1 else None,
        "source": f" (read on {len(again)} re-created checkpoint(s): {', '.join(f'{value:.1f}' for value in values)}; "
        f"their group ER@10 as is {exposures})",
    }


def _scan_aware_rates(spec: dict, out: Path, pairs: pd.DataFrame) -> list[str]:
    """Per seed and rate-swept checkpoint, each rate's group ER@10 as is beside what the provider's own scan
    (on its users, `provider-scan` of the checkpoint) and the deployer's scan (on the federation's users) hold of
    its targets; and the rate a scan-aware provider ships: the largest its own scan does not flag in its top 10."""
    lines = []
    base = tomllib.loads((PROJECT / spec["base"]).read_text())
    for kind in spec.get("rate-checkpoints", []):
        own_rate = make_config({**base, **_settings(spec["checkpoints"][kind])}).backdoor_rate
        rates = {kind: own_rate, **{f"{kind}-rate{rate}": rate for rate in spec.get("rates", [])}}
        for seed in sorted(pairs["seed"].unique()):
            rows = []
            for name, rate in rates.items():
                scan = out / "audits" / f"{seed_run_name(name, seed)}.scan.json"
                pair = pairs[(pairs["checkpoint"] == name) & (pairs["seed"] == seed)]
                if pair.empty or not scan.exists():
                    continue
                rows.append(
                    {
                        "rate": rate,
                        "name": name,
                        "er": float(pair["group/er@10"].iloc[0]),
                        **_provider_scan(out, seed_run_name(name, seed)),
                        "deployer": json.loads(scan.read_text())["targets-among-top-10"],
                    }
                )
            if len(rows) < 2:  # the seed's rates were not swept
                continue
            rows.sort(key=lambda row: row["rate"])
            cells = "; ".join(
                f"rate {row['rate']:g} ({row['name']}): group ER@10 {row['er']:.4f}, targets in the top 10 of the "
                f"provider's scan {'not recorded' if row['own'] is None else format(row['own'], '.1f')}"
                f"{row['source']} / of the deployer's {row['deployer']:.1f}"
                for row in rows
            )
            unflagged = [row for row in rows if row["own"] == 0.0]
            shipped = unflagged[-1] if unflagged else None
            choice = (
                f"ships {shipped['name']} (group ER@10 {shipped['er']:.4f}, the deployer's scan holds "
                f"{shipped['deployer']:.1f} of its targets)"
                if shipped
                else "finds no swept rate its own scan does not flag"
            )
            unknown = [
                f"{row['rate']:g}"
                for row in rows
                if row["own"] is None and (shipped is None or row["rate"] > shipped["rate"])
            ]
            if unknown:
                choice += f", if its scan flags rate {', '.join(unknown)}, where this spec's audits did not record it"
            lines.append(f"- {kind}, seed {int(seed)}: {cells}. A scan-aware provider {choice}.")
    if not lines:
        return []
    return [
        "### The rate a provider who knows the scan would ship",
        "The provider runs the deployer's target-blind scan on its own users after pre-training (`provider-scan` in "
        "the checkpoint) and ships the largest swept rate that keeps every target out of that scan's 10 most "
        "suspicious items; the deployer's scan on the federation's users may still see what the provider's did not:",
        "\n".join(lines),
    ]


def _against_counterpart(spec: dict, last: pd.DataFrame, key: str) -> list[str]:
    """Per scenario naming a counterpart under `key` (COUNTERPARTS), per backdoored checkpoint and seed at the last
    epoch: group ER@10 and HR@10 in the scenario and in its counterpart, for the checkpoint and for its control."""
    title, this, that, counterpart_is = COUNTERPARTS[key]
    lines = []
    for scenario, overrides in spec["scenarios"].items():
        counterpart = overrides.get(key)
        if counterpart is None:
            continue
        heading = f"- `{scenario}` against `{counterpart}` ({counterpart_is}):"
        cell = last.set_index(["checkpoint", "scenario", "seed"])
        for kind in _backdoored(spec):
            ratios, hr_changes = [], []
            for seed in sorted(last["seed"].unique()):
                keys = [(name, run, seed) for name in (kind, kind + CONTROL) for run in (scenario, counterpart)]
                if not all(key in cell.index for key in keys):
                    continue
                if heading:
                    lines.append(heading)
                    heading = ""
                er = [cell.loc[key, "group/er@10"] for key in keys]
                hr = [cell.loc[key, "recall@10"] for key in keys]
                lines.append(
                    f"  - {kind}, seed {int(seed)}: group ER@10 {er[0]:.4f} {this} vs {er[1]:.4f} {that}; control "
                    f"{er[2]:.4f} vs {er[3]:.4f}. HR@10 {hr[0]:.4f} vs {hr[1]:.4f}; control {hr[2]:.4f} vs {hr[3]:.4f}"
                )
                floor = exposure_floor(cell.loc[keys[0], "targets"], cell.loc[keys[0], "group/evaluated-users"])
                ratios.append(lift(er[0], er[2], floor))
                hr_changes.append(f"{hr[0] - hr[1]:+.4f}")
            if ratios:
                lines.append(
                    f"  - {kind}, over seeds: group ER@10 {this} ≥ 10× its control's in "
                    f"{sum(ratio >= 10 for ratio in ratios)} of {len(ratios)}, within 2× in "
                    f"{sum(ratio <= 2 for ratio in ratios)} of {len(ratios)} (control at least the floor of one "
                    f"exposure); HR@10 {this} − {that} per seed {', '.join(hr_changes)}"
                )
    if not lines:
        return []
    return [
        f"## {title} (last epoch, per seed)",
        f"The backdoored checkpoint and its control, each fine-tuned in the scenario ({this}) and in its counterpart "
        f"({that}; same epochs, users, seed):",
        "\n".join(lines),
    ]


def _run_scans(out: Path) -> list[str]:
    """The federated scans the runs made on the checkpoint they start from (`exposure-scan.json`): the share of the
    targets among its top 10 and, where the run reset items (`scan-reset-items`), among the reset ones."""
    lines = []
    for path in sorted((out / "runs").glob("*/exposure-scan.json")):
        scan = json.loads(path.read_text())
        line = f"- `{path.parent.name}`: targets among the top 10 {scan['targets-among-top-10']:.2f}"
        if "reset-items" in scan:
            line += f"; {len(scan['reset-items'])} items reset, targets among them {scan['targets-reset']:.2f}"
        if "evasion" in scan:
            curve = ", ".join(f"{n}: {er:.4f}" for n, er in scan["evasion-ceiling-by-reset"].items())
            line += (
                f"; group ER@10 from the scan's counts {scan['evasion']['er']:.4f}, scan-aware ceiling by items "
                f"reset {curve}"
            )
        lines.append(line)
    if not lines:
        return []
    return [
        "## Federated exposure scans in the runs (on the checkpoint each run starts from)",
        "From the nodes' per-group sums (server_app/exposure_scan.py); the targets are the simulation's ground truth. "
        "The scan-aware ceiling (pretrained/exposure_scan.py `evasion_ceiling`) is the highest group ER@10 on these "
        "targets that keeps each of them below the N-th most suspicious other item of this scan, in the group and "
        "in everyone: an upper bound on what a provider who knows a reset of N items keeps, if the other items' "
        "suspicions stay as they are.",
        "\n".join(lines),
    ]


def _per_seed_text(rows: pd.DataFrame, column: str) -> str:
    return "\n".join(
        f"- {kind}: "
        + "; ".join(f"seed {int(r['seed'])}: {r[column]}" for _, r in group.sort_values("seed").iterrows())
        for kind, group in rows.groupby("checkpoint", sort=False)
    )


def _plot(runs: pd.DataFrame, spec: dict, path: Path) -> None:
    scenarios = list(spec["scenarios"])
    kinds = list(dict.fromkeys(runs["checkpoint"]))
    columns = 3
    rows = -(-len(scenarios) // columns)
    figure, axes = plt.subplots(rows, columns, figsize=(4.6 * columns, 3.4 * rows), sharey=True, squeeze=False)
    palette = plt.get_cmap("tab20").colors  # more checkpoints than the default cycle's 10 colours
    colors = {kind: palette[index % len(palette)] for index, kind in enumerate(kinds)}
    for axis, scenario in zip(axes.flat, scenarios):
        for kind in kinds:
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
    parser.add_argument("--as-is-only", action="store_true", help="pre-train and audit only, no federated fine-tuning")
    args = parser.parse_args()
    spec = tomllib.loads(args.spec.read_text()) | {"path": str(args.spec)}
    out = args.out or PROJECT / "results" / "pretrained" / args.spec.stem
    if not args.table_only:
        with one_line_errors(parser):
            run_spec(spec, args.data_dir, out, args.federation_config, fine_tune=not args.as_is_only)
    report(spec, out)


if __name__ == "__main__":
    main()
