"""Reading the field's reference codes' logs (each in its own format) and summarising their runs over seeds."""

import json
from pathlib import Path

import pandas as pd
import pytest

from experiments.reference_field import (
    FORMATS,
    VERSUS,
    collect,
    project_curves,
    project_runs,
    reference_curves,
    report,
    summary,
    versus_report,
)

FEDRECATTACK = """Arguments: attack=FedRecAttack,dim=32
Iteration 0(init), (0.0848) on test, (0.0021, 0.0054, 0.0025) on target. [0.9s]
Iteration 1, loss = 72.84029 [3.9s], (0.0774) on test, (0.3901, 0.4051, 0.3802) on target. [1.1s]
Iteration 2, loss = 72.82960 [1.8s], (0.0668) on test, (0.9220, 0.9252, 0.9151) on target. [1.1s]
Iteration 3, loss = 72.82301 [1.5s], (0.0721) on test, (0.8206, 0.9238, 0.6187) on target. [1.0s]
DONE
"""
SPATTACK = """Iteration:0(init),hit_5:0.0530, hit_10:0.1007, ndcg_5:0.0300, ndcg_10:0.0450
Iteration:1, loss:72.10000,hit_5:0.0600, hit_10:0.1200, ndcg_5:0.0400,ndcg_10:0.0600
Iteration:2, loss:nan,hit_5:0.0100, hit_10:0.0300, ndcg_5:0.0050,ndcg_10:0.0100
DONE
"""
PIECK = (
    "Iteration 0(init), (0.0500000, 0.1000000, 0.2000000) on test, "
    "(0.0000000, 0.0000000, 0.0000000) on target. [1s]\n"
    "Iteration 1, Round 3, loss = 0.69 [2.0s], (0.0600000, 0.1100000, 0.2100000) on test, "
    "(0.9500000, 0.9600000, 0.9700000) on target. [1s]\n"
    "DONE\n"
)
CLUSTERATTACK = """[Val] Round: 200, HR@5: 0.9, nDCG@5: 0.9, HR@10: 0.9, nDCG@10: 0.9, HR@20: 0.9, nDCG@20: 0.9
[Test] Round: 200, HR@5: 0.02000, nDCG@5: 0.01000, HR@10: 0.04000, nDCG@10: 0.02000, HR@20: 0.08000, nDCG@20: 0.03000
[Test] Round: 400, HR@5: 0.03000, nDCG@5: 0.02000, HR@10: 0.05000, nDCG@10: 0.03000, HR@20: 0.09000, nDCG@20: 0.04000
DONE
"""


def test_a_fedrecattack_log_summarises_final_best_and_the_first_epoch_past_0_9() -> None:
    log_format = FORMATS["fedrecattack"]
    curve = log_format.curve(FEDRECATTACK)
    assert curve["epoch"].tolist() == [0, 1, 2, 3]
    row = summary(curve, log_format)
    assert row["final ER@5"] == pytest.approx(0.8206)
    assert row["max ER@5"] == pytest.approx(0.9220)
    assert row["final HR@10"] == pytest.approx(0.0721)
    assert row["first epoch ER@5 >= 0.9"] == 2
    assert row["first epoch ER@10 >= 0.9"] == 2


def test_untargeted_logs_give_the_minimum_and_no_exposure_epoch() -> None:
    spattack = summary(FORMATS["spattack"].curve(SPATTACK), FORMATS["spattack"])
    assert spattack["final HR@10"] == pytest.approx(0.03)
    assert spattack["min HR@10"] == pytest.approx(0.03)
    assert not any(key.startswith("first") for key in spattack)
    cluster = summary(FORMATS["clusterattack-union"].curve(CLUSTERATTACK), FORMATS["clusterattack-union"])
    assert cluster["epochs"] == 400  # the test lines only, by round
    assert cluster["min HR@10"] == pytest.approx(0.04)


def test_a_target_that_never_reaches_0_9_is_nan() -> None:
    curve = FORMATS["pieck"].curve(PIECK.replace("0.9500000, 0.9600000", "0.5000000, 0.6000000"))
    row = summary(curve, FORMATS["pieck"])
    assert pd.isna(row["first epoch ER@5 >= 0.9"]) and pd.isna(row["first epoch ER@10 >= 0.9"])


