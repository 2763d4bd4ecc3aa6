"""Figures and a results table for the shipped attack experiments (reads what experiments/run.py wrote).

    python -m experiments.plot [--results-dir results/experiments] [--out docs]

Writes `<out>/figures/*.png` and `<out>/attack-experiments.md`: the reference paper's RQ1 (ER@K over
epochs per attack at rho = 0.5%), RQ2 (final ER@K against rho for A-ra and A-hum), RQ3 (A-ra vs
A-hum at rho = 0.1% and 0.2%), and FedAttack vs its random-sampling control and no attack (Recall@10
and NDCG@10 over epochs, and the L2 norms of benign and malicious updates). Missing runs, and runs not
(yet) completed, are skipped.

A run may have several seeds (`python -m experiments.run --seeds ...` writes `<config>__seed<k>`; a
folder without the suffix is the one run of its config's seed). Tables give mean ± std over seeds
with n, figures the mean with a min–max band over seeds, and every comparison the seeds it holds in
(experiments/seeds.py).
"""

import json
import textwrap
from collections.abc import Callable
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

from experiments.run import completed  # noqa: E402
from experiments.seeds import (  # noqa: E402
    BAND_CAPTION,
    format_values,
    n_seeds,
    paired,
    plot_mean_band,
    save_figure,
    seed_curves,
    split_seed_run_name,
)
from fedrec.reporting.results import METRICS_CSV, UPDATE_NORMS_CSV  # noqa: E402
from harness.arguments import script_parser  # noqa: E402

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


#: run name -> seed -> what the run wrote (its folder, or a table read from it)
Runs = dict[str, dict[int, Path]]
Tables = dict[str, dict[int, pd.DataFrame]]


def find_runs(results: Path) -> Runs:
    """Every run folder with metrics under `results`, grouped by run name over seeds.

    `<name>__seed<k>` is seed k of `name`; a folder without the suffix (the shipped single-seed runs)
    is the run of the seed its config.json records. A run still going, or one that failed, is left out.
    """
    runs: Runs = {}
    for folder in sorted(results.iterdir()) if results.exists() else []:
        if not (folder / METRICS_CSV).exists():
            continue
        if not completed(folder):  # still running, or failed: its last epoch is not the run's end
            print(f"skipped {folder.name}: not a completed run (no summary.json with status 'completed')")
            continue
        name, seed = split_seed_run_name(folder.name)
        if seed is None:
            seed = int(json.loads((folder / "config.json").read_text())["seed"])
        if seed in runs.get(name, {}):
            print(f"skipped {folder.name}: seed {seed} of {name} is already read from {runs[name][seed].name}")
            continue
        runs.setdefault(name, {})[seed] = folder
    return runs


def current_definition(runs: Runs) -> Runs:
    """`runs` without the seeds made before the current ER@K definition, where a run has seeds made after it:
    never average two definitions of ER@K. (Recall and NDCG did not change, so utility-only sections read all.)"""
    kept: Runs = {}
    for name, seeds in runs.items():
        current = {seed: folder for seed, folder in seeds.items() if not _before_exposure_change({seed: folder})}
        if current and len(current) < len(seeds):
            stale = sorted(set(seeds) - set(current))
            print(
                f"{name}: left out seed(s) {stale}, made before the current ER@K definition; seeds {sorted(current)} "
                "are"
            )
        kept[name] = current or seeds
    return kept


def shared_seeds(tables: Tables, names: list[str]) -> Tables:
    """The runs `names` restricted to the seeds all of them ran, so that their means compare like with like."""
    shared = set.intersection(*(set(tables[name]) for name in names))
    return {name: {seed: tables[name][seed] for seed in sorted(shared)} for name in names}


def load(runs: Runs) -> Tables:
    """Each run's per-epoch metrics, per seed."""
    return {
        name: {seed: pd.read_csv(folder / METRICS_CSV) for seed, folder in seeds.items()}
        for name, seeds in runs.items()
    }


Statistic = Callable[[pd.DataFrame], float]


def _final(metric: str) -> Statistic:
    return lambda table: table[metric].iloc[-1]


def _peak(metric: str) -> Statistic:
    return lambda table: table[metric].max()


def _mean(metric: str) -> Statistic:
    return lambda table: table[metric].mean()


