"""Seeds in the experiment scripts: aggregation (hand-checked), formatting, paired comparisons, and a
sweep's tables over fake per-seed results folders (no Flower)."""

import json
import math
import re
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from experiments import defense_report, plot, sweep  # noqa: E402
from experiments.plot import Tables  # noqa: E402
from experiments.seeds import (  # noqa: E402
    aggregate,
    describe_n,
    format_cell,
    paired,
    plot_mean_band,
    seed_curves,
    seed_run_name,
    split_seed_run_name,
)
from tests.claims import Evidence, claim, claims, evidences  # noqa: E402

STD_3 = math.sqrt(0.07)  # sample std of 0.1, 0.2, 0.6: squared deviations 0.04 + 0.01 + 0.09 over n - 1 = 2


def test_aggregate_gives_mean_sample_std_n_min_max_per_group() -> None:
    rows = pd.DataFrame(
        {
            "attack": ["none", "none", "none", "a-ra"],
            "seed": [1, 2, 3, 1],
            "recall@10": [0.1, 0.2, 0.6, 0.5],
            "detection-recall": [0.4, float("nan"), 0.8, float("nan")],
        }
    )
    out = aggregate(rows, ["attack"], ["recall@10", "detection-recall"]).set_index(["attack", "metric"])
    none = out.loc[("none", "recall@10")]
    assert none["n"] == 3 and none["mean"] == pytest.approx(0.3) and none["std"] == pytest.approx(STD_3)
    assert (none["min"], none["max"]) == (0.1, 0.6)
    # A seed without the value is not counted: std of 0.4, 0.8 with ddof = 1 is 0.2 * sqrt(2).
    partial = out.loc[("none", "detection-recall")]
    assert (
        partial["n"] == 2
        and partial["mean"] == pytest.approx(0.6)
        and partial["std"] == pytest.approx(0.2 * math.sqrt(2))
    )
    single = out.loc[("a-ra", "recall@10")]
    assert single["n"] == 1 and single["mean"] == 0.5 and math.isnan(single["std"])  # unknown, not 0
    assert out.loc[("a-ra", "detection-recall"), "n"] == 0


def test_cells_show_mean_std_and_n_and_say_when_the_std_is_unknown() -> None:
    assert format_cell(0.3, STD_3, 3) == "0.3000 ± 0.2646 (n=3)"
    assert format_cell(0.5, float("nan"), 1) == "0.5000 ± – (n=1)"
    assert format_cell(float("nan"), float("nan"), 0) == "–"
    assert format_cell(0.98765, 0.01234, 2, digits=3, with_n=False) == "0.988 ± 0.012"
    assert describe_n([3, 3, 0]) == "n=3" and describe_n([1, 3, 2]) == "n=1–3" and describe_n([0]) == "n=0"


def test_paired_comparison_counts_the_seeds_it_holds_in_over_shared_seeds() -> None:
    a = pd.Series({1: 0.5, 2: 0.1, 3: 0.4, 4: 0.9})  # seed 4 has no b: left out
    b = pd.Series({3: 0.1, 1: 0.2, 2: 0.3, 5: 0.0})
    comparison = paired(a, b)
    assert comparison.differences.index.tolist() == [1, 2, 3]
    assert comparison.differences.tolist() == pytest.approx([0.3, -0.2, 0.3])
    assert (comparison.holds, comparison.n) == (2, 3) and comparison.mean == pytest.approx(0.4 / 3)
    assert evidences(comparison.evidence()) == [Evidence(2, 3, 0, {1: 0.3, 2: -0.2, 3: 0.3}, mean=0.1333)]


def test_paired_comparison_of_one_seed_says_n_1_and_nan_counts_as_not_run() -> None:
    one = paired(pd.Series({42: 0.2, 7: float("nan")}), pd.Series({42: 0.25, 7: 0.1}))
    assert (one.holds, one.n) == (0, 1)
    assert evidences(one.evidence()) == [Evidence(0, 1, 0, {42: -0.05})] and "n=1" in one.evidence()
    saturated = paired(pd.Series({1: 1.0, 2: 1.0, 3: 0.9}), pd.Series({1: 1.0, 2: 0.5, 3: 1.0}))
    assert (saturated.holds, saturated.ties) == (1, 1)
    assert evidences(saturated.evidence(1)) == [Evidence(1, 3, 1, {1: 0.0, 2: 0.5, 3: -0.1}, mean=0.1)]
    none = paired(pd.Series({1: 0.2}), pd.Series({2: 0.1}))
    assert none.n == 0 and math.isnan(none.mean) and evidences(none.evidence()) == [Evidence(0, 0)]


