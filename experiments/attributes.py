"""The attribute-inference experiment: a curious server infers users' gender and age group from what it recovered.

    python -m experiments.attributes experiments/privacy/ml100k-attributes.toml [--data-dir DIR] [--table-only]

The spec is a privacy spec (experiments/privacy.py runs it first: the same runs, offline attacks and
`privacy.md`) whose runs record many users (`privacy-users`) over `privacy-epochs`, plus
`public-fraction`: the share of the recorded users whose profile the server knows (drawn per seed). For
each completed run, per recorded user, the features of `FEATURES` (what the server recovers, and the
user's true training history as the ceiling) and its profile's gender and age bucket (u.user,
users.dat); privacy/attribute_inference.py trains on the public users and scores the rest:
`attributes.csv` per run, then `attributes-runs.csv` and `attributes.md` (mean ± std over seeds, n, AUC per
seed, beside the majority class: AUC 0.5 and the accuracy of always guessing the public majority).
"""

import json
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pandas as pd

from app_config import SCHEMA, make_config
from datasets import load_dataset
from experiments.privacy import experiment_parser, run_experiment
from experiments.run import completed
from experiments.seeds import format_values, split_seed_run_name
from fedrec.models.registry import build_model
from privacy import PRIVACY_ATTACKS
from privacy.attribute_features import marked_items, recovered_embeddings, true_items, user_histories
from privacy.attribute_inference import infer_attribute, public_users
from privacy.recording import load_uploads

ATTRIBUTES = ("gender", "age")
CEILING = "true history"
EMBEDDING = "analytic p_u"
ATTRIBUTES_CSV = "attributes.csv"

FeatureBuilder = Callable[[dict, object, object, int], np.ndarray]
# Each feature set: how the server builds it from the user histories, given the model, run config and item count.
FEATURES: dict[str, FeatureBuilder] = {
    "recurrence ids": lambda histories, model, config, num_items: marked_items(
        PRIVACY_ATTACKS.get("recurrence")(model, config), histories, num_items
    ),
    EMBEDDING: lambda histories, model, config, num_items: recovered_embeddings(
        PRIVACY_ATTACKS.get("analytic")(model, config), histories
    ),
    CEILING: lambda histories, model, config, num_items: true_items(histories, num_items),
}


def run_attributes(folder: Path, public_fraction: float) -> pd.DataFrame:
    """`attributes.csv` of a finished run (computed once per public fraction): a row per feature set and attribute."""
    out = folder / ATTRIBUTES_CSV
    if out.exists():
        cached = pd.read_csv(out)
        if np.allclose(cached["public_fraction"], public_fraction):
            return cached
    recorded = json.loads((folder / "config.json").read_text())
    config = make_config({key: value for key, value in recorded.items() if key in SCHEMA.keys})
    dataset = load_dataset(config)
    if dataset.profiles is None:
        raise SystemExit(f"{folder.name}: {config.dataset} has no user profiles (u.user or users.dat beside its data)")
    uploads, item_uploads = load_uploads(folder)
    histories = user_histories(uploads, item_uploads)
    users = np.fromiter(histories, dtype=np.int64)
    public = public_users(len(users), public_fraction, config.seed)
    model = build_model(config)
    rows = []
    for feature, build in FEATURES.items():
        features = build(histories, model, config, dataset.num_items)
        for attribute in ATTRIBUTES:
            labels = dataset.profiles[attribute].to_numpy()[users]
            score = infer_attribute(features, labels, public, config.seed)
            # p_u comes from the last upload alone; the id sets (and the truth) from every recorded one.
            rounds = (
                1.0 if feature == EMBEDDING else np.mean([len(history.uploads) for history, _ in histories.values()])
            )
            rows.append({"features": feature, "attribute": attribute, "rounds": rounds, **asdict(score)})
    table = pd.DataFrame(rows).assign(public_fraction=public_fraction)
    table.to_csv(out, index=False)
    return table


def markdown(rows: pd.DataFrame, conditions: list[str]) -> str:
    """Per condition and attribute: each feature set's AUC and accuracy beside the majority class."""
    lines = [
        "| condition | attribute | features | rounds seen | n | AUC | AUC per seed | accuracy | majority accuracy "
        "| public / predicted users |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for condition in conditions:
        for attribute in ATTRIBUTES:
            cell = rows[(rows["condition"] == condition) & (rows["attribute"] == attribute)]
            for feature, group in cell.groupby("features", sort=False):
                group = group.sort_values("seed")
                per_seed = ", ".join(f"{value:.3f}" for value in group["auc"])
                cells = [
                    format_values(group["auc"], 3, with_n=False),
                    per_seed,
                    format_values(group["accuracy"], 3, with_n=False),
                    format_values(group["majority_accuracy"], 3, with_n=False),
                    f"{group['public'].iloc[0]} / {group['predicted'].iloc[0]}",
                ]
                lines.append(
                    f"| {condition} | {attribute} | {feature} | {group['rounds'].mean():g} | {len(group)} | "
                    + " | ".join(cells)
                    + " |"
                )
    return "\n".join(lines)


def main() -> None:
    spec, results = run_experiment(experiment_parser(__spec__.name, __doc__).parse_args())
    public_fraction = spec.get("public-fraction", 0.2)
    tables = []
    for folder in sorted(path for path in results.iterdir() if completed(path)):
        condition, seed = split_seed_run_name(folder.name)
        tables.append(run_attributes(folder, public_fraction).assign(condition=condition, seed=seed))
        print(f"{folder.name}: attributes inferred", flush=True)
    rows = pd.concat(tables, ignore_index=True)
    rows.to_csv(results / "attributes-runs.csv", index=False)
    (results / "attributes.md").write_text(markdown(rows, list(spec["conditions"])) + "\n")
    print(results / "attributes.md")


if __name__ == "__main__":
    main()