def _per_seed(tables: dict[int, pd.DataFrame], statistic: Statistic) -> pd.Series:
    """`statistic` of each seed's table, indexed by seed."""
    return pd.Series({seed: statistic(table) for seed, table in tables.items()}, dtype=float)


def _over_seeds(tables: dict[int, pd.DataFrame], statistic: Statistic, digits: int = 4) -> str:
    """A table cell: mean ± std of `statistic` over the seeds (n is in the table's seeds column)."""
    return format_values(_per_seed(tables, statistic), digits, with_n=False)


def _seeds_column(tables: dict[int, pd.DataFrame]) -> str:
    return f"{', '.join(map(str, sorted(tables)))} (n={len(tables)})"


def _over_epochs(axis: plt.Axes, tables: Tables, runs: list[tuple[str, str]], column: str, title: str) -> None:
    """One line per (run, label) present in `tables`: `column` against the epoch, mean and min–max band over seeds.

    Styles differ per line because runs often coincide (all at 0 or all at 1).
    """
    styles = [("-", "o"), ("--", "s"), (":", "^"), ("-.", "v"), ("-", "x"), ("--", "d")]
    for (run, label), (line, marker) in zip(runs, styles):
        if run in tables:
            plot_mean_band(axis, seed_curves(tables[run], column), label, linestyle=line, marker=marker, markersize=3)
    axis.set(title=title, xlabel="epoch")
    axis.grid(alpha=0.3)


def plot_rq1(tables: Tables, out: Path) -> Path:
    figure, axes = plt.subplots(1, len(KS), figsize=(4.2 * len(KS), 3.6), sharey=True)
    for axis, k in zip(axes, KS):
        _over_epochs(axis, tables, [(run, _label(run)) for run in RQ1], f"er@{k}", f"ER@{k}, rho = 0.5%")
    axes[0].set_ylabel("exposure ratio of the target")
    axes[-1].legend(fontsize=8)
    return save_figure(figure, out / "rq1-exposure.png")


def plot_rq2(tables: Tables, out: Path) -> Path:
    figure, axes = plt.subplots(1, len(KS), figsize=(4.2 * len(KS), 3.6), sharey=True)
    for axis, k in zip(axes, KS):
        for attack in ("a-ra", "a-hum"):
            finals = {
                rho * 100: _per_seed(tables[_rq2_run(attack, rho)], _final(f"er@{k}"))
                for rho in RHOS
                if _rq2_run(attack, rho) in tables
            }
            if finals:
                plot_mean_band(axis, pd.DataFrame(finals).T, attack, marker="o")
        axis.set(title=f"final ER@{k}", xlabel="malicious users (% of benign)")
        axis.grid(alpha=0.3)
    axes[0].set_ylabel("exposure ratio at epoch 30")
    axes[-1].legend()
    return save_figure(figure, out / "rq2-exposure-vs-rho.png")


def plot_rq3(tables: Tables, out: Path) -> Path:
    figure, axes = plt.subplots(1, 4, figsize=(16.8, 3.6), sharey=True)
    panels = [(rho, k) for rho in (0.001, 0.002) for k in (5, 10)]
    for axis, (rho, k) in zip(axes, panels):
        runs = [(_rq2_run(attack, rho), attack) for attack in ("a-ra", "a-hum")]
        _over_epochs(axis, tables, runs, f"er@{k}", f"ER@{k}, rho = {rho * 100:.1f}%")
        axis.legend(fontsize=8)  # on every panel: the two rhos can rest on different numbers of seeds
    axes[0].set_ylabel("exposure ratio of the target")
    return save_figure(figure, out / "rq3-ara-vs-ahum.png")


def fedattack_settings(utility: Tables) -> dict[str, Tables]:
    """Each FedAttack setting whose three runs all exist, restricted to the seeds the three share (utility only,
    so runs from before the ER@K change count)."""
    settings = {}
    for setting, names in FEDATTACK.items():
        if not set(names) <= set(utility):
            continue
        tables = shared_seeds(utility, names)
        if not tables[names[0]]:
            print(f"skipped '{setting}': its runs share no seed")
        elif len({len(table) for run in names for table in tables[run].values()}) != 1:
            print(f"skipped '{setting}': its runs have different numbers of evaluated epochs (one is unfinished?)")
        else:
            settings[setting] = tables
    return settings


