"""Secure aggregation in a run: the real ClientApp masks on the node, and nothing on the server side (the wire,
`on_replies`, the rewrites, the rule, `on_updates`) ever holds a per-user vector; it trains as FedAvg's sum does
in the clear, and a round whose masks cannot cancel is not applied."""

from collections.abc import Iterable

import numpy as np
import pytest
import torch
from flwr.app import Message, MessageType

from app_config import load_config, pyproject_defaults
from fedrec.models.registry import build_model
from fedrec.protocol import COLLUDERS, MASKED, MASKED_SUM, UPDATES, theta_to_record
from fedrec.training.sampling import epoch_schedule
from fedrec.updates import UserUpdates
from privacy.round_difference import expected_ids, isolate, midpoint, one_user_differences, own_rows
from privacy.secure_aggregation import (
    SUM_USER_ID,
    SumLayout,
    masked_upload,
    new_private_key,
    public_key,
    secure_sum,
    unmask,
)
from server_app.discovery import discover
from strategies import STRATEGIES
from strategies.base import Aggregate, StrategyHooks
from tests.conftest import SMALL_RUN
from tests.in_process_grid import InProcessGrid, client_app_nodes
from tests.test_secure_aggregation import _round, _theta


class RecordingGrid(InProcessGrid):
    """Keeps every train reply the server pulls; `drop` (server round, node) loses that node's train reply."""

    def __init__(self, run_config: dict[str, object], num_nodes: int, drop: tuple[int, int] | None = None) -> None:
        super().__init__(client_app_nodes(run_config, num_nodes))
        self.train_replies: list[Message] = []
        self.drop = drop
        self._train_round = 0

    def send_and_receive(self, messages: Iterable[Message], *, timeout: float | None = None) -> Iterable[Message]:
        messages = list(messages)
        is_train = bool(messages) and messages[0].metadata.message_type == MessageType.TRAIN
        self._train_round += is_train
        if is_train and self.drop is not None and self.drop[0] == self._train_round:
            messages = [m for m in messages if m.metadata.dst_node_id != self.drop[1]]
        replies = list(super().send_and_receive(messages, timeout=timeout))
        if is_train:
            self.train_replies += replies
        return replies


def _run(secure: bool, num_nodes: int = 3, drop: tuple[int, int] | None = None) -> dict[str, object]:
    """One epoch of FedAvg (sum) on SMALL_RUN through the real ClientApp; what each server-side hook received."""
    run_config = {**pyproject_defaults(), **SMALL_RUN, "epochs": 1, "secure-aggregation": secure}
    config = load_config(run_config)
    grid = RecordingGrid(run_config, num_nodes, drop)
    federation = discover(grid, timeout=config.round_timeout)
    theta = build_model(config).init_theta(federation.num_items, config.seed)
    seen: dict[str, list] = {"replies": [], "rewrite": [], "aggregate": [], "updates": [], "epochs": []}

    def rewrite(server_round: int, updates: UserUpdates, theta: dict) -> UserUpdates:
        seen["rewrite"].append(updates)
        return updates

    hooks = StrategyHooks(
        on_replies=lambda epoch, replies, theta: seen["replies"].append(replies),
        on_updates=lambda epoch, updates, flagged: seen["updates"].append(updates),
        on_epoch=lambda epoch, metrics: seen["epochs"].append(metrics),
        rewrite_updates=(rewrite,),
    )
    rule = STRATEGIES.get("fedavg")

    class Recorded(rule):  # type: ignore[misc, valid-type]
        def aggregate(self, updates: UserUpdates) -> Aggregate:
            seen["aggregate"].append(updates)
            return super().aggregate(updates)

    strategy = Recorded(config, federation.directory, theta, (0,), hooks)
    strategy.start(
        grid=grid, initial_arrays=theta_to_record(theta), num_rounds=strategy.num_rounds, timeout=config.round_timeout
    )
    return {"seen": seen, "theta": strategy.theta, "grid": grid, "rounds": strategy.num_rounds, "num_nodes": num_nodes}


@pytest.fixture
def secure_run() -> dict[str, object]:
    return _run(secure=True)


def test_no_server_side_code_receives_a_per_user_vector_in_secure_mode(secure_run: dict) -> None:
    grid, seen, rounds = secure_run["grid"], secure_run["seen"], secure_run["rounds"]
    size = SumLayout.of(secure_run["theta"]).size
    assert rounds > 1 and len(grid.train_replies) >= rounds
    for reply in grid.train_replies:  # the wire: one masked vector of the fixed layout per node, nothing per user
        assert set(reply.content.keys()) == {MASKED}, set(reply.content.keys())
        assert UPDATES not in reply.content and COLLUDERS not in reply.content
        masked = reply.content[MASKED][MASKED_SUM].numpy()
        assert masked.dtype == np.uint64 and masked.shape == (size,)
    assert len(seen["replies"]) == rounds and all(len(replies) == 1 for replies in seen["replies"])
    for key in ("rewrite", "aggregate", "updates"):
        assert len(seen[key]) == rounds, key
        assert all(updates.user_ids.tolist() == [SUM_USER_ID] for updates in seen[key]), key
    assert all(replies[0].updates.user_ids.tolist() == [SUM_USER_ID] for replies in seen["replies"])


def test_secure_mode_trains_as_fedavg_sum_in_the_clear_up_to_float_order(secure_run: dict) -> None:
    clear = _run(secure=False)
    assert all(len(replies) == clear["num_nodes"] for replies in clear["seen"]["replies"])
    for name, value in secure_run["theta"].items():
        torch.testing.assert_close(value, clear["theta"][name], rtol=1e-5, atol=1e-6, msg=name)
    (secure_metrics,), (clear_metrics,) = secure_run["seen"]["epochs"], clear["seen"]["epochs"]
    assert secure_metrics["train-loss"] == pytest.approx(clear_metrics["train-loss"], rel=1e-6)


