"""The leaderboard: its page regenerated from a fixture grid whose run folders are written here by the real
recorder (fedrec/reporting/results.py), checked cell by cell by hand; the shipped grid covers every registered
attack and defense."""

import json
import math
import sys
from pathlib import Path

import pytest

from app_config import make_config
from attacks import ATTACKS
from attacks.threat import attack_mode
from datasets import load_dataset
from experiments.leaderboard import __main__ as leaderboard
from experiments.leaderboard.baselines import CHANCE, POPULARITY, read_baselines, write_baselines
from experiments.leaderboard.grid import load_grid, planned_runs
from experiments.run import PROJECT
from experiments.seeds import format_values
from experiments.sweep import parse_shard
from fedrec.evaluation.baselines import chance_metrics, popularity_metrics
from fedrec.reporting.results import RunRecorder
from strategies import STRATEGIES

FIXTURE = Path(__file__).parent / "fixtures" / "leaderboard" / "tiny.toml"

#: (attack, defense, seed) -> (final Recall@10, final ER@10, status, seconds of wall time); absent: never run.
RUNS = {
    ("none", "fedavg", 1): (0.30, 0.0, "completed", 10),
    ("none", "fedavg", 2): (0.20, 0.0, "completed", 20),
    ("none", "fedavg", 3): (0.40, 0.0, "completed", 30),
    ("none", "median", 1): (0.25, 0.0, "completed", 40),
    ("none", "median", 2): (0.25, 0.0, "completed", 40),
    ("none", "median", 3): (0.05, 0.0, "failed", 5),
    ("a-hum", "fedavg", 1): (0.30, 0.5, "completed", 60),
    ("a-hum", "fedavg", 2): (0.20, 0.7, "completed", 60),
    ("a-hum", "fedavg", 3): (0.40, 0.9, "completed", 60),
    ("a-hum", "median", 1): (0.25, 0.1, "completed", 50),
    ("a-hum", "median", 2): (0.25, 0.1, None, 0),  # started, no summary yet
    ("fang-krum", "fedavg", 1): (0.10, 0.0, "completed", 30),
    ("fang-krum", "fedavg", 2): (0.15, 0.0, "completed", 30),
    ("fang-krum", "fedavg", 3): (0.20, 0.0, "completed", 30),
}


def _write_runs(results: Path) -> None:
    grid = load_grid(FIXTURE)
    for run in planned_runs(grid, results, ""):
        cell = run.overrides
        key = (cell["attack"], cell["defense"], cell["seed"])
        if key not in RUNS:
            continue
        recall, exposure, status, seconds = RUNS[key]
        config = make_config(results_dir=str(run.results), run_name=run.name, top_k="10", seed=cell["seed"])
        recorder = RunRecorder(config, {})
        recorder.started -= seconds  # the run's wall time, as if it had taken that long
        recorder.record_epoch(1, {"recall@10": recall / 2, "ndcg@10": 0.1, "er@10": exposure / 2})
        recorder.record_epoch(2, {"recall@10": recall, "ndcg@10": 0.1, "er@10": exposure})
        if status:
            recorder.finish(status)


