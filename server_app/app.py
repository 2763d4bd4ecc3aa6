"""ServerApp: validate the config, discover the users, run the strategy, write the results folder."""

import logging
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from functools import partial
from typing import Any

import numpy as np
import torch
from flwr.app import Context
from flwr.common.logger import ConsoleHandler
from flwr.serverapp import Grid, ServerApp

from app_config import load_config
from attacks import AttackerKnowledge, AttackSetup, collusion_channel, federation_threat
from attacks.collusion import collude
from fedrec.config import RunConfig
from fedrec.errors import ConfigError
from fedrec.models.base import ITEM_EMBEDDING, RecModel, Theta
from fedrec.models.registry import build_model
from fedrec.protocol import theta_to_record
from fedrec.reporting.detection import DetectionCounts
from fedrec.reporting.results import RunRecorder
from fedrec.reporting.update_stats import EpochUpdateStats
from fedrec.updates import UserUpdates
from pretrained import FINE_TUNING
from pretrained.exposure_scan import evasion_report, scan_recall, scan_report
from pretrained.item_reset import reset_item_rows
from pretrained.starting import starting_theta
from privacy.ground_truth import discard_truth
from privacy.recording import UploadRecorder
from privacy.secure_aggregation import secure_sum
from server_app.curious import attack_recorded, record_replies, upload_recorder
from server_app.discovery import Federation, discover, rejoin
from server_app.exposure_scan import federated_exposure_scan
from server_app.grid import PromptGrid
from server_app.pruning import fine_prune
from server_app.round_difference import RoundDifferenceProbe
from server_app.stopping import stop_run
from strategies import STRATEGIES
from strategies.base import EpochCallback, FedRecStrategy, StrategyHooks, UpdatesCallback, UpdatesRewrite

app = ServerApp()


def _say(line: str) -> None:
    print(line, flush=True)


@contextmanager
def _quiet_flower() -> Iterator[None]:
    """Flower logs several lines per round; with hundreds of rounds, keep only our per-epoch lines, unless
    DEBUG logs were asked for (`FLWR_LOG_LEVEL=DEBUG` sets Flower's console handler)."""
    logger = logging.getLogger("flwr")
    level = logger.level
    if not any(isinstance(handler, ConsoleHandler) and handler.level <= logging.DEBUG for handler in logger.handlers):
        logger.setLevel(logging.WARNING)
    try:
        yield
    finally:
        logger.setLevel(level)


def _progress_line(epoch: int, epochs: int, metrics: dict[str, float], elapsed: float, ks: tuple[int, ...]) -> str:
    k = 20 if 20 in ks else ks[-1]
    parts = [f"epoch {epoch}/{epochs}", f"loss {metrics['train-loss']:.4f}"]
    parts += [f"{name}@{k} {metrics[f'{name}@{k}']:.4f}" for name in ("recall", "precision", "ndcg")]
    if f"sampled-hr@{k}" in metrics:
        parts.append(f"sampled-hr@{k} {metrics[f'sampled-hr@{k}']:.4f}")
    if f"er@{k}" in metrics:
        parts.append(f"er@{k} {metrics[f'er@{k}']:.4f}")
    parts.append(f"{elapsed:.1f}s")
    return " | ".join(parts)


def _starting_point(
    grid: Grid, config: RunConfig, model: RecModel, federation: Federation, targets: tuple[int, ...]
) -> tuple[Theta, dict[str, Any], tuple[int, ...]]:
    """Θ to start from (fresh, or a checkpoint as `fine-tune` uses it, fine-pruned if asked), what the
    checkpoint says about itself, and the targets to track (a checkpoint's own unless listed)."""
    try:
        theta, checkpoint = starting_theta(config, model, federation.num_items)
        if config.fine_pruning:
            theta, pruned = fine_prune(grid, federation.directory, theta, config.fine_pruning, config.round_timeout)
            _say(f"fedrec-arena: fine-pruning removed {pruned} feed-forward unit(s) per block")
    except (ConfigError, RuntimeError) as error:
        raise stop_run(str(error)) from None
    if checkpoint.get("targets") and not config.target_items.explicit:
        targets = tuple(checkpoint["targets"])  # a backdoor's own targets are the ones worth tracking
        _say(f"fedrec-arena: tracking the checkpoint's target items {list(targets)} (target-items is not explicit)")
    return theta, checkpoint, targets


#: The federated exposure scan's settings: top-10 lists, profile groups of at least 20 users (the central audit's).
SCAN_TOP_K, SCAN_MIN_GROUP = 10, 20
EXPOSURE_SCAN_JSON = "exposure-scan.json"


