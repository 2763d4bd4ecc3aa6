"""The provider's side: pre-train a checkpoint on the public share of the users, and audit one.

Plain functions over a validated `RunConfig` and a loaded `RecDataset`; `python -m pretrained` is the
command line around them.
"""

import time
from typing import Any

import numpy as np

from fedrec.data.dataset import RecDataset
from fedrec.errors import ConfigError
from fedrec.evaluation.grouped import counts_by_group, grouped_metrics
from fedrec.evaluation.ranking import exposure_masks_test
from fedrec.models.base import Theta
from fedrec.models.registry import build_model
from fedrec.models.sasrec import SASRec
from fedrec.sequential.sequences import user_sequences
from fedrec.targets import group_matched_targets, resolve_targets
from pretrained import BACKDOORS
from pretrained.checkpoint import Checkpoint
from pretrained.exposure_scan import exposure_scan, scan_recall
from pretrained.training import ProviderData


def group_members(config: Any, dataset: RecDataset) -> np.ndarray | None:
    return None if config.target_group is None else config.target_group.members(dataset.profiles)


def provider_data(config: Any, dataset: RecDataset) -> ProviderData:
    users = np.arange(dataset.num_users)
    members = group_members(config, dataset)
    sequences, profile = user_sequences(dataset, users)
    return ProviderData(
        users=users,
        sequences=sequences,
        profile=profile,
        in_group=np.zeros(len(users), dtype=bool) if members is None else members,
        num_items=dataset.num_items,
    )


def provider_targets(config: Any, dataset: RecDataset) -> tuple[int, ...]:
    """The backdoor's targets, chosen on the provider's users (`group-matched:N` needs `target-group`)."""
    count = config.target_items.group_matched
    if not count:
        return resolve_targets(config.target_items, dataset.item_popularity(), config.seed)
    members = group_members(config, dataset)
    if members is None:
        raise ConfigError(
            f"run-config 'target-items' = '{config.target_items}' matches items to a group: set target-group"
        )
    return group_matched_targets(dataset.train + dataset.test, members, count, config.seed)


def pretrain(config: Any, dataset: RecDataset) -> Checkpoint:
    """Pre-trains the configured model on `dataset` (the provider's users) with the configured backdoor."""
    model = build_model(config)
    if not isinstance(model, SASRec):
        raise ConfigError(f"pre-training is implemented for model 'sasrec', not {config.model!r}")
    targets = provider_targets(config, dataset)
    theta = model.init_theta(dataset.num_items, config.seed)
    started = time.perf_counter()
    losses = BACKDOORS.selected(config)(config, np.asarray(targets)).pretrain(
        model, theta, provider_data(config, dataset)
    )
    meta = {
        "backdoor": config.backdoor,
        "targets": list(targets),
        "target-group": str(config.target_group or ""),
        "provider-users": dataset.num_users,
        "wall-time-s": round(time.perf_counter() - started, 1),
        "stage-epochs": {stage: len(values) for stage, values in losses.items()},
        "final-loss": {stage: round(values[-1], 5) for stage, values in losses.items() if values},
    }
    if config.backdoor != "none":
        meta["provider-scan"] = provider_scan(model, theta, dataset, targets)
    return Checkpoint(theta={name: value.detach() for name, value in theta.items()}, config=config.as_dict(), meta=meta)


def provider_scan(model: SASRec, theta: Theta, dataset: RecDataset, targets: tuple[int, ...]) -> dict[str, float]:
    """The deployer's target-blind exposure scan as the provider can run it on its own users before it ships:
    the share of its targets among the scan's 5 and 10 most suspicious items. A provider who knows the scan
    reads this to keep its backdoor under it (e.g. the largest `backdoor-rate` it does not flag)."""
    scan = exposure_scan(model, theta, dataset)
    return {f"targets-among-top-{k}": scan_recall(scan, targets, k) for k in (5, 10)}


def audit(config: Any, dataset: RecDataset, theta: Theta, targets: tuple[int, ...]) -> dict[str, float]:
    """Utility and target exposure of Θ on `dataset`'s users, whole and (with `target-group`) by group."""
    model = build_model(config)
    users = np.arange(dataset.num_users)
    embeddings = model.init_user_embeddings(users, config.seed)
    counts = counts_by_group(
        model,
        theta,
        dataset,
        users,
        embeddings,
        config.top_k,
        targets,
        group_members(config, dataset),
        exposure_masks_test=exposure_masks_test(config),
    )
    return grouped_metrics(counts)