def test_the_page_shows_each_cell_over_seeds_and_the_runs_without_a_value(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _write_runs(tmp_path / "results")
    assert (tmp_path / "results" / "tiny" / "synthetic" / "a-hum__fedavg__rho0.05__seed1" / "summary.json").exists()
    out = tmp_path / "docs" / "leaderboard.md"
    argv = ["leaderboard", str(FIXTURE), "--table-only", "--results-dir", str(tmp_path / "results"), "--out", str(out)]
    monkeypatch.setattr(sys, "argv", argv)
    leaderboard.main()
    page = out.read_text()
    drop_std = math.sqrt((0.05**2 + 0.1**2 + 0.05**2) / 2)  # drops 0.20, 0.05, 0.20 around their mean 0.15
    assert f"{drop_std:.3f}" == "0.087"
    # Recall@10 without attack: 0.3, 0.2, 0.4 under fedavg; median's third seed failed.
    assert "| no attack: Recall@10 | 0.300 ± 0.100 (n=3) | 0.250 ± 0.000 (n=2; 1 failed) |" in page
    # Targeted: ER@10 0.5, 0.7, 0.9; under median one seed, one unfinished, one never started.
    assert "| a-hum: ER@10 | 0.700 ± 0.200 (n=3) | 0.100 ± – (n=1; 1 unfinished) |" in page
    # Untargeted: fedavg's Recall@10 without attack minus under attack, seed by seed; median never ran.
    assert "| fang-krum: Recall@10 drop | 0.150 ± 0.087 (n=3) | not run |" in page
    assert "| fedavg | 0.300 ± 0.100 (n=3) | 0.700 ± 0.200 (n=3) `a-hum` | 0.150 ± 0.087 (n=3) `fang-krum` |" in page
    assert "| median | 0.250 ± 0.000 (n=2; 1 failed) | 0.100 ± – (n=1; 1 unfinished) `a-hum` | not run |" in page
    # Cost: mean wall time of the completed seeds (the failed run's 5 s is not a completed run's cost); the total
    # is 10 + 20 + 30 + 40 + 40 + 3 * 60 + 50 + 3 * 30 over 3 + 2 + 3 + 1 + 3 runs.
    assert "| none | 20 | 40 |" in page and "| a-hum | 60 | 50 |" in page and "| fang-krum | 30 | not run |" in page
    assert "Total: 460 s of wall time over 12 completed runs." in page
    # Completeness: the core (none, a-hum x fedavg) has all three seeds; of the six cells of the whole grid,
    # none/median (n=2), a-hum/median (n=1) and fang-krum/median (not run) do not.
    assert (
        "Completeness: the core (the grid's `core-attacks` x `core-defenses`, 2 attacks x 1 defenses, the no-attack "
        "row included) has n = 3 in 2 of 2 cells; the whole grid (3 attacks x 2 defenses) has n = 3 in 3 of 6 "
        "cells, and 1 cells have no value yet." in page
    )
    figure = out.parent / "figures" / "leaderboard" / "tiny-synthetic.png"
    assert "(figures/leaderboard/tiny-synthetic.png)" in page and figure.stat().st_size > 0


def test_the_fixture_grid_plans_every_cell_seed_by_seed_with_the_data_folder_per_dataset(tmp_path: Path) -> None:
    runs = planned_runs(load_grid(FIXTURE), tmp_path, "/data")
    assert len(runs) == 3 * 2 * 3
    assert [run.overrides["seed"] for run in runs] == [1] * 6 + [2] * 6 + [3] * 6
    first = runs[0]
    assert first.name == "none__fedavg__rho0.05__seed1" and first.results == tmp_path / "tiny" / "synthetic"
    assert first.overrides["data-dir"] == "/data/synthetic" and first.overrides["epochs"] == 2
    fang = next(run for run in runs if run.overrides["attack"] == "fang-krum")
    assert fang.overrides["attacker-knowledge"] == "full" and fang.overrides["malicious-fraction"] == 0.05


def test_a_core_of_rows_and_columns_is_planned_alone(tmp_path: Path) -> None:
    runs = planned_runs(load_grid(FIXTURE), tmp_path, "/data", attacks=["none", "a-hum"], defenses=["fedavg"])
    assert [run.name for run in runs] == [
        f"{attack}__fedavg__rho0.05__seed{seed}" for seed in (1, 2, 3) for attack in ("none", "a-hum")
    ]


def test_the_core_option_runs_the_grids_core_and_a_core_outside_the_grid_is_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    grid = load_grid(FIXTURE)
    assert (grid.core_attacks, grid.core_defenses) == (["none", "a-hum"], ["fedavg"])
    planned = []
    monkeypatch.setattr(leaderboard, "run_cells", lambda runs, *rest: planned.extend(runs) or [])
    monkeypatch.setattr(leaderboard, "write_baselines", lambda *args: None)
    out = tmp_path / "leaderboard.md"
    argv = ["leaderboard", str(FIXTURE), "--core", "--results-dir", str(tmp_path), "--out", str(out)]
    monkeypatch.setattr(sys, "argv", argv)
    leaderboard.main()
    assert sorted({(run.overrides["attack"], run.overrides["defense"]) for run in planned}) == [
        ("a-hum", "fedavg"),
        ("none", "fedavg"),
    ]
    assert len(planned) == 2 * 3
    bad = tmp_path / "bad.toml"
    bad.write_text(FIXTURE.read_text().replace('core-defenses = ["fedavg"]', 'core-defenses = ["krum"]'))
    with pytest.raises(SystemExit, match="^`core-defenses` names 'krum', which `defenses` does not list$"):
        load_grid(bad)


def test_the_shipped_grid_lists_every_registered_attack_and_defense() -> None:
    """Every attack on the embedding models the grid trains (those built for a sequential model run elsewhere:
    experiments/pretrained_backdoor.py)."""
    grid = load_grid(PROJECT / "experiments" / "leaderboard" / "grid.toml")
    assert sorted(grid.attacks) == sorted(name for name in ATTACKS.names() if not ATTACKS.get(name).sequential)
    assert sorted(grid.defenses) == sorted(STRATEGIES.names())
    assert [dataset.name for dataset in grid.datasets] == ["ml-100k", "steam"] and len(grid.seeds) == 3


def test_every_cell_of_the_shipped_grid_validates_and_gives_its_attack_the_knowledge_it_needs() -> None:
    """A cell that would stop at its first line (an attack without its `attacker-knowledge`) fails here instead."""
    grid = load_grid(PROJECT / "experiments" / "leaderboard" / "grid.toml")
    for run in planned_runs(grid, PROJECT / "results", ""):
        config = make_config({key: value for key, value in run.overrides.items() if key != "data-dir"})
        attack_mode(config, ATTACKS.get(config.attack))  # raises a ConfigError naming what is missing


def test_the_untargeted_attacks_are_read_by_their_utility_drop_not_by_a_targets_exposure() -> None:
    untargeted = {name for name in ATTACKS.names() if not ATTACKS.get(name).targeted}
    assert {"fedattack", "fang-krum", "lie", "min-max", "cluster-attack", "spattack-o", "spattack-l"} <= untargeted
    assert not {"a-ra", "a-hum", "eb", "bandwagon", "fedrecattack", "pieck-ipe", "pieck-uea"} & untargeted


def test_bad_grids_and_shards_are_one_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text(FIXTURE.read_text().replace('"a-hum"', '"a-humm"'))
    with pytest.raises(SystemExit, match="unknown attack 'a-humm' in `attacks`; valid: none, "):
        load_grid(bad)
    bad.write_text(FIXTURE.read_text().replace("malicious-fraction = 0.05", ""))
    with pytest.raises(SystemExit, match=r"\[datasets.synthetic.base\] needs `malicious-fraction`"):
        load_grid(bad)
    assert parse_shard("1/2") == (1, 2)
    for text in ("2/2", "1", "a/b"):
        with pytest.raises(SystemExit, match="expected i/n"):
            parse_shard(text)


def test_the_page_shows_each_datasets_untrained_rankings_per_seed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    grid = load_grid(FIXTURE)
    dataset = grid.datasets[0]
    folder = grid.results(tmp_path / "results", dataset)
    path = write_baselines(dataset, [1, 2], folder, None)
    written = read_baselines(folder, "recall@10")
    for seed in (1, 2):
        data = load_dataset(make_config({**dataset.base, "seed": seed}))
        assert written[POPULARITY][seed] == popularity_metrics(data.train, data.test, (10,))["recall@10"]
        assert written[CHANCE][seed] == chance_metrics(data.train, data.test, (10,))["recall@10"]
    before = path.read_text()
    write_baselines(dataset, [1, 2], folder, None)  # nothing missing: the file is left as it is
    assert path.read_text() == before
    out = tmp_path / "leaderboard.md"
    argv = ["leaderboard", str(FIXTURE), "--table-only", "--results-dir", str(tmp_path / "results"), "--out", str(out)]
    monkeypatch.setattr(sys, "argv", argv)
    leaderboard.main()
    popularity = format_values(written[POPULARITY], 3)
    assert popularity.endswith("(n=2)")
    assert f"gives Recall@10 {popularity}, a random ranking {format_values(written[CHANCE], 3)}." in out.read_text()


def test_the_page_names_per_seed_the_defenses_whose_victim_stays_below_the_popularity_ranking(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _write_runs(tmp_path / "results")
    grid = load_grid(FIXTURE)
    folder = grid.results(tmp_path / "results", grid.datasets[0])
    path = write_baselines(grid.datasets[0], [1, 2, 3], folder, None)
    out = tmp_path / "leaderboard.md"
    argv = ["leaderboard", str(FIXTURE), "--table-only", "--results-dir", str(tmp_path / "results"), "--out", str(out)]
    monkeypatch.setattr(sys, "argv", argv)
    per_seed = json.loads(path.read_text())
    for seed, popularity in (("1", 0.01), ("2", 0.01), ("3", 0.01)):
        per_seed[seed][POPULARITY]["recall@10"] = popularity
    path.write_text(json.dumps(per_seed))
    leaderboard.main()
    assert "Every completed run without attack is above its seed's popularity ranking." in out.read_text()
    # fedavg's 0.20 (seed 2) and 0.40 (seed 3) fall below 0.22 and 0.45, median's 0.25 does not; median's failed
    # seed 3 never counts.
    for seed, popularity in (("1", 0.10), ("2", 0.22), ("3", 0.45)):
        per_seed[seed][POPULARITY]["recall@10"] = popularity
    path.write_text(json.dumps(per_seed))
    leaderboard.main()
    assert "below their seed's popularity ranking (Recall@10), per seed: seed 2: fedavg; seed 3: fedavg." in (
        out.read_text()
    )