def _exposure_scan(
    grid: Grid,
    config: RunConfig,
    model: RecModel,
    federation: Federation,
    theta: Theta,
    targets: tuple[int, ...],
    recorder: RunRecorder,
) -> Theta:
    """The scan on the starting Θ, from the nodes' sums, and Θ with the `scan-reset-items` most suspicious items'
    rows re-initialised (unchanged when 0); the targets (simulation ground truth, known to the run config) only
    score the scan in the results."""
    if config.scan_reset_items >= federation.num_items:
        raise stop_run(
            f"run-config 'scan-reset-items' = {config.scan_reset_items} would reset every one of the "
            f"{federation.num_items} items: choose fewer"
        )
    try:
        scan, counts = federated_exposure_scan(
            grid, federation.directory, theta, SCAN_TOP_K, SCAN_MIN_GROUP, config.round_timeout
        )
    except RuntimeError as error:
        raise stop_run(str(error)) from None
    report = scan_report(scan, targets)
    group = str(config.target_group) if config.target_group else None
    if targets and group in counts:  # what a provider who knows the scan could keep of the group's exposure
        report |= evasion_report(counts, scan, targets, config.scan_reset_items or SCAN_TOP_K, group)
    if config.scan_reset_items:
        flagged = [int(item) for item in scan.index[: config.scan_reset_items]]
        theta = reset_item_rows(theta, flagged, model.init_theta(federation.num_items, config.seed)[ITEM_EMBEDDING])
        report |= {"reset-items": flagged, "targets-reset": scan_recall(scan, targets, config.scan_reset_items)}
        _say(f"fedrec-arena: scan and reset: re-initialised the rows of the {len(flagged)} most suspicious items")
    recorder.record_json(EXPOSURE_SCAN_JSON, report)
    _say(
        f"fedrec-arena: exposure scan: most suspicious items {list(scan.index[:5])}; "
        f"{report['targets-among-top-10']:.0%} of the targets among its top 10"
    )
    return theta


def _recorder(
    config: RunConfig, federation: Federation, targets: tuple[int, ...], checkpoint: dict[str, Any], num_malicious: int
) -> RunRecorder:
    return RunRecorder(
        config,
        extra={
            "num-users": int(len(federation.directory.user_ids)),
            "num-items": federation.num_items,
            "num-nodes": len(federation.directory.nodes),
            "targets": list(targets),
            "num-malicious": num_malicious,
            **{f"checkpoint-{key}": value for key, value in checkpoint.items()},
        },
    )


def _reporting_hooks(
    config: RunConfig, recorder: RunRecorder, targets: tuple[int, ...], malicious_ids: np.ndarray
) -> tuple[EpochCallback, UpdatesCallback]:
    """(on_epoch, on_updates): each epoch's metrics, detection rates and update statistics into the results."""
    epoch_stats = EpochUpdateStats(targets, malicious_ids)
    detection = DetectionCounts()

    def on_updates(epoch: int, updates: UserUpdates, flagged: torch.Tensor | None) -> None:
        is_malicious = epoch_stats.add(updates)
        if flagged is not None:
            detection.add(flagged.numpy(), is_malicious)

    def on_epoch(epoch: int, metrics: dict[str, float]) -> None:
        recorder.record_epoch(epoch, {**metrics, **detection.metrics()})
        detection.reset()
        for group, stats, count in epoch_stats.norm_rows():
            recorder.record_update_norms(epoch, group, stats, count)
        for row in epoch_stats.push_rows():
            recorder.record_target_push(epoch, row)
        epoch_stats.reset()
        _say(_progress_line(epoch, config.epochs, metrics, recorder.elapsed(), config.top_k))

    return on_epoch, on_updates


def _update_rewrites(
    config: RunConfig, model: RecModel, targets: tuple[int, ...], num_items: int, malicious_ids: np.ndarray
) -> tuple[UpdatesRewrite, ...]:
    """What the round's updates go through before the rule: colluding clients craft (the simulated attackers
    know each other, `malicious_ids`), then secure aggregation masks."""
    rewrites: list[UpdatesRewrite] = []
    attack = collusion_channel(AttackSetup(config, model, targets, num_items, AttackerKnowledge()))
    if attack is not None:
        rewrites.append(
            lambda server_round, updates, theta: collude(attack, updates, malicious_ids, theta, server_round)
        )
    if config.secure_aggregation:
        rewrites.append(lambda server_round, updates, theta: secure_sum(updates, theta))
    return tuple(rewrites)


