"""A leaderboard grid from its TOML: datasets x attacks x defenses x seeds, each dataset in its own setting.

    seeds = [1, 2, 3]
    attacks = ["none", "a-hum", "fang-krum"]      # registered names (attacks/__init__.py)
    defenses = ["fedavg", "krum", "median"]       # registered names (strategies/__init__.py)
    core-attacks = ["none", "a-hum"]              # optional: the rows and columns run first, to n = all seeds
    core-defenses = ["fedavg", "krum"]            # (`--core`; the page says how complete the core is)

    [datasets.ml-100k]                            # one table per dataset, in page order
    setting = "..."                               # which setting this is and where it comes from (on the page)
    [datasets.ml-100k.base]                       # run-config keys of every cell of the dataset
    epochs = 5                                    # (`dataset` defaults to the table's name)

    [attack-settings.fang-krum]                   # extra keys for one attack's cells, on every dataset
    attacker-knowledge = "full"

A dataset's cells are experiments/sweep.py's grid over the attacks, defenses and seeds at the base's
`malicious-fraction` (the same folder names, the same runner), in `<results>/<grid>/<dataset>/`. A new
attack or defense enters the leaderboard by adding its registered name to the lists.
"""

import tomllib
from dataclasses import dataclass
from pathlib import Path

from attacks import ATTACKS
from experiments.sweep import CellRun, cell_name, cells
from strategies import STRATEGIES

#: The run-config key of the attackers' share; a leaderboard fixes it per dataset, in the base.
MALICIOUS_FRACTION = "malicious-fraction"


@dataclass(frozen=True)
class Dataset:
    """One dataset of the grid: its name (a heading and a folder), its setting's description, and its
    experiments/sweep.py spec (base keys, the grid, attack settings)."""

    name: str
    setting: str
    sweep: dict

    @property
    def base(self) -> dict:
        return self.sweep["base"]

    def cells(self) -> list[dict]:
        """Every run of the dataset, seed by seed (all cells of the first seed first: a grid stopped early
        still has one seed of every cell rather than three of some)."""
        return sorted(cells(self.sweep), key=lambda cell: cell["seed"])


@dataclass(frozen=True)
class Grid:
    """A parsed leaderboard TOML (`load_grid`)."""

    name: str
    attacks: list[str]
    defenses: list[str]
    seeds: list[int]
    datasets: list[Dataset]
    core_attacks: list[str]
    core_defenses: list[str]

    def results(self, root: Path, dataset: Dataset) -> Path:
        """The folder of the dataset's run folders."""
        return root / self.name / dataset.name


def _names(spec: dict, key: str, known: list[str], family: str) -> list[str]:
    names = spec.get(key)
    if not isinstance(names, list) or not names:
        raise SystemExit(f"the grid needs a non-empty list `{key}` of {family} names")
    unknown = [name for name in names if name not in known]
    if unknown:
        raise SystemExit(f"unknown {family} {', '.join(map(repr, unknown))} in `{key}`; valid: {', '.join(known)}")
    return names


def _core(spec: dict, key: str, names: list[str], whole: str) -> list[str]:
    """The grid's core among `names` (all of them if the TOML names none)."""
    core = spec.get(key, names)
    if not isinstance(core, list) or not core:
        raise SystemExit(f"`{key}` must be a non-empty list of names from `{whole}`")
    outside = [name for name in core if name not in names]
    if outside:
        raise SystemExit(f"`{key}` names {', '.join(map(repr, outside))}, which `{whole}` does not list")
    return [name for name in names if name in core]


def load_grid(path: Path) -> Grid:
    """The grid of the TOML at `path`; a missing key or an unregistered name is one error line."""
    try:
        spec = tomllib.loads(path.read_text())
    except (OSError, tomllib.TOMLDecodeError) as error:
        raise SystemExit(f"{path}: {error}") from None
    attacks = _names(spec, "attacks", ATTACKS.names(), "attack")
    defenses = _names(spec, "defenses", STRATEGIES.names(), "defense")
    seeds = spec.get("seeds")
    if not isinstance(seeds, list) or not seeds or not all(isinstance(seed, int) for seed in seeds):
        raise SystemExit(f"{path}: the grid needs a non-empty list `seeds` of integers")
    tables = spec.get("datasets")
    if not isinstance(tables, dict) or not tables:
        raise SystemExit(f"{path}: the grid needs at least one `[datasets.<name>]` table")
    datasets = []
    for name, table in tables.items():
        base = {"dataset": name, **table.get("base", {})}
        rho = base.pop(MALICIOUS_FRACTION, None)
        if rho is None:
            raise SystemExit(f"{path}: [datasets.{name}.base] needs `{MALICIOUS_FRACTION}`")
        grid = {"attack": attacks, "defense": defenses, MALICIOUS_FRACTION: [rho], "seed": seeds}
        sweep = {"base": base, "grid": grid, "attack-settings": spec.get("attack-settings", {})}
        datasets.append(Dataset(name, table.get("setting", ""), sweep))
    core_attacks = _core(spec, "core-attacks", attacks, "attacks")
    core_defenses = _core(spec, "core-defenses", defenses, "defenses")
    return Grid(path.stem, attacks, defenses, seeds, datasets, core_attacks, core_defenses)


def planned_runs(
    grid: Grid,
    results_root: Path,
    data_root: str,
    only: list[str] | None = None,
    attacks: list[str] | None = None,
    defenses: list[str] | None = None,
) -> list[CellRun]:
    """Every run of the grid's datasets (of `only` if given; of the `attacks` and `defenses` if given, e.g. a
    core to finish first), dataset by dataset; a dataset's data folder is `<data_root>/<its run-config
    dataset>` unless its base names one (no data_root: the download cache)."""
    runs = []
    for dataset in grid.datasets:
        if only and dataset.name not in only:
            continue
        folder = grid.results(results_root, dataset)
        for cell in dataset.cells():
            if (attacks and cell["attack"] not in attacks) or (defenses and cell["defense"] not in defenses):
                continue
            overrides = dict(cell)
            if data_root and "data-dir" not in overrides:
                overrides["data-dir"] = str(Path(data_root) / cell["dataset"])
            runs.append(CellRun(cell_name(cell), overrides, folder))
    return runs