def test_a_round_with_a_missing_participant_is_not_applied_and_its_users_count_as_missed() -> None:
    run = _run(secure=True, drop=(2, 2))
    seen = run["seen"]
    assert len(seen["aggregate"]) == run["rounds"] - 1  # round 2 had no total to step on
    (metrics,) = seen["epochs"]
    assert metrics["failed-replies"] == 1.0
    assert metrics["missed-users"] == float(SMALL_RUN["clients-per-round"])  # the dropped node's and the others'


def test_masks_cancel_only_in_the_sum_over_every_participant() -> None:
    keys = {node: new_private_key() for node in (4, 11, 12)}
    peers = {node: public_key(key) for node, key in keys.items()}
    vectors = {node: np.random.default_rng(node).normal(size=50) for node in keys}
    uploads = {node: masked_upload(vectors[node], node, keys[node], peers, server_round=3) for node in keys}
    np.testing.assert_allclose(unmask(list(uploads.values())), sum(vectors.values()), atol=2e-9)
    partial = unmask([uploads[4], uploads[11]])
    assert np.abs(partial - vectors[4] - vectors[11]).min() > 1e3  # two uploads alone: masked noise
    again = masked_upload(vectors[4], 4, keys[4], peers, server_round=4)
    assert not np.array_equal(again, uploads[4])  # fresh masks each round: uploads of two rounds do not subtract


def test_an_unmasked_reply_decodes_as_the_clear_sum() -> None:
    updates, theta = _round(1), _theta()
    layout = SumLayout.of(theta)
    total, loss_sum, loss_count = layout.unflatten(layout.flatten(updates, 2.5, 5), torch.float32)
    expected = secure_sum(updates, theta)
    torch.testing.assert_close(total.item_grads, expected.item_grads)
    for name, grads in expected.dense_grads.items():
        torch.testing.assert_close(total.dense_grads[name], grads)
    assert total.num_samples.tolist() == expected.num_samples.tolist() and (loss_sum, loss_count) == (2.5, 5)


def _masked_total(updates: UserUpdates, theta: dict, server_round: int) -> UserUpdates:
    """What the secure-mode server decodes when `updates`' users sit on two nodes (halves) and mask."""
    layout, half = SumLayout.of(theta), updates.num_users // 2
    keys = {node: new_private_key() for node in (1, 2)}
    peers = {node: public_key(key) for node, key in keys.items()}
    parts = {
        1: updates.select(torch.arange(updates.num_users) < half),
        2: updates.select(torch.arange(updates.num_users) >= half),
    }
    uploads = [masked_upload(layout.flatten(parts[n], 0.0, 0), n, keys[n], peers, server_round) for n in (1, 2)]
    return layout.unflatten(unmask(uploads), torch.float32)[0]


def test_two_rounds_that_differ_by_one_user_give_that_users_update_through_the_masks() -> None:
    updates, theta = _round(2, num_users=6), _theta()
    last = torch.arange(6) == 5
    recovered = isolate(_masked_total(updates, theta, 1), _masked_total(updates.select(~last), theta, 2), 25, 1e-6)
    target = updates.select(last)
    assert recovered.item_ids.tolist() == sorted(target.item_ids.tolist())
    order = torch.argsort(target.item_ids)
    torch.testing.assert_close(recovered.item_grads, target.item_grads[order], atol=1e-6, rtol=0)
    for name, grads in target.dense_grads.items():
        torch.testing.assert_close(recovered.dense_grads[name], grads, atol=1e-6, rtol=0)


def test_the_honest_schedule_offers_a_one_user_round_when_users_mod_round_size_is_one() -> None:
    rounds = [set(r.tolist()) for r in epoch_schedule(np.arange(257), 256, seed=0, epoch=0)]
    assert [(without, user) for without, _, user in one_user_differences(rounds)] == [(None, next(iter(rounds[1])))]
    ml100k = [set(r.tolist()) for e in range(3) for r in epoch_schedule(np.arange(943), 256, seed=0, epoch=e)]
    assert one_user_differences(ml100k) == []  # honest shuffles of ML-100K: no pair differs by one user


def test_the_user_rows_of_a_drifted_difference_are_the_expected_number_of_largest_ones() -> None:
    # 10 positives and 40 negatives drawn from 90 other items: about 32 distinct negatives, 42 ids in all.
    assert expected_ids(num_samples=50, negatives=4, num_items=100) == 42
    rows = torch.full((100, 2), 1e-4)  # the others' drift on every item
    rows[torch.arange(0, 84, 2)] = 1.0  # the user's 42 rows
    rows[99] = 0.0  # an item nobody touched
    assert own_rows(rows, 42).nonzero().ravel().tolist() == list(range(0, 84, 2))
    assert own_rows(rows, 200).sum() == 99  # never an exact zero row


def test_the_midpoint_of_two_totals_cancels_a_drift_linear_in_time() -> None:
    updates, theta = _round(2, num_users=6), _theta()
    base = secure_sum(updates, theta)
    drift = base.scaled(torch.tensor([0.1]))
    before, after = (secure_sum(updates, theta).scaled(torch.tensor([1.0 + k])) for k in (0.0, 0.2))
    torch.testing.assert_close(midpoint(before, after).item_grads, base.item_grads + drift.item_grads)