def test_seed_folder_names_round_trip_and_plain_folders_have_no_seed() -> None:
    assert seed_run_name("rq1-a-ra", 3) == "rq1-a-ra__seed3"
    assert split_seed_run_name("rq1-a-ra__seed3") == ("rq1-a-ra", 3)
    assert split_seed_run_name("none__fedavg__rho0.05__seed12") == ("none__fedavg__rho0.05", 12)
    assert split_seed_run_name("rq2-a-ra-0.001") == ("rq2-a-ra-0.001", None)
    assert split_seed_run_name("odd__seedx") == ("odd__seedx", None)


def test_the_band_spans_min_to_max_around_the_mean_line() -> None:
    tables = {
        1: pd.DataFrame({"epoch": [1, 2, 3], "recall@10": [0.1, 0.2, 0.3]}),
        2: pd.DataFrame({"epoch": [1, 2, 3], "recall@10": [0.3, 0.4, 0.5]}),
        3: pd.DataFrame({"epoch": [1, 2], "recall@10": [0.2, 0.9]}),  # one epoch short: NaN there
    }
    curves = seed_curves(tables, "recall@10")
    assert curves.columns.tolist() == [1, 2, 3] and math.isnan(curves.loc[3, 3])
    figure, axis = plt.subplots()
    plot_mean_band(axis, curves, "fedavg")
    plot_mean_band(axis, curves[[1]], "single")
    (mean_line, single_line) = axis.lines
    assert (
        mean_line.get_label() == "fedavg (n=2–3)" and single_line.get_label() == "single (n=1)"
    )  # seed 3 lacks epoch 3
    assert mean_line.get_ydata().tolist() == pytest.approx([0.2, 0.5, 0.4])
    (band,) = axis.collections  # none for the single seed
    top = band.get_paths()[0].vertices[:, 1]
    assert top.min() == pytest.approx(0.1) and top.max() == pytest.approx(0.9)
    plt.close(figure)


def _write_run(folder: Path, recall: list[float], status: str = "completed") -> None:
    """A results folder as fedrec/reporting/results.py writes it: metrics.csv per epoch, summary.json with the
    last row."""
    folder.mkdir(parents=True)
    epochs = pd.DataFrame(
        {
            "epoch": range(1, len(recall) + 1),
            "elapsed-s": 1.0,
            "train-loss": 0.5,
            "recall@10": recall,
            "ndcg@10": [2 * value for value in recall],
            "er@10": 0.0,
        }
    )
    epochs.to_csv(folder / "metrics.csv", index=False)
    summary = {
        "status": status,
        "epochs-completed": len(recall),
        "wall-time-s": 10.0,
        "final": epochs.iloc[-1].to_dict(),
    }
    (folder / "summary.json").write_text(json.dumps(summary))