def test_only_finished_logs_are_collected_and_reported(tmp_path: Path) -> None:
    logs = tmp_path / "pieck"
    logs.mkdir()
    (logs / "PIECKIPE-NoDefense-seed1.log").write_text(PIECK)
    (logs / "PIECKIPE-NoDefense-seed2.log").write_text(PIECK.replace("0.9500000", "0.9000000"))
    (logs / "PIECKIPE-NoDefense-seed3.log").write_text(PIECK.replace("DONE\n", ""))
    runs = collect(tmp_path)
    assert list(runs) == ["pieck"]
    assert sorted(runs["pieck"]["seed"]) == [1, 2]
    text = report(runs)
    assert "| PIECKIPE-NoDefense | 2 | 0.9250 ± 0.0354 |" in text


def _project_run(results: Path, config: str, seed: int, rows: list[tuple[float, float, float]], status: str) -> None:
    """A run folder of this project: metrics.csv (epoch, sampled HR@10, ER@5, ER@10) and summary.json."""
    folder = results / f"{config}__seed{seed}"
    folder.mkdir(parents=True)
    lines = ["epoch,recall@10,sampled-hr@10,er@5,er@10"]
    lines += [f"{epoch},0.01,{hr},{er5},{er10}" for epoch, (hr, er5, er10) in enumerate(rows, start=1)]
    (folder / "metrics.csv").write_text("\n".join(lines) + "\n")
    (folder / "summary.json").write_text(json.dumps({"status": status}))


def test_fedrecattack_beside_the_project_checks_each_seed_against_the_reference_range(tmp_path: Path) -> None:
    logs = tmp_path / "logs" / "fedrecattack"
    logs.mkdir(parents=True)
    (logs / "ml-100k-FedRecAttack-seed1.log").write_text(FEDRECATTACK)  # ER@5 final 0.8206, max 0.9220, first 2
    (logs / "ml-100k-FedRecAttack-seed2.log").write_text(FEDRECATTACK.replace("(0.8206,", "(0.7000,"))
    results = tmp_path / "results"
    config = VERSUS["fedrecattack"].conditions["ml-100k-FedRecAttack"]
    _project_run(results, config, 1, [(0.08, 0.5, 0.5), (0.07, 0.91, 0.92), (0.072, 0.75, 0.93)], "completed")
    _project_run(results, config, 2, [(0.08, 0.5, 0.5), (0.07, 0.6, 0.6), (0.06, 0.95, 0.95)], "completed")
    _project_run(results, config, 3, [(0.08, 0.5, 0.5)], "running")
    (ablation, (against, ablation_config)), *_ = VERSUS["fedrecattack"].ablations.items()
    _project_run(results, ablation_config, 1, [(0.08, 0.95, 0.95)], "completed")
    ours = project_runs(results, VERSUS["fedrecattack"])
    assert sorted(ours.loc[ours["condition"] == "ml-100k-FedRecAttack", "seed"]) == [1, 2]  # unfinished: left out
    assert "max NDCG@10" not in ours  # the reference's target NDCG@10 has no column here
    text = versus_report("fedrecattack", collect(tmp_path / "logs")["fedrecattack"], ours)
    assert "| ml-100k-FedRecAttack | final ER@5 | 0.7000–0.8206 (2) | 1: 0.7500, 2: 0.9500 | 1 of 2 |" in text
    assert "| ml-100k-FedRecAttack | first epoch ER@5 >= 0.9 | 2 (2) | 1: 2, 2: 3 | 1 of 2 |" in text
    assert "| ml-100k-FedRecAttack, this project | 2 | 0.8500 ± 0.1414 |" in text
    assert f"| {ablation} | first epoch ER@5 >= 0.9 | 2 (2) | 1: 1 | 0 of 1 |" in text  # held against {against}
    assert "## Differences that remain" in text


