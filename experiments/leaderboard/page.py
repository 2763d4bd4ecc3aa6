"""The leaderboard page from a grid's run folders: per dataset, attack x defense tables over seeds, heatmaps,
each defense's worst case and each cell's cost.

A targeted attack's cell is the final ER@10 of its target items; an untargeted attack's cell is the drop
in final Recall@10 against the same defense without attack, paired by seed (the seed's run without attack
minus its run under attack: both share the split, the initialisation and the sampling). Which attacks are
targeted is the attack class's `targeted`; the run without attack is the grid's attack whose class is
`NoAttack`. Every cell is mean ± sample std (n=k) over the seeds with a value (experiments/seeds.py);
runs that failed or have not finished are counted in their cell, never read as zeros.
"""

import json
from dataclasses import dataclass
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from attacks import ATTACKS, NoAttack  # noqa: E402
from experiments.leaderboard.baselines import CHANCE, POPULARITY, read_baselines  # noqa: E402
from experiments.leaderboard.grid import Dataset, Grid  # noqa: E402
from experiments.run import PROJECT, completed  # noqa: E402
from experiments.seeds import format_values, paired, save_figure  # noqa: E402
from experiments.sweep import annotated_heatmap, cell_name, load_runs, table  # noqa: E402

UTILITY, EXPOSURE = "recall@10", "er@10"
WALL_TIME = "wall-time-s"
#: The page's figures go here, under the page's folder (a documentation site shows only files under docs/).
FIGURES = Path("figures") / "leaderboard"
DIGITS = 3


@dataclass(frozen=True)
class Cell:
    """One attack x defense cell of a dataset: its per-seed values (NaN: no value) and its runs' states."""

    values: pd.Series
    failed: int
    unfinished: int

    @property
    def mean(self) -> float:
        return float(self.values.mean())

    @property
    def n(self) -> int:
        return int(self.values.count())

    def text(self) -> str:
        """`0.123 ± 0.010 (n=3)`, with the runs that did not complete named; `not run` where nothing ran."""
        notes = [f"{count} {state}" for count, state in ((self.failed, "failed"), (self.unfinished, "unfinished"))]
        notes = [note for note in notes if not note.startswith("0 ")]
        if self.n == 0:
            return ", ".join(notes) or "not run"
        value = format_values(self.values, DIGITS)
        return value if not notes else f"{value[:-1]}; {', '.join(notes)})"


class DatasetRuns:
    """The completed runs of one dataset of the grid, and the state of every planned run."""

    def __init__(self, grid: Grid, dataset: Dataset, results: Path) -> None:
        self.grid = grid
        self.dataset = dataset
        self.folder = results
        cells = dataset.cells()
        self.frame = table(load_runs(results, cells))
        self.states: dict[tuple[str, str], list[str]] = {}
        for cell in cells:
            folder = results / cell_name(cell)
            state = "completed" if completed(folder) else _incomplete_state(folder)
            self.states.setdefault((cell["attack"], cell["defense"]), []).append(state)
        baselines = [attack for attack in grid.attacks if ATTACKS.get(attack) is NoAttack]
        self.baseline = baselines[0] if baselines else None

    def seeds(self, attack: str, defense: str, metric: str) -> pd.Series:
        rows = self.frame[(self.frame["attack"] == attack) & (self.frame["defense"] == defense)]
        return rows.set_index("seed")[metric].astype(float)

    def _cell(self, attack: str, defense: str, values: pd.Series) -> Cell:
        states = self.states.get((attack, defense), [])
        return Cell(values, states.count("failed"), states.count("unfinished"))

    def utility(self, defense: str) -> Cell:
        """Recall@10 without attack."""
        if self.baseline is None:
            return self._cell("", defense, pd.Series(dtype=float))
        return self._cell(self.baseline, defense, self.seeds(self.baseline, defense, UTILITY))

    def score(self, attack: str, defense: str) -> Cell:
        """The attack's success against the defense: ER@10 if targeted, else the paired Recall@10 drop."""
        if ATTACKS.get(attack).targeted:
            return self._cell(attack, defense, self.seeds(attack, defense, EXPOSURE))
        if self.baseline is None:
            return self._cell(attack, defense, pd.Series(dtype=float))
        clean = self.seeds(self.baseline, defense, UTILITY)
        return self._cell(attack, defense, paired(clean, self.seeds(attack, defense, UTILITY)).differences)

    def cost(self, attack: str, defense: str) -> Cell:
        return self._cell(attack, defense, self.seeds(attack, defense, WALL_TIME))

    def attacks(self, targeted: bool) -> list[str]:
        return [a for a in self.grid.attacks if a != self.baseline and ATTACKS.get(a).targeted == targeted]


def _incomplete_state(folder: Path) -> str:
    """`failed` (the run wrote its summary with another status), `unfinished` (a folder without a summary:
    running, or stopped before it ended) or `missing` (never started)."""
    summary = folder / "summary.json"
    if summary.exists():
        return "failed" if json.loads(summary.read_text()).get("status") != "completed" else "completed"
    return "unfinished" if folder.exists() else "missing"