def test_sweep_tables_aggregate_the_seeds_of_each_cell(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    spec = tmp_path / "tiny.toml"
    spec.write_text(
        '[grid]\nattack = ["none", "a-ra"]\ndefense = ["fedavg"]\nmalicious-fraction = [0.05]\nseed = [1]\n'
    )
    results = tmp_path / "results" / "tiny"
    # Final Recall@10 of `none` per seed: 0.1, 0.2, 0.6; `a-ra`: 0.5 and 0.7 (its seed 3 failed: not counted).
    finals = {("none", 1): 0.1, ("none", 2): 0.2, ("none", 3): 0.6, ("a-ra", 1): 0.5, ("a-ra", 2): 0.7}
    for (attack, seed), final in finals.items():
        _write_run(results / f"{attack}__fedavg__rho0.05__seed{seed}", [0.05, 0.08, 0.07, 0.09, 0.1, final])
    _write_run(results / "a-ra__fedavg__rho0.05__seed3", [0.05, 0.0], status="failed")
    argv = ["sweep.py", str(spec), "--seeds", "1", "2", "3", "--table-only", "--results-dir", str(tmp_path / "results")]
    monkeypatch.setattr(sys, "argv", argv)
    sweep.main()

    per_run = pd.read_csv(results / "sweep.csv")
    assert len(per_run) == 5 and sorted(per_run["seed"]) == [1, 1, 2, 2, 3]
    seeds = pd.read_csv(results / "sweep-seeds.csv").set_index(["attack", "metric"])
    none = seeds.loc[("none", "recall@10")]
    assert none["n"] == 3 and none["mean"] == pytest.approx(0.3) and none["std"] == pytest.approx(STD_3)
    assert (none["min"], none["max"]) == (0.1, 0.6)
    ara = seeds.loc[("a-ra", "recall@10")]
    assert ara["n"] == 2 and ara["mean"] == pytest.approx(0.6) and ara["std"] == pytest.approx(0.1 * math.sqrt(2))
    # The last-5 mean is taken per seed first: (0.08 + 0.07 + 0.09 + 0.1 + final) / 5, then over seeds.
    assert seeds.loc[("none", "recall@10-last5"), "mean"] == pytest.approx((0.34 + 0.3) / 5)
    assert seeds.loc[("none", "ndcg@10"), "mean"] == pytest.approx(0.6)

    text = (results / "sweep.md").read_text()
    assert "| recall@10, rho = 0.05 | fedavg |" in text
    assert "| none | 0.3000 ± 0.2646 (n=3) |" in text and "| a-ra | 0.6000 ± 0.1414 (n=2) |" in text
    assert "detection-recall" not in text  # reported by no run
    assert (results / "heatmap-recallat10.png").stat().st_size > 0 and (
        results / "curves-recallat10.png"
    ).stat().st_size > 0


def test_plot_reads_plain_and_seed_folders_and_states_claims_per_seed(tmp_path: Path) -> None:
    for name, seed in (("rq1-none", None), ("ctl__seed1", 1), ("ctl__seed2", 2)):
        _write_run(tmp_path / name, [0.1, 0.2])
        (tmp_path / name / "config.json").write_text(json.dumps({"seed": 42 if seed is None else seed}))
    runs = plot.find_runs(tmp_path)
    assert {name: sorted(seeds) for name, seeds in runs.items()} == {"rq1-none": [42], "ctl": [1, 2]}
    # A config re-run over seeds after the ER@K change: its older run (no `repeated-items` key) is left out.
    for name, config in (("ctl__seed1", {"seed": 1, "repeated-items": "summed"}), ("ctl__seed3", {"seed": 3})):
        if not (tmp_path / name).exists():
            _write_run(tmp_path / name, [0.1, 0.2])
        (tmp_path / name / "config.json").write_text(json.dumps(config))
    assert sorted(plot.current_definition(plot.find_runs(tmp_path))["ctl"]) == [1]
    assert sorted(plot.find_runs(tmp_path)["ctl"]) == [1, 2, 3]  # Recall/NDCG unchanged: utility sections read them all
    _write_run(tmp_path / "ctl__seed4", [0.1], status="failed")  # or still running: its final row is not the end
    (tmp_path / "ctl__seed4" / "config.json").write_text(json.dumps({"seed": 4, "repeated-items": "summed"}))
    assert sorted(plot.current_definition(plot.find_runs(tmp_path))["ctl"]) == [1]

    def tables(finals: list[float]) -> dict[int, pd.DataFrame]:
        return {
            seed: pd.DataFrame({"epoch": [1, 2], "recall@10": [0.3, f], "ndcg@10": [0.3, f]})
            for seed, f in zip((1, 2, 3), finals)
        }

    def final_recall(setting: Tables) -> str:
        """The FedAttack section's line on the final Recall@10, in the report of this one setting."""
        every_seed = {run: {seed: tmp_path / run for seed in seeds} for run, seeds in setting.items()}
        text = plot.report({}, {}, [], {"victim": setting}, every_seed)
        (line,) = [line for line in text.splitlines() if line.startswith("Final recall@10")]
        return line

    line = final_recall(
        {"none": tables([0.5, 0.5, 0.5]), "ctl": tables([0.4, 0.3, 0.45]), "fa": tables([0.3, 0.4, 0.4])}
    )
    more, below = evidences(line)
    # FedAttack's final drop minus the control's, per seed: +0.1, -0.1, +0.05.
    assert more == Evidence(2, 3, 0, {1: 0.1, 2: -0.1, 3: 0.05}, mean=0.0167)
    assert (below.holds, below.n) == (3, 3)
    # No attack run only with another seed than the attacks (its older seed left out): said, not NaN.
    line = final_recall({"none": {7: tables([0.5])[1]}, "ctl": tables([0.4]), "fa": tables([0.3])})
    assert evidences(line) == [] and "nan" not in line
    assert re.findall(r"([\w.-]+): seeds ([\d, ]+)", line) == [("none", "7"), ("ctl", "1"), ("fa", "1")]


def test_fedattack_sections_compare_the_seeds_all_three_runs_share(tmp_path: Path) -> None:
    # The paper's victim: no attack re-run over seeds 1-2 after the ER@K change, the attacks only seed 42 from
    # before it.
    folders = {
        ("rq1-none", 42): [0.1, 0.5],
        ("rq1-none", 1): [0.1, 0.9],
        ("rq1-none", 2): [0.1, 0.9],
        ("random-samples-0.05", 42): [0.1, 0.4],
        ("fedattack-0.05", 42): [0.1, 0.2],
    }
    for (name, seed), recall in folders.items():
        folder = tmp_path / (name if seed == 42 else f"{name}__seed{seed}")
        _write_run(folder, recall)
        (folder / "config.json").write_text(
            json.dumps({"seed": seed} | ({} if seed == 42 else {"repeated-items": "summed"}))
        )
    every_seed = plot.find_runs(tmp_path)
    assert sorted(plot.current_definition(every_seed)["rq1-none"]) == [1, 2]
    settings = plot.fedattack_settings(plot.load(every_seed))
    assert list(settings) == ["MovieLens-1M, the paper's victim (lr 0.001)"]
    ((setting, tables),) = settings.items()
    assert {run: sorted(seeds) for run, seeds in tables.items()} == {
        "rq1-none": [42],
        "random-samples-0.05": [42],
        "fedattack-0.05": [42],
    }
    text = plot.report({}, {}, [], settings, every_seed)
    assert re.findall(r"([\w.-]+) also ran seeds? ([\d, ]+)", text) == [("rq1-none", "1, 2")]
    # Seed 42's final Recall@10 drop below no attack: FedAttack 0.5 - 0.2 = 0.3, the control 0.5 - 0.4 = 0.1.
    (final,) = [line for line in text.splitlines() if line.startswith("Final recall@10")]
    assert re.findall(r"FedAttack ([+-]\d+\.\d+), control ([+-]\d+\.\d+)", final) == [("+0.3000", "+0.1000")]
    assert evidences(final)[0] == Evidence(1, 1, 0, {42: 0.2})
    assert plot.plot_fedattack(settings, tmp_path).stat().st_size > 0


def test_defense_report_compares_attacks_seed_by_seed() -> None:
    frame = pd.DataFrame(
        {
            "attack": ["none"] * 3 + ["fang-trim"] * 3 + ["gaussian"] * 3,
            "defense": "median",
            "seed": [1, 2, 3] * 3,
            "recall@10-last5": [0.10, 0.10, 0.10, 0.02, 0.09, 0.04, 0.05, 0.05, 0.05],
        }
    )
    line = defense_report.compare(frame, "median", "fang-trim")
    # Recall@10 without attack, under fang-trim, under gaussian: mean ± std (n) over the seeds.
    cells = re.findall(r"(\d\.\d+) ± (\d\.\d+) \(n=(\d+)\)", line)
    assert cells == [("0.1000", "0.0000", "3"), ("0.0500", "0.0361", "3"), ("0.0500", "0.0000", "3")]
    # fang-trim's drop minus gaussian's, per seed: +0.03, -0.04, +0.01.
    assert evidences(line) == [Evidence(2, 3, 0, {1: 0.03, 2: -0.04, 3: 0.01}, mean=0.0)]
    assert evidences(defense_report.compare(frame, "krum", "fang-trim")) == [], "krum was not run"


def _current_report(tmp_path: Path, tables: Tables) -> str:
    """plot.report of `tables`, every run's seeds made with the current ER@K definition (none marked †)."""
    runs = {}
    for name, seeds in tables.items():
        for seed in seeds:
            folder = tmp_path / seed_run_name(name, seed)
            folder.mkdir(parents=True)
            (folder / "config.json").write_text(json.dumps({"seed": seed, "repeated-items": "summed"}))
            runs.setdefault(name, {})[seed] = folder
    return plot.report(tables, runs, [])


def _curves(er10: dict[int, list[float]], recall10: float = 0.01) -> dict[int, pd.DataFrame]:
    """A run's per-seed tables with the report's columns: ER@5 = ER@10 as given, a final Recall@10."""
    return {
        seed: pd.DataFrame(
            {
                "epoch": range(1, len(values) + 1),
                "er@5": values,
                "er@10": values,
                "recall@10": [0.1] * (len(values) - 1) + [recall10],
                "ndcg@10": 0.1,
            }
        )
        for seed, values in er10.items()
    }


def test_rq_claims_pair_runs_by_seed_and_count_saturated_ties(tmp_path: Path) -> None:
    tables = {
        "rq2-a-ra-0.001": _curves({1: [0.2, 0.4], 2: [0.5, 1.0]}),
        "rq2-a-hum-0.001": _curves({1: [0.3, 0.6], 2: [0.5, 1.0]}),
        "rq1-a-hum": _curves({1: [1.0, 1.0], 2: [1.0, 1.0]}),
        "rq1-eb": {**_curves({1: [0.0, 0.1]}, recall10=0.0101), **_curves({2: [0.0, 1.0]}, recall10=0.0125)},
        "rq1-none": _curves({1: [0.0, 0.0], 2: [0.0, 0.0]}, recall10=0.0123),
    }
    text = _current_report(tmp_path, tables)
    # A-hum's final ER@10 minus A-ra's at rho 0.1%: seed 1 0.6 - 0.4, seed 2 1.0 - 1.0 (saturated: a tie).
    assert claim(text, "RQ3", "0.1%", "final ER@10") == Evidence(1, 2, 1, {1: 0.2, 2: 0.0}, mean=0.1)
    assert claim(text, "RQ1", "a-hum", "eb", "ER@10") == Evidence(1, 2, 1, {1: 0.9, 2: 0.0}, mean=0.45)
    # Final Recall@10 without attack minus under eb; utility differences are given to 4 digits.
    assert claim(text, "RQ1", "Recall@10", "eb") == Evidence(1, 2, 0, {1: 0.0022, 2: -0.0002}, mean=0.001)
    assert not any("RQ2" in subject or "random" in subject for subject in claims(text)), "claims need both runs"
    assert not any(line.endswith("†") for line in text.splitlines())


def test_a_claim_resting_on_a_run_before_the_exposure_change_is_marked(tmp_path: Path) -> None:
    old, new = tmp_path / "rq2-a-hum-0.001", tmp_path / "rq2-a-ra-0.001"
    for folder, config in ((old, {"seed": 1}), (new, {"seed": 1, "repeated-items": "summed"})):
        _write_run(folder, [0.1])
        (folder / "config.json").write_text(json.dumps(config))
    runs = plot.find_runs(tmp_path)
    tables = {
        name: {1: pd.DataFrame({"epoch": [1], "er@5": [0.5], "er@10": [0.5], "recall@10": [0.1], "ndcg@10": [0.2]})}
        for name in runs
    }
    text = plot.report(tables, runs, [])
    assert "| rq2-a-hum-0.001 † |" in text and "| rq2-a-ra-0.001 |" in text
    rq3 = [line for line in text.splitlines() if line.startswith("- RQ3")]
    assert len(rq3) == 3 and all(line.endswith(". †") for line in rq3)


def test_defaults_are_compared_with_the_reference_like_runs_seed_by_seed(tmp_path: Path) -> None:
    def er(finals: dict[int, float]) -> dict[int, pd.DataFrame]:
        return _curves({seed: [0.5, final] for seed, final in finals.items()})

    tables = {
        "rq2-a-hum-0.001": er({1: 1.0, 2: 0.2, 5: 1.0}),
        "reference-like-a-hum-0.001": er({1: 0.4, 2: 0.6, 20220110: 1.0}),
    }
    compared = claims(_current_report(tmp_path / "both", tables))
    # The final ER@10 with the defaults minus reference-like's, on the seeds both ran.
    final = [evidence for subject, evidence in compared.items() if "reference-like" in subject and "final" in subject]
    assert final == [Evidence(1, 2, 0, {1: 0.6, 2: -0.4}, mean=0.1)]
    assert not any("a-ra" in subject for subject in compared)  # no A-ra run: no claim
    alone = claims(_current_report(tmp_path / "alone", {"rq2-a-hum-0.001": tables["rq2-a-hum-0.001"]}))
    assert not any("reference-like" in subject for subject in alone)