def plot_fedattack(settings: dict[str, Tables], out: Path) -> Path:
    figure, axes = plt.subplots(len(settings), 2, figsize=(10, 3.8 * len(settings)), squeeze=False)
    for row, (setting, tables) in zip(axes, settings.items()):
        for axis, metric in zip(row, ("recall@10", "ndcg@10")):
            _over_epochs(axis, tables, [(run, _label(run)) for run in tables], metric, f"{metric}: {setting}")
            axis.set_title(textwrap.fill(f"{metric}: {setting}", 70), fontsize=8)
        row[-1].legend(fontsize=8)
    return save_figure(figure, out / "fedattack-utility.png")


def _norms(seeds: dict[int, Path]) -> pd.DataFrame:
    """The update norms of a run's seeds that wrote them, one frame with a `seed` column."""
    frames = {
        seed: pd.read_csv(folder / UPDATE_NORMS_CSV)
        for seed, folder in seeds.items()
        if (folder / UPDATE_NORMS_CSV).exists()
    }
    return pd.concat(frames, names=["seed"]).reset_index(level="seed") if frames else pd.DataFrame()


def plot_fedattack_norms(runs: Runs, out: Path) -> Path | None:
    """Benign vs malicious update norms per epoch (median line, q25-q75 band, min-max band), per setting.

    Over several seeds the line is the mean of the seeds' medians and the bands their envelope (lowest
    q25 to highest q75, lowest min to highest max), so every seed's users lie inside the outer band.
    """
    settings = [(setting, _norms(runs[names[-1]])) for setting, names in FEDATTACK.items() if names[-1] in runs]
    settings = [(setting, norms) for setting, norms in settings if len(norms)]
    if not settings:
        return None
    figure, axes = plt.subplots(1, len(settings), figsize=(5 * len(settings), 3.9), squeeze=False)
    for axis, (setting, norms) in zip(axes[0], settings):
        n = norms["seed"].nunique()
        for group, color in (("benign", "tab:blue"), ("malicious", "tab:red")):
            rows = (
                norms[norms["group"] == group]
                .groupby("epoch")
                .agg(
                    median=("median", "mean"),
                    q25=("q25", "min"),
                    q75=("q75", "max"),
                    min=("min", "min"),
                    max=("max", "max"),
                )
                .reset_index()
            )
            axis.fill_between(rows["epoch"], rows["min"], rows["max"], color=color, alpha=0.12)
            axis.fill_between(rows["epoch"], rows["q25"], rows["q75"], color=color, alpha=0.3)
            axis.plot(rows["epoch"], rows["median"], color=color, label=f"{group} (median, q25-q75, min-max; n={n})")
        axis.set_yscale("log")
        axis.set_xlabel("epoch")
        axis.set_title(textwrap.fill(setting, 60), fontsize=8)
    axes[0][0].set_ylabel("L2 norm of a user's update")
    axes[0][-1].legend(fontsize=8)
    return save_figure(figure, out / "fedattack-update-norms.png")


def _first_epoch_at_least(table: pd.DataFrame, column: str, level: float) -> str:
    reached = table.loc[table[column] >= level, "epoch"]
    return str(int(reached.iloc[0])) if len(reached) else "never"


def _drop_claims(tables: Tables, none: str, control: str, fedattack: str) -> list[str]:
    """Does FedAttack lower Recall/NDCG@10 more than its control: mean drops, and the seeds the claim holds in."""
    lines = []
    for metric in ("recall@10", "ndcg@10"):
        for what, statistic in (("final", _final(metric)), ("mean over epochs of", _mean(metric))):
            value = {run: _per_seed(tables[run], statistic) for run in (none, control, fedattack)}
            drop = {run: (value[none] - value[run]).dropna() for run in (control, fedattack)}  # aligned by seed
            if drop[control].empty or drop[fedattack].empty:
                seeds = "; ".join(
                    f"{run}: seeds {', '.join(map(str, sorted(tables[run])))}" for run in (none, control, fedattack)
                )
                lines.append(
                    f"\n{what.capitalize()} {metric}: no drop below no attack to compare, the runs share no seed "
                    f"({seeds})."
                )
                continue
            more, below = paired(drop[fedattack], drop[control]), paired(value[none], value[fedattack])
            lines.append(
                f"\n{what.capitalize()} {metric}, below no attack (mean over seeds): FedAttack "
                f"{drop[fedattack].mean():+.4f}, control {drop[control].mean():+.4f}. FedAttack lowers it more than "
                "the "
                f"control {more.evidence()}; below no attack {below.evidence()}."
            )
    return lines