def _row(label: str, cells: list[Cell]) -> str:
    return f"| {label} | " + " | ".join(cell.text() for cell in cells) + " |"


def _header(first: str, defenses: list[str]) -> list[str]:
    return [f"| {first} | " + " | ".join(defenses) + " |", "|---|" + "---|" * len(defenses)]


def matrix(runs: DatasetRuns) -> list[str]:
    """Attack x defense: the utility without attack, then each targeted, then each untargeted attack."""
    defenses = runs.grid.defenses
    lines = _header("attack", defenses)
    lines.append(_row("no attack: Recall@10", [runs.utility(d) for d in defenses]))
    for targeted, what in ((True, "ER@10"), (False, "Recall@10 drop")):
        for attack in runs.attacks(targeted):
            lines.append(_row(f"{attack}: {what}", [runs.score(attack, d) for d in defenses]))
    return lines


def _worst(runs: DatasetRuns, defense: str, targeted: bool) -> str:
    """The attack with the highest mean score against the defense, over the attacks with a value."""
    attacks = runs.attacks(targeted)
    scored = {attack: runs.score(attack, defense) for attack in attacks}
    scored = {attack: cell for attack, cell in scored.items() if cell.n}
    if not scored:
        return "not run" if attacks else "–"
    attack = max(scored, key=lambda name: scored[name].mean)
    coverage = "" if len(scored) == len(attacks) else f", over {len(scored)} of {len(attacks)} attacks"
    return f"{scored[attack].text()} `{attack}`{coverage}"


def worst_cases(runs: DatasetRuns) -> list[str]:
    lines = [
        "| defense | Recall@10, no attack | worst ER@10 (targeted) | worst Recall@10 drop (untargeted) |",
        "|---|---|---|---|",
    ]
    for defense in runs.grid.defenses:
        cells = [runs.utility(defense).text(), _worst(runs, defense, True), _worst(runs, defense, False)]
        lines.append(f"| {defense} | " + " | ".join(cells) + " |")
    return lines


def costs(runs: DatasetRuns) -> list[str]:
    """Each cell's wall time per run in seconds (the run folder's `wall-time-s`), and the dataset's total."""
    defenses = runs.grid.defenses
    lines = _header("attack", defenses)
    for attack in runs.grid.attacks:
        cells = [runs.cost(attack, d) for d in defenses]
        lines.append(f"| {attack} | " + " | ".join(_seconds(cell) for cell in cells) + " |")
    total = runs.frame[WALL_TIME].sum()
    lines += ["", f"Total: {total:.0f} s of wall time over {len(runs.frame)} completed runs."]
    return lines


def _seconds(cell: Cell) -> str:
    return f"{cell.mean:.0f}" if cell.n else cell.text()


def heatmap(runs: DatasetRuns, path: Path) -> Path:
    """Panels of the means over seeds: Recall@10 without attack, ER@10 of the targeted attacks, Recall@10 drop
    of the untargeted ones (a blank square: no value)."""
    defenses = runs.grid.defenses
    panels = [(["no attack"], [[runs.utility(d).mean for d in defenses]], "Recall@10 without attack")]
    for targeted, title in ((True, "ER@10 of the target (targeted attacks)"), (False, "Recall@10 drop (untargeted)")):
        attacks = runs.attacks(targeted)
        if attacks:
            panels.append((attacks, [[runs.score(a, d).mean for d in defenses] for a in attacks], title))
    heights = [len(rows) + 1.5 for rows, _, _ in panels]
    figure, axes = plt.subplots(
        len(panels), 1, figsize=(1.0 * len(defenses) + 3, 0.5 * sum(heights) + 1.5), height_ratios=heights
    )
    for axis, (rows, values, title) in zip(np.atleast_1d(axes), panels):
        annotated_heatmap(figure, axis, np.array(values, dtype=float), rows, defenses, f"{title}, mean over seeds")
    figure.suptitle(f"{runs.dataset.name}: attack x defense", fontsize=10)
    return save_figure(figure, path)


def _complete(runs: DatasetRuns, attacks: list[str], defenses: list[str]) -> tuple[int, int, int]:
    """(cells with a value for every seed, cells, cells without any value) of `attacks` x `defenses`, the
    attack without attack read as its utility row."""
    seeds = len(runs.grid.seeds)
    counts = [(runs.utility(d) if a == runs.baseline else runs.score(a, d)).n for a in attacks for d in defenses]
    return sum(n >= seeds for n in counts), len(counts), sum(n == 0 for n in counts)