def test_spattack_beside_the_project_holds_the_minimum_hr_against_the_reference_range(tmp_path: Path) -> None:
    logs = tmp_path / "logs" / "spattack"
    logs.mkdir(parents=True)
    # HR@10 final 0.03, min 0.03 (seed 0) and final 0.08 (seed 1); final loss 72.2 and 72.4
    (logs / "Spattack_O-Mean-seed0.log").write_text(SPATTACK.replace("loss:nan", "loss:72.20000"))
    (logs / "Spattack_O-Mean-seed1.log").write_text(
        SPATTACK.replace("hit_10:0.0300", "hit_10:0.0800").replace("loss:nan", "loss:72.40000")
    )
    folder = tmp_path / "results" / f"{VERSUS['spattack'].conditions['Spattack_O-Mean']}__seed0"
    folder.mkdir(parents=True)
    (folder / "metrics.csv").write_text(
        "epoch,train-loss,sampled-hr@10,sampled-ndcg@10\n1,72.5,0.0900,0.0400\n2,72.4,0.0500,0.0300\n3,72.3,0.0600,0.0310\n"
    )
    (folder / "summary.json").write_text(json.dumps({"status": "completed"}))
    ours = project_runs(tmp_path / "results", VERSUS["spattack"])
    assert ours["min HR@10"].tolist() == [0.05] and ours["final NDCG@10"].tolist() == [0.031]
    text = versus_report("spattack", collect(tmp_path / "logs")["spattack"], ours)
    assert "| Spattack_O-Mean | min HR@10 | 0.0300–0.0800 (2) | 0: 0.0500 | 1 of 1 |" in text
    assert "| Spattack_O-Mean | final HR@10 | 0.0300–0.0800 (2) | 0: 0.0600 | 1 of 1 |" in text
    # The final training loss is shown beside the headline.
    assert "| Spattack_O-Mean | final loss | 72.2000–72.4000 (2) | 0: 72.3000 | 1 of 1 |" in text
    # HR@10 from epoch 1 to the last: 0.12 -> 0.03 and 0.12 -> 0.08 there, 0.09 -> 0.06 here.
    assert "| Spattack_O-Mean | epoch-1 HR@10 | 0.1200 (2) | 0: 0.0900 | 0 of 1 |" in text
    assert "| Spattack_O-Mean | change HR@10 | -0.0900–-0.0400 (2) | 0: -0.0300 | 0 of 1 |" in text


def _cluster_log(hr10: float, ndcg10: float) -> str:
    return CLUSTERATTACK.replace("HR@10: 0.05000, nDCG@10: 0.03000", f"HR@10: {hr10:.5f}, nDCG@10: {ndcg10:.5f}")


def test_clusterattack_beside_the_project_gives_the_attack_drop_per_code_by_round(tmp_path: Path) -> None:
    versus = VERSUS["clusterattack-union"]
    clean, attacked = "None-FedAdam-r484", "ClusterAttack-FedAdam-r484"
    logs = tmp_path / "logs" / "clusterattack-union"
    logs.mkdir(parents=True)
    for seed, (hr_clean, hr_attacked) in enumerate([(0.05, 0.03), (0.06, 0.05)]):
        (logs / f"{clean}-seed{seed}.log").write_text(_cluster_log(hr_clean, 0.02))
        (logs / f"{attacked}-seed{seed}.log").write_text(_cluster_log(hr_attacked, 0.01))
    results = tmp_path / "results"
    for config, hr in ((versus.conditions[clean], 0.05), (versus.conditions[attacked], 0.035)):
        folder = results / f"{config}__seed0"
        folder.mkdir(parents=True)
        rows = [(1, 0.01, 0.005), (2, 0.02, 0.01), (3, 0.03, 0.015), (4, hr, 0.02)]
        (folder / "metrics.csv").write_text("epoch,recall@10,ndcg@10\n" + "".join(f"{e},{h},{n}\n" for e, h, n in rows))
        (folder / "summary.json").write_text(json.dumps({"status": "completed"}))
    ours = project_runs(results, versus)
    assert ours["epochs"].tolist() == [484, 484]  # epoch 4 of 121 rounds, the reference's unit
    text = versus_report("clusterattack-union", collect(tmp_path / "logs")["clusterattack-union"], ours)
    drop = "| ClusterAttack's utility drop (FedAdam) | final HR@10 |"
    assert f"{drop} reference | 0.0550 ± 0.0071 (n=2) | 0.0400 ± 0.0141 (n=2) | 0: -0.0200, 1: -0.0100 |" in text
    assert "| 0: -0.0150 | -0.0150 ± – (n=1) | -30.0% | 1 of 1 (-0.0200 to -0.0100) |" in text
    assert "| UNION's recovery under ClusterAttack | final HR@10 | this project | 0.0350 ± – (n=1) | – | – |" in text