@app.main()
def main(grid: Grid, context: Context) -> None:
    try:
        config = load_config(context.run_config)
    except ConfigError as error:
        raise stop_run(str(error)) from None
    # Measured: with two threads, a round's aggregation here took 20 to 100 ms instead of a steady 20 ms
    # whenever a node or any other process held the second core (each parallel op waits for its thread).
    torch.set_num_threads(config.server_threads)
    grid = PromptGrid(grid)
    try:
        federation = discover(grid, timeout=config.round_timeout)
        # Simulation ground truth, for the results only: derived from the run config, told by no node.
        malicious_ids = federation_threat(config, federation.num_clients).malicious_ids
        STRATEGIES.get(config.defense).check_run(config)
    except (ConfigError, RuntimeError, TimeoutError) as error:
        raise stop_run(str(error)) from None
    model = build_model(config)
    theta, checkpoint, targets = _starting_point(grid, config, model, federation, federation.targets)
    recorder = _recorder(config, federation, targets, checkpoint, len(malicious_ids))
    if config.exposure_scan or config.scan_reset_items:
        theta = _exposure_scan(grid, config, model, federation, theta, targets, recorder)
    on_epoch, on_updates = _reporting_hooks(config, recorder, targets, malicious_ids)
    uploads = upload_recorder(config, federation.directory.user_ids, malicious_ids)
    # Under secure aggregation a round's reply is its sum: the curious server isolates users instead (round-difference).
    probe = (
        None
        if uploads is None or config.round_difference == "none"
        else RoundDifferenceProbe(uploads, config.round_difference, config.negatives)
    )
    idle_nodes = set(federation.idle_nodes)  # grows as rejoin meets nodes that host nobody
    hooks = StrategyHooks(
        on_epoch=on_epoch,
        on_updates=on_updates,
        on_replies=None if uploads is None or probe is not None else partial(record_replies, uploads),
        after_secure_round=probe,
        rewrite_updates=_update_rewrites(config, model, targets, federation.num_items, malicious_ids),
        rediscover=lambda grid, directory: rejoin(grid, directory, config.round_timeout, idle_nodes),
    )
    try:  # what only the data shows (FLTrust: a public share with no interaction in it)
        strategy = STRATEGIES.get(config.defense)(config, federation.directory, theta, targets, hooks)
    except ConfigError as error:
        raise stop_run(str(error)) from None
    _say(f"fedrec-arena: results -> {recorder.path}")
    _say(
        f"fedrec-arena: {len(federation.directory.user_ids)} users on {len(federation.directory.nodes)} node(s), "
        f"{federation.num_items} items, targets {list(targets)}, "
        f"{config.epochs} epochs x {strategy.num_rounds // config.epochs} rounds"
    )
    _run(grid, config, model, strategy, theta, uploads, probe, recorder, context.run_id)


def _run(
    grid: Grid,
    config: RunConfig,
    model: RecModel,
    strategy: FedRecStrategy,
    theta: Theta,
    uploads: UploadRecorder | None,
    probe: RoundDifferenceProbe | None,
    recorder: RunRecorder,
    run_id: int,
) -> None:
    """Train (after an epoch-0 evaluation of a checkpoint), attack the recorded uploads, finish the results."""
    status, error_text, privacy_summary = "failed", "", {}
    discard_truth(run_id)  # what a crashed earlier run under this id may have left
    try:
        with _quiet_flower():
            if config.initial_checkpoint:  # epoch 0: the checkpoint as the federation received it
                strategy.evaluate_initial(grid)
            if FINE_TUNING.selected(config).trains:
                strategy.start(
                    grid=grid,
                    initial_arrays=theta_to_record(theta),
                    num_rounds=strategy.num_rounds,
                    timeout=config.round_timeout,
                )
        if uploads is not None:
            _say(f"fedrec-arena: privacy attack '{config.privacy_attack}' on {len(uploads.uploads)} recorded upload(s)")
            privacy_summary = attack_recorded(config, model, uploads, recorder.path, run_id, probe)
            _say(f"fedrec-arena: privacy {privacy_summary['privacy']}")
        status = "completed"
    except BaseException as error:
        error_text = "".join(traceback.format_exception_only(error)).strip()
        raise
    finally:
        discard_truth(run_id)
        summary = recorder.finish(status, error_text, privacy_summary)
        _say(
            f"fedrec-arena: {status} {summary['epochs-completed']} epoch(s) in {summary['wall-time-s']}s; "
            f"results -> {recorder.path}"
        )
