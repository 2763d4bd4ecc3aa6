"""Each leaderboard dataset's utility without federated training, per seed: the informed baseline and chance.

`write_baselines` computes, for every seed of the grid, fedrec/evaluation/baselines.py's popularity ranking
and random ranking on the dataset as a cell of that seed loads it (same split, same protocol), and writes
them to `<results>/<grid>/<dataset>/baselines.json`; the page reads that file (`read_baselines`), so it can be
regenerated from the repository without the data.
"""

import json
from pathlib import Path

import pandas as pd

from app_config import make_config
from datasets import load_dataset
from experiments.leaderboard.grid import Dataset
from fedrec.evaluation.baselines import chance_metrics, popularity_metrics

FILE = "baselines.json"
KS = (10,)
#: The page's names of the two rankings, in the file and on the page.
POPULARITY, CHANCE = "popularity", "chance"


def write_baselines(dataset: Dataset, seeds: list[int], folder: Path, data_dir: str | None) -> Path:
    """Compute and write the dataset's baselines for `seeds` (skipped if the file has them all); returns the file."""
    path = folder / FILE
    known = json.loads(path.read_text()) if path.exists() else {}
    missing = [seed for seed in seeds if str(seed) not in known]
    for seed in missing:
        overrides = {**dataset.base, "seed": seed}
        if data_dir and "data-dir" not in overrides:
            overrides["data-dir"] = data_dir
        data = load_dataset(make_config(overrides))
        known[str(seed)] = {
            POPULARITY: popularity_metrics(data.train, data.test, KS),
            CHANCE: chance_metrics(data.train, data.test, KS),
        }
    if missing:
        folder.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(known, indent=1, sort_keys=True) + "\n")
    return path


def read_baselines(folder: Path, metric: str) -> dict[str, pd.Series]:
    """{ranking: its per-seed values of `metric`} from the dataset's file; empty if it has none."""
    path = folder / FILE
    if not path.exists():
        return {}
    per_seed = json.loads(path.read_text())
    return {
        ranking: pd.Series({int(seed): values[ranking][metric] for seed, values in per_seed.items()}, dtype=float)
        for ranking in (POPULARITY, CHANCE)
    }