def test_an_effect_between_ablations_takes_the_reference_side_from_the_conditions_they_are_held_against(
    tmp_path: Path,
) -> None:
    versus = VERSUS["clusterattack-union"]
    label, baseline, compared = next(contrast for contrast in versus.contrasts if contrast[1] in versus.ablations)
    logs = tmp_path / "logs" / "clusterattack-union"
    logs.mkdir(parents=True)
    (logs / f"{versus.ablations[baseline][0]}-seed0.log").write_text(_cluster_log(0.05, 0.02))
    (logs / f"{versus.ablations[compared][0]}-seed0.log").write_text(_cluster_log(0.03, 0.01))
    results = tmp_path / "results"
    for ablation, hr in ((baseline, 0.02), (compared, 0.025)):
        folder = results / f"{versus.ablations[ablation][1]}__seed0"
        folder.mkdir(parents=True)
        (folder / "metrics.csv").write_text(f"epoch,recall@10,ndcg@10\n1,0.01,0.005\n4,{hr},0.01\n")
        (folder / "summary.json").write_text(json.dumps({"status": "completed"}))
    ours = project_runs(results, versus)
    text = versus_report("clusterattack-union", collect(tmp_path / "logs")["clusterattack-union"], ours)
    effect = f"| {label} | final HR@10 |"
    assert f"{effect} reference | 0.0500 ± – (n=1) | 0.0300 ± – (n=1) | 0: -0.0200 |" in text
    assert f"{effect} this project | 0.0200 ± – (n=1) | 0.0250 ± – (n=1) | 0: +0.0050 |" in text
    assert "| 1 of 1 (-0.0200 to -0.0200) |" not in text and "| 0 of 1 (-0.0200 to -0.0200) |" in text


def test_an_ablation_is_held_against_reference_runs_of_a_condition_outside_the_settings_own(tmp_path: Path) -> None:
    """An ablation's reference condition (e.g. a switched copy of the reference) need not be one of the conditions
    this project's configs reproduce: its runs still give the range the ablation is checked against."""
    versus = VERSUS["clusterattack-union"]
    label, (against, config) = next(
        (label, pair) for label, pair in versus.ablations.items() if pair[0] not in versus.conditions
    )
    logs = tmp_path / "logs" / "clusterattack-union"
    logs.mkdir(parents=True)
    for seed, hr in ((0, 0.02), (1, 0.04)):
        (logs / f"{against}-seed{seed}.log").write_text(_cluster_log(hr, 0.01))
    folder = tmp_path / "results" / f"{config}__seed0"
    folder.mkdir(parents=True)
    (folder / "metrics.csv").write_text("epoch,recall@10,ndcg@10\n1,0.01,0.005\n4,0.03,0.01\n")
    (folder / "summary.json").write_text(json.dumps({"status": "completed"}))
    ours = project_runs(tmp_path / "results", versus)
    text = versus_report("clusterattack-union", collect(tmp_path / "logs")["clusterattack-union"], ours)
    assert f"| {label} | final HR@10 | 0.0200–0.0400 (2) | 0: 0.0300 | 1 of 1 |" in text