def completeness(runs: DatasetRuns) -> list[str]:
    """How many cells of the core, and of the whole grid, have a value for every seed."""
    grid = runs.grid
    n = len(grid.seeds)
    full, cells, empty = _complete(runs, grid.attacks, grid.defenses)
    whole = (
        f"the whole grid ({len(grid.attacks)} attacks x {len(grid.defenses)} defenses) has n = {n} in {full} of "
        f"{cells} cells, and {empty} cells have no value yet"
    )
    if (grid.core_attacks, grid.core_defenses) == (grid.attacks, grid.defenses):
        return [f"Completeness: {whole}.", ""]
    core_full, core_cells, _ = _complete(runs, grid.core_attacks, grid.core_defenses)
    return [
        f"Completeness: the core (the grid's `core-attacks` x `core-defenses`, {len(grid.core_attacks)} attacks x "
        f"{len(grid.core_defenses)} defenses, the no-attack row included) has n = {n} in {core_full} of "
        f"{core_cells} cells; {whole}.",
        "",
    ]


def untrained_rankings(runs: DatasetRuns) -> list[str]:
    """The utility of the popularity ranking and of chance on the dataset's splits, if the grid wrote them."""
    values = read_baselines(runs.folder, UTILITY)
    if not values:
        return []
    return [
        "Without federated training, on the same splits and with the same protocol "
        f"(`{_shown(runs.folder)}/baselines.json`, fedrec/evaluation/baselines.py): ranking every item by its "
        f"number of training interactions gives Recall@10 {format_values(values[POPULARITY], DIGITS)}, a random "
        f"ranking {format_values(values[CHANCE], DIGITS)}. A defense whose Recall@10 without attack lies below the "
        "popularity ranking's has learned less than the item counts alone tell, and an untargeted attack's "
        "drop there is measured on such a model.",
        "",
        *below_popularity(runs, values[POPULARITY]),
    ]


def below_popularity(runs: DatasetRuns, popularity: pd.Series) -> list[str]:
    """Per seed, the defenses whose Recall@10 without attack is below that seed's popularity ranking."""
    if runs.baseline is None:
        return []
    below: dict[int, list[str]] = {}
    compared = 0
    for defense in runs.grid.defenses:
        for seed, value in runs.seeds(runs.baseline, defense, UTILITY).items():
            if seed in popularity.index:
                compared += 1
                if value < popularity[seed]:
                    below.setdefault(int(seed), []).append(defense)
    if not compared:
        return []
    if not below:
        return ["Every completed run without attack is above its seed's popularity ranking.", ""]
    listed = "; ".join(f"seed {seed}: {', '.join(below[seed])}" for seed in sorted(below))
    return [f"Runs without attack below their seed's popularity ranking (Recall@10), per seed: {listed}.", ""]


def dataset_section(runs: DatasetRuns, figure: str) -> list[str]:
    base = runs.dataset.base
    keys = ", ".join(f"`{key}={value}`" for key, value in base.items())
    rho = runs.dataset.sweep["grid"]["malicious-fraction"][0]
    return [
        f"## {runs.dataset.name}",
        "",
        f"Setting: {runs.dataset.setting or 'as below'}. Run config of every cell: {keys}, `malicious-fraction={rho}`; "
        f"seeds {', '.join(map(str, runs.grid.seeds))}.",
        "",
        *completeness(runs),
        *untrained_rankings(runs),
        f"![{runs.dataset.name} heatmaps]({figure})",
        "",
        "### Attack x defense",
        "",
        *matrix(runs),
        "",
        "### Each defense's worst case over the attacks",
        "",
        *worst_cases(runs),
        "",
        "### Cost: wall time per run, seconds (mean over the completed seeds)",
        "",
        *costs(runs),
        "",
    ]


def _shown(folder: Path) -> str:
    """The folder relative to the project, where it is inside."""
    try:
        return folder.resolve().relative_to(PROJECT).as_posix()
    except ValueError:
        return folder.as_posix()


def write_page(grid: Grid, results_root: Path, out: Path, grid_path: Path) -> Path:
    """Write the page to `out` and its heatmaps to `<out's folder>/figures/leaderboard/`; returns `out`."""
    parts = [
        "# Leaderboard: attacks x defenses x datasets",
        "",
        f"Generated by `python -m experiments.leaderboard {_shown(grid_path)}` from the run folders in "
        f"`{_shown(results_root / grid.name)}/<dataset>/` "
        "(experiments/leaderboard/). Each row is an attack, each column a defense. A targeted attack's cell is "
        "the final ER@10 of its target items (higher: the attack wins); an untargeted attack's cell is the drop in "
        "final Recall@10 against the same defense without attack, paired by seed (higher: the attack wins). "
        "Each cell: mean ± sample std (ddof = 1) over seeds (n = seeds with a value; the std of one seed is –); "
        "`not run`, `failed` and `unfinished` count runs without a value, never zeros.",
        "",
    ]
    for dataset in grid.datasets:
        runs = DatasetRuns(grid, dataset, grid.results(results_root, dataset))
        figure = FIGURES / f"{grid.name}-{dataset.name}.png"
        heatmap(runs, out.parent / figure)
        parts += dataset_section(runs, figure.as_posix())
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("\n".join(parts))
    return out