def _epochs_below(tables: Tables, control: str, fedattack: str, metric: str) -> str:
    """In how many evaluated epochs FedAttack's metric is below the control's, per seed both ran."""
    counts = [
        f"{int((tables[fedattack][seed][metric] < tables[control][seed][metric]).sum())} of "
        f"{len(tables[fedattack][seed])} "
        f"evaluated epochs (seed {seed})"
        for seed in sorted(tables[fedattack].keys() & tables[control].keys())
    ]
    return f"\nFedAttack's {metric} is below the control's in {', '.join(counts)}; {n_seeds(len(counts))}."


def _norms_section(norms: pd.DataFrame) -> list[str]:
    """The norms table at the first, middle and last epoch of each seed, and the shares of covert epochs."""
    lines = [
        "",
        "L2 norms of the uploaded updates (benign vs FedAttack's clients):",
        "",
        "| seed | epoch | group | updates | min | q25 | median | q75 | max |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    last = int(norms["epoch"].max())
    for _, row in norms[norms["epoch"].isin([1, last // 2, last])].iterrows():
        lines.append(
            f"| {row['seed']} | {row['epoch']} | {row['group']} | {row['updates']} | {row['min']:.4g} | "
            f"{row['q25']:.4g} | "
            f"{row['median']:.4g} | {row['q75']:.4g} | {row['max']:.4g} |"
        )
    wide = norms.pivot(index=["seed", "epoch"], columns="group")
    inside = (
        (wide[("min", "malicious")] >= wide[("min", "benign")])
        & (wide[("max", "malicious")] <= wide[("max", "benign")])
    ).mean()
    quartiles = (
        (wide[("q25", "malicious")] >= wide[("q25", "benign")] * 0.5)
        & (wide[("q75", "malicious")] <= wide[("q75", "benign")] * 2)
    ).mean()
    malicious_median = wide[("median", "malicious")]
    typical = ((malicious_median >= wide[("q25", "benign")]) & (malicious_median <= wide[("q75", "benign")])).mean()
    return lines + [
        "",
        f"Over the {len(wide)} evaluated epochs of {n_seeds(norms['seed'].nunique())}, epochs in which every malicious "
        f"norm lies within the benign [min, max]: {inside:.0%}; "
        f"in which the malicious quartiles lie within a factor 2 of the benign ones: {quartiles:.0%}; "
        f"in which the malicious median lies within the benign [q25, q75]: {typical:.0%}.",
        "",
    ]


def _fedattack_section(setting: str, tables: Tables, runs: Runs) -> list[str]:
    names = list(tables)
    none, control, fedattack = names
    lines = [f"## FedAttack vs its random-sampling control: {setting}", ""]
    more = {run: sorted(set(runs[run]) - set(tables[run])) for run in names if set(runs[run]) - set(tables[run])}
    if more:
        extra = "; ".join(
            f"{run} also ran seed{'s' * (len(seeds) > 1)} {', '.join(map(str, seeds))}" for run, seeds in more.items()
        )
        lines += [f"Compared on the seeds all three runs share ({extra}).", ""]
    lines += [
        "| run | seeds | final Recall@10 | final NDCG@10 | mean Recall@10 over epochs | mean NDCG@10 over epochs |",
        "|---|---|---|---|---|---|",
    ]
    statistics = [_final("recall@10"), _final("ndcg@10"), _mean("recall@10"), _mean("ndcg@10")]
    for run in names:
        cells = [_over_seeds(tables[run], statistic) for statistic in statistics]
        lines.append(f"| {run} | {_seeds_column(tables[run])} | " + " | ".join(cells) + " |")
    lines += _drop_claims(tables, none, control, fedattack)
    lines += [_epochs_below(tables, control, fedattack, metric) for metric in ("recall@10", "ndcg@10")]
    shared = sorted(tables[fedattack].keys() & tables[control].keys())
    control_mean, fedattack_mean = (
        seed_curves({seed: tables[run][seed] for seed in shared}, "recall@10").mean(axis=1)
        for run in (control, fedattack)
    )
    gap = control_mean - fedattack_mean
    worst = gap.idxmax()
    lines.append(
        f"\nLargest gap of the mean Recall@10 (over {n_seeds(len(shared))}) below the control's: {gap.max():+.4f} at "
        "epoch "
        f"{worst:.0f} ({gap.max() / control_mean[worst]:.0%} of the control's value)."
    )
    norms = _norms({seed: runs[fedattack][seed] for seed in tables[fedattack]})
    return lines + (_norms_section(norms) if len(norms) else [""])


def _rq_claims(tables: Tables, stale: set[str]) -> list[str]:
    """The reference paper's RQ1-RQ3 claims, each with the seeds it holds in. Runs of one seed share the data,
    the initial model, the negatives and the schedule, so they are paired by seed. A claim resting on a run
    made before the current ER@K definition (a name in `stale`) is marked †."""
    lines = ["## The paper's claims over seeds", ""]
    exposure_area = _mean("er@10")  # how early and how long the target sits in users' top 10

    def claim(text: str, a: str, b: str, statistic: Statistic, digits: int = 3) -> None:
        lines.extend(_claim(tables, stale, text, a, b, statistic, digits))

    for attack in ("rq1-a-ra", "rq1-a-hum"):
        for baseline in ("rq1-random", "rq1-bandwagon", "rq1-eb"):
            claim(
                f"RQ1 (rho 0.5%): {_label(attack)} ends with a higher ER@10 than {_label(baseline)}",
                attack,
                baseline,
                _final("er@10"),
            )
    for attack in ("rq1-random", "rq1-bandwagon", "rq1-eb", "rq1-a-ra", "rq1-a-hum"):
        claim(
            f"RQ1 (rho 0.5%): the final Recall@10 without attack is higher than under {_label(attack)}",
            "rq1-none",
            attack,
            _final("recall@10"),
            digits=4,
        )
    for attack in ("a-ra", "a-hum"):
        for low, high in zip(RHOS, RHOS[1:]):
            claim(
                f"RQ2: {attack}'s mean ER@10 over the epochs is higher at rho {high * 100:.1f}% "
                f"than at {low * 100:.1f}%",
                _rq2_run(attack, high),
                _rq2_run(attack, low),
                exposure_area,
            )
    for rho in RHOS:
        for what, statistic in (
            ("final ER@5", _final("er@5")),
            ("final ER@10", _final("er@10")),
            ("mean ER@10 over the epochs", exposure_area),
        ):
            claim(
                f"RQ3 (rho {rho * 100:.1f}%): A-hum's {what} is higher than A-ra's",
                _rq2_run("a-hum", rho),
                _rq2_run("a-ra", rho),
                statistic,
            )
    return lines + [""]


def _claim(
    tables: Tables, stale: set[str], text: str, a: str, b: str, statistic: Statistic, digits: int = 3
) -> list[str]:
    """`- <text> in k of n seeds (...)`: `statistic` of run a above run b, paired by seed; [] unless both ran."""
    if a not in tables or b not in tables:
        return []
    evidence = paired(_per_seed(tables[a], statistic), _per_seed(tables[b], statistic)).evidence(digits)
    marker = " †" if {a, b} & stale else ""
    return [f"- {text} {evidence}.{marker}"]


def _default_vs_reference_like(tables: Tables, stale: set[str]) -> list[str]:
    """A-ra and A-hum at rho = 0.1% with this project's defaults (rq2-*) against the settings closest to the
    reference code (reference-like-*: negatives fixed once, repeated items kept last), paired by seed."""
    lines = []
    for attack in ("a-ra", "a-hum"):
        for what, statistic in (("final ER@10", _final("er@10")), ("mean ER@10 over the epochs", _mean("er@10"))):
            lines += _claim(
                tables,
                stale,
                f"{attack}, rho 0.1%: the {what} with the defaults is higher than reference-like",
                _rq2_run(attack, 0.001),
                f"reference-like-{attack}-0.001",
                statistic,
            )
    if not lines:
        return []
    return [
        "## This project's defaults vs the reference-like settings",
        "",
        "The RQ runs use this project's defaults (negatives resampled every epoch, the rows of a user's repeated items "
        'summed); `reference-like-*` runs set `resample-negatives = false` and `repeated-items = "last-kept"` '
        "as the reference code does ([A-ra and A-hum vs the reference](a-ra-a-hum-vs-reference.md)).",
        "",
        *lines,
        "",
    ]


def _before_exposure_change(folders: dict[int, Path]) -> bool:
    """Whether a run's seeds predate the exposure ranking with train and test masked (no `repeated-items` key,
    the setting added with it)."""
    return any("repeated-items" not in json.loads((folder / "config.json").read_text()) for folder in folders.values())


def report(
    tables: Tables,
    runs: Runs,
    figures: list[Path],
    settings: dict[str, Tables] | None = None,
    every_seed: Runs | None = None,
) -> str:
    """The results document: `tables`/`runs` (current ER@K definition) for the tables and claims, `settings`
    (fedattack_settings) and `every_seed` (find_runs) for the FedAttack sections."""
    stale = {name for name, seeds in runs.items() if _before_exposure_change(seeds)}  # each config read once
    lines = [
        "# Attack experiments (MovieLens-1M)",
        "",
        "Generated by `python -m experiments.plot` from the runs of `python -m experiments.run "
        "experiments/configs/*.toml` (results in `results/experiments/<config>/`, or `<config>__seed<k>/` with "
        "`--seeds`). "
        "The RQ runs use the reference "
        "paper's setting: NCF dim 8, MLP 8-8, BCE, 4 negatives, 256 users per round, server sums, lr 0.001, "
        "30 epochs, target = the least popular item (1805), published 80/20 split. Each FedAttack section below "
        "names its victim; its configs say the rest.",
        "",
        "Values are mean ± sample std (ddof = 1) over a run's seeds; the std of a single seed is –. "
        "A comparison states in how many seeds it holds, with the per-seed differences.",
        "",
        "ER@K definition: runs marked † were made before ER@K ranked a target among the items a user never "
        "interacted with (their config.json has no `repeated-items` key); they ranked it with training items "
        "masked only, so their ER@K can be lower. Re-run them for the current definition "
        "([Results](results.md#metrics)).",
        "",
        "| run | seeds | final Recall@10 | final NDCG@10 | max ER@10 | first epoch ER@10 >= 0.9 | final ER@5 | final "
        "ER@10 |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for run, seeds in tables.items():
        first = ", ".join(_first_epoch_at_least(seeds[seed], "er@10", 0.9) for seed in sorted(seeds))
        cells = [
            _over_seeds(seeds, _final("recall@10")),
            _over_seeds(seeds, _final("ndcg@10")),
            _over_seeds(seeds, _peak("er@10"), 3),
            first,
            _over_seeds(seeds, _final("er@5"), 3),
            _over_seeds(seeds, _final("er@10"), 3),
        ]
        marker = " †" if run in stale else ""
        lines.append(f"| {run}{marker} | {_seeds_column(seeds)} | " + " | ".join(cells) + " |")
    lines += [
        "",
        f"Figures: {BAND_CAPTION} (no band for a single seed); n per line in the legends.",
        "",
        *[f"![{path.stem}](figures/{path.name})" for path in figures],
        "",
        *_rq_claims(tables, stale),
        *_default_vs_reference_like(tables, stale),
    ]
    for setting, setting_tables in (settings or {}).items():
        lines += _fedattack_section(setting, setting_tables, every_seed or runs)
    return "\n".join(lines)


def main() -> None:
    parser = script_parser(__spec__.name, __doc__)
    parser.add_argument("--results-dir", type=Path, default=PROJECT / "results" / "experiments")
    parser.add_argument("--out", type=Path, default=PROJECT / "docs")
    args = parser.parse_args()
    every_seed = find_runs(args.results_dir)
    runs = current_definition(every_seed)
    tables = load(runs)
    settings = fedattack_settings(load(every_seed))
    figure_dir = args.out / "figures"
    figure_dir.mkdir(parents=True, exist_ok=True)
    figures = [plot(tables, figure_dir) for plot in (plot_rq1, plot_rq2, plot_rq3)] + [
        plot_fedattack(settings, figure_dir)
    ]
    norms_figure = plot_fedattack_norms(every_seed, figure_dir)
    figures += [norms_figure] if norms_figure else []
    text = report(tables, runs, figures, settings, every_seed)
    (args.out / "attack-experiments.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