def test_a_config_held_against_two_reference_conditions_is_one_run_in_the_seed_tables(tmp_path: Path) -> None:
    versus = VERSUS["clusterattack-union"]
    configs = [config for _, config in versus.ablations.values()]
    config = next(config for config in configs if configs.count(config) > 1)
    labels = [label for label, (_, used) in versus.ablations.items() if used == config]
    folder = tmp_path / "results" / f"{config}__seed0"
    folder.mkdir(parents=True)
    (folder / "metrics.csv").write_text("epoch,recall@10,ndcg@10\n1,0.01,0.005\n4,0.03,0.01\n")
    (folder / "summary.json").write_text(json.dumps({"status": "completed"}))
    logs = tmp_path / "logs" / "clusterattack-union"
    logs.mkdir(parents=True)
    (logs / "None-FedAdam-r484-seed0.log").write_text(_cluster_log(0.02, 0.01))
    ours = project_runs(tmp_path / "results", versus)
    assert sorted(ours["condition"]) == sorted(labels)  # checked against each reference condition
    text = versus_report("clusterattack-union", collect(tmp_path / "logs")["clusterattack-union"], ours)
    per_seed = text.split("## Per seed")[1].split("##")[0]
    assert per_seed.count("| 0 | 484 | 0.0300 |") == 1


def _cluster_curve_log(hr10_by_round: dict[int, float]) -> str:
    return (
        "".join(
            f"[Test] Round: {round_}, HR@5: 0.01000, nDCG@5: 0.01000, HR@10: {hr:.5f}, nDCG@10: 0.01000, "
            "HR@20: 0.05000, nDCG@20: 0.02000\n"
            for round_, hr in hr10_by_round.items()
        )
        + "DONE\n"
    )


def test_an_effect_at_every_checkpoint_pairs_each_seeds_rounds_and_holds_ours_against_all_the_references(
    tmp_path: Path,
) -> None:
    """A final value's effect rests on one checkpoint per seed; the checkpoint table pairs the two conditions at
    every round both evaluated (this project's epochs in the reference's rounds) and counts the changes above zero."""
    versus = VERSUS["clusterattack-union"]
    attacked, defended = "ClusterAttack-FedAdam-r484", "ClusterAttack-NormBoundUNION-r484"
    logs = tmp_path / "logs" / "clusterattack-union"
    logs.mkdir(parents=True)
    reference_runs = {0: ((0.02, 0.03), (0.03, 0.02)), 1: ((0.02, 0.02), (0.025, 0.03))}
    for seed, (base, compared) in reference_runs.items():
        (logs / f"{attacked}-seed{seed}.log").write_text(_cluster_curve_log(dict(zip((121, 242), base))))
        (logs / f"{defended}-seed{seed}.log").write_text(_cluster_curve_log(dict(zip((121, 242, 363), compared))))
    results = tmp_path / "results"
    for condition, (first, second) in ((attacked, (0.02, 0.02)), (defended, (0.05, 0.01))):
        folder = results / f"{versus.conditions[condition]}__seed0"
        folder.mkdir(parents=True)
        (folder / "metrics.csv").write_text(f"epoch,recall@10,ndcg@10\n1,{first},0.01\n2,{second},0.01\n")
        (folder / "summary.json").write_text(json.dumps({"status": "completed"}))
    ours = project_curves(results, versus)
    assert ours["epoch"].tolist() == [121, 242, 121, 242]
    curves = pd.concat(
        [
            reference_curves(tmp_path / "logs")["clusterattack-union"].assign(code="reference"),
            ours.drop(columns=["against", "config"]).assign(code="this project"),
        ]
    )
    text = versus_report(
        "clusterattack-union", collect(tmp_path / "logs")["clusterattack-union"], project_runs(results, versus), curves
    )
    effect = "| UNION's recovery under ClusterAttack |"
    assert f"{effect} reference | 0: +0.0100 / -0.0100; 1: +0.0050 / +0.0100 | 3 of 4 |" in text
    assert f"{effect} this project | 0: +0.0300 / -0.0100 | 1 of 2 |" in text
    assert "| -0.0100 to +0.0300 | 1 of 2 |" in text  # +0.03 lies outside the reference's -0.01 to +0.01
    assert "The same effects in HR@10 at every checkpoint" not in versus_report(
        "clusterattack-union", collect(tmp_path / "logs")["clusterattack-union"], project_runs(results, versus)
    )
