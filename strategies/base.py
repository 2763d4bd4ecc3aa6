"""The FedRec base strategy: Flower's Strategy driving the federated-recommendation protocol.

One Flower round is one round of the paper's protocol: an epoch shuffles all users into rounds of
`clients-per-round`, so every user trains once per epoch. In a round the strategy sends Θ to the
nodes hosting the round's users (one message per node, listing its users), decodes the per-user
updates from the replies, asks `aggregate` (what subclasses define) for a gradient of Θ, and applies
the server step. After each epoch's last round it asks every node to evaluate its users and reports
the summed counts.

Failures are part of the protocol, not a crash: a node that replies with an error, or not at all
within `round-timeout`, is a failed reply; its users' updates are missed for that round and the
round goes on with the others. Each epoch reports `failed-replies` and `missed-users` (training
updates only). While a node is lost, the strategy stops messaging it once Flower reports it offline
(still counting the failure), and asks the `rediscover` hook whether a node came back
under a new id to take its users over (`StrategyHooks`).

Under secure aggregation (`secure-aggregation = true`) the round's nodes mask their sums before
replying (privacy/secure_aggregation.py): the strategy asks each node once for its public key, sends
the round's keys with the instruction, and adds the masked uploads; only their total is ever decoded,
as one pseudo-user, and it is what every hook and `aggregate` see. A round in which a node that was
sent the instruction does not answer cannot be unmasked: it is not applied, and its users count as
missed.

What a curious server may add under secure aggregation is the `after_secure_round` hook: after a round is
applied it gets the round's decoded total and `rerun`, which sends chosen users an extra masked round of
the same epoch at a chosen Θ and decodes its total (server_app/round_difference.py). It is given totals
only: `rerun` unmasks as the round does, so no per-user vector reaches it either.
"""

import math
from abc import abstractmethod
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import partial
from logging import INFO, WARNING
from typing import ClassVar

import numpy as np
import torch
from flwr.app import ArrayRecord, ConfigRecord, Message, MetricRecord
from flwr.common import log
from flwr.serverapp import Grid
from flwr.serverapp.strategy import Strategy

from fedrec.config import RunConfig
from fedrec.directory import UserDirectory
from fedrec.evaluation.grouped import GroupedCounts, grouped_metrics
from fedrec.evaluation.metrics import EvalCounts
from fedrec.models.base import ITEM_EMBEDDING, Theta
from fedrec.protocol import (
    MaskedTrainReply,
    NodePublicKey,
    TrainReply,
    evaluate_messages,
    evaluation_counts,
    public_key_messages,
    train_messages,
)
from fedrec.settings import Setting
from fedrec.training.sampling import round_schedule
from fedrec.training.server_step import ServerStep, ThetaGradient
from fedrec.updates import UserUpdates
from privacy.secure_aggregation import SumLayout, unmask

#: (epoch, its metrics) after each evaluation; epoch 0 is the starting Θ.
EpochCallback = Callable[[int, dict[str, float]], None]
#: (epoch 1-based, the round's updates as aggregated, the users the rule flagged or None).
UpdatesCallback = Callable[[int, UserUpdates, "torch.Tensor | None"], None]
#: (epoch 1-based, the round's good replies as they came over the wire, the Θ sent for the round).
RepliesCallback = Callable[[int, list[TrainReply], Theta], None]
#: (server round, the round's updates, the current Θ) -> the updates the rule aggregates instead.
UpdatesRewrite = Callable[[int, UserUpdates, Theta], UserUpdates]
#: (grid, the directory) -> a directory in which nodes that came back under new ids host their users.
Rediscover = Callable[[Grid, UserDirectory], UserDirectory]
#: Secure aggregation: (users, Θ) -> the decoded total of an extra masked round of the current epoch in which only
#: `users` train at Θ; None when it cannot be unmasked (a node did not answer).
Rerun = Callable[[np.ndarray, Theta], "UserUpdates | None"]


@dataclass(frozen=True)
class SecureRound:
    """A secure round as the server holds it once applied: the epoch (1-based), the users that trained, the decoded
    total (one pseudo-user), the Θ it was sent at (a copy), the Θ after the step, and `rerun`."""

    epoch: int
    users: np.ndarray
    total: UserUpdates
    theta_sent: Theta
    theta_stepped: Theta
    rerun: Rerun


@dataclass(frozen=True)
class StrategyHooks:
    """What the ServerApp plugs into a run; every hook is optional.

    `rewrite_updates` run in order on each round's updates before `aggregate` sees them: the
    simulation's collusion channel (attacks/collusion.py), then secure aggregation (privacy/).
    `on_replies` is what a curious server can record; `on_updates` and `on_epoch` feed the results;
    `after_secure_round` is the curious server's extra rounds under secure aggregation.
    """

    on_epoch: EpochCallback | None = None
    on_updates: UpdatesCallback | None = None
    on_replies: RepliesCallback | None = None
    rewrite_updates: tuple[UpdatesRewrite, ...] = ()
    rediscover: Rediscover | None = None
    after_secure_round: Callable[[SecureRound], None] | None = None


@dataclass(frozen=True)
class Aggregate:
    """What a rule decided for a round: the gradient of Θ for the server step, and the users it rejected
    or clipped (a bool per user of the round's updates; None for rules that never do)."""

    gradient: ThetaGradient
    flagged: torch.Tensor | None = None


class FedRecStrategy(Strategy):
    """Base for every aggregation rule; subclasses implement `aggregate` on per-user updates."""

    #: Run-config settings this rule reads (`fedrec.registry`).
    settings: ClassVar[tuple[Setting, ...]] = ()

    def __init__(
        self,
        config: RunConfig,
        directory: UserDirectory,
        theta: Theta,
        targets: tuple[int, ...],
        hooks: StrategyHooks | None = None,
    ) -> None:
        self.config = config
        self.directory = directory
        self.theta = theta
        server_l2 = config.l2_reg if config.l2_scope == "all" else 0.0
        self.server_step = ServerStep(theta, config.server_optimizer, config.lr, server_l2)
        self.targets = targets
        self.hooks = hooks or StrategyHooks()
        self.rounds_per_epoch = math.ceil(len(directory.user_ids) / config.clients_per_round)
        self._lost_nodes: set[int] = set()
        self._awaited: dict[int, int] = {}  # node -> users, for the replies of the current round
        self._failed_replies = 0
        self._missed_users = 0
        self._schedule: tuple[int, list[np.ndarray]] = (-1, [])
        self._epoch_loss = [0.0, 0]
        self._public_keys: dict[int, bytes] = {}  # secure aggregation: each node's, asked once
        self._participants: set[int] = set()  # the nodes sent the current round's instruction
        self._round_users: list[np.ndarray] = []  # the users sent the current round's instruction
        self._grid: Grid | None = None  # the current round's, for extra rounds (`after_secure_round`)
        self._extra_rounds = 0  # extra masked rounds so far; each masks under a round number of its own

    @classmethod
    def check_run(cls, config: RunConfig) -> None:
        """Raises a ConfigError where the run lacks what this rule needs; the ServerApp asks before it writes
        anything. Most rules need nothing."""

    @classmethod
    def aggregates_item_rows(cls, config: RunConfig) -> bool:
        """Whether this rule, in `config`, aggregates each item over its uploaded rows (so that a user's several
        rows of one item, `repeated-items = "separate"`, count as several senders). Most rules do not."""
        return False

    @property
    def num_rounds(self) -> int:
        return self.config.epochs * self.rounds_per_epoch

    def epoch_and_round(self, server_round: int) -> tuple[int, int]:
        """0-based (epoch, round within epoch) of Flower's 1-based server round."""
        return divmod(server_round - 1, self.rounds_per_epoch)

    def round_users(self, server_round: int) -> np.ndarray:
        epoch, index = self.epoch_and_round(server_round)
        if self._schedule[0] != epoch:
            users = self.directory.user_ids
            self._schedule = (epoch, round_schedule(users, self.config, epoch))
        return self._schedule[1][index]

    @abstractmethod
    def aggregate(self, updates: UserUpdates) -> Aggregate:
        """Combine the round's per-user updates (at least one user) into one gradient of Θ."""

    def _reachable(self, grid: Grid, groups: dict[int, np.ndarray]) -> dict[int, np.ndarray]:
        """The node groups worth messaging: lost nodes that Flower reports offline are skipped (they
        still count as failed replies) so that a dead node does not cost a whole `round-timeout`
        every round."""
        self._awaited = {node: len(users) for node, users in groups.items()}
        if not self._lost_nodes:
            return groups
        online = set(grid.get_node_ids())
        return {node: users for node, users in groups.items() if node not in self._lost_nodes or node in online}

    def _recover(self, grid: Grid) -> None:
        if self._lost_nodes and self.hooks.rediscover is not None:
            self.directory = self.hooks.rediscover(grid, self.directory)
            self._lost_nodes &= set(self.directory.node_ids)

    def configure_train(
        self, server_round: int, arrays: ArrayRecord, config: ConfigRecord, grid: Grid
    ) -> Iterable[Message]:
        epoch, _ = self.epoch_and_round(server_round)
        self._recover(grid)
        groups = self._reachable(grid, self.directory.group_by_node(self.round_users(server_round)))
        peers = None
        if self.config.secure_aggregation:
            peers = self._peer_keys(grid, list(groups))
            groups = {node: users for node, users in groups.items() if node in peers}
        self._participants = set(groups)
        self._round_users = list(groups.values())
        self._grid = grid
        return train_messages(self.theta, epoch, groups, self.targets, server_round, peers)

    def _peer_keys(self, grid: Grid, nodes: list[int]) -> dict[int, bytes]:
        """The public keys of `nodes`, asking the nodes not yet asked; a node that gives none sits the round out
        (and counts as a failed reply)."""
        missing = [node for node in nodes if node not in self._public_keys]
        if missing:
            for reply in grid.send_and_receive(public_key_messages(missing), timeout=self.config.round_timeout):
                if not reply.has_error():
                    self._public_keys[reply.metadata.src_node_id] = NodePublicKey.parse(reply).public_key
        return {node: self._public_keys[node] for node in nodes if node in self._public_keys}

    def _successful(self, replies: Iterable[Message], what: str, server_round: int, count_users: bool) -> list[Message]:
        """The good replies; errors and replies that never came are counted as failures.

        An error reply may come from the SuperLink rather than the node (e.g. node unavailable), so
        failures are the awaited nodes without a good reply, whatever the errors say.
        """
        good = []
        for reply in replies:
            if reply.has_error():
                log(WARNING, "round %s: a %s reply is an error: %s", server_round, what, reply.error.reason)
            else:
                good.append(reply)
        answered = {reply.metadata.src_node_id for reply in good}
        failed = set(self._awaited) - answered
        if failed:
            log(WARNING, "round %s: no %s result from node(s) %s", server_round, what, sorted(failed))
        self._failed_replies += len(failed)
        if count_users:
            self._missed_users += sum(self._awaited[node] for node in failed)
        self._lost_nodes = (self._lost_nodes - answered) | failed
        # Replies arrive in any order; summing them in a fixed one (by the users a node hosts) keeps the
        # float sums, hence the numbers, identical from run to run.
        return sorted(good, key=lambda reply: self._first_user(reply.metadata.src_node_id))

    def _first_user(self, node: int) -> int:
        users = self.directory.users_of(node) if node in self.directory.nodes else ()
        return int(min(users)) if len(users) else -1

    def aggregate_train(
        self, server_round: int, replies: Iterable[Message]
    ) -> tuple[ArrayRecord | None, MetricRecord | None]:
        good = self._successful(replies, "train", server_round, count_users=True)
        if not good:
            return None, None
        epoch = self.epoch_and_round(server_round)[0] + 1
        received = self._received(good, server_round)
        if not received:
            return None, None
        if self.hooks.on_replies is not None:
            self.hooks.on_replies(epoch, received, self.theta)
        curious = self.config.secure_aggregation and self.hooks.after_secure_round is not None
        theta_sent = {name: value.clone() for name, value in self.theta.items()} if curious else self.theta
        updates = UserUpdates.concat([reply.updates for reply in received])
        for rewrite in self.hooks.rewrite_updates:
            updates = rewrite(server_round, updates, self.theta)
        flagged = None
        if updates.num_users:
            decision = self.aggregate(updates)
            self.server_step(decision.gradient)
            flagged = decision.flagged
        if self.hooks.on_updates is not None:
            self.hooks.on_updates(epoch, updates, flagged)
        if curious:
            users = np.concatenate(self._round_users)
            rerun = partial(self._rerun, epoch - 1)
            self.hooks.after_secure_round(SecureRound(epoch, users, received[0].updates, theta_sent, self.theta, rerun))
        for reply in received:
            self._epoch_loss[0] += reply.loss_sum
            self._epoch_loss[1] += reply.loss_count
        return None, None

    def _received(self, good: list[Message], server_round: int) -> list[TrainReply]:
        """The round's replies as the server may read them: per node in the clear; under secure aggregation the
        unmasked total as one reply (plus colluders' own updates for the collusion channel), or nothing when a
        participant's masks are missing."""
        if not self.config.secure_aggregation:
            return [TrainReply.parse(reply) for reply in good]
        answered = {reply.metadata.src_node_id for reply in good}
        if answered != self._participants:
            log(
                WARNING,
                "round %s: secure aggregation: node(s) %s did not answer, the masked sum cannot be unmasked; "
                "the round is not applied",
                server_round,
                sorted(self._participants - answered),
            )
            self._missed_users += sum(self._awaited[node] for node in answered)
            return []
        masked = [MaskedTrainReply.parse(reply) for reply in good]
        colluders = [TrainReply(reply.colluders, 0.0, 0) for reply in masked if reply.colluders is not None]
        return [self._unmasked(masked), *colluders]

    def _unmasked(self, masked: list[MaskedTrainReply]) -> TrainReply:
        """The total of every participant's masked upload, decoded as one pseudo-user (with the loss sums)."""
        layout = SumLayout.of(self.theta)
        return TrainReply(
            *layout.unflatten(unmask([reply.masked for reply in masked]), self.theta[ITEM_EMBEDDING].dtype)
        )

    def _rerun(self, epoch: int, users: np.ndarray, theta: Theta) -> UserUpdates | None:
        """An extra masked round of `epoch` (0-based) in which `users` train at `theta`: its decoded total, or None
        when a node gave no key or no reply. It is not applied, and its masks are fresh (a round number past the
        run's), so no upload of it subtracts from another round's."""
        assert self._grid is not None, "an extra round needs a round's grid"
        groups = self.directory.group_by_node(users)
        peers = self._peer_keys(self._grid, list(groups))
        if set(peers) != set(groups):
            return None
        self._extra_rounds += 1
        mask_round = self.num_rounds + self._extra_rounds
        messages = train_messages(theta, epoch, groups, self.targets, mask_round, peers)
        replies = self._grid.send_and_receive(messages, timeout=self.config.round_timeout)
        good = [reply for reply in replies if not reply.has_error()]
        if {reply.metadata.src_node_id for reply in good} != set(groups):
            log(WARNING, "an extra secure round of epoch %s could not be unmasked", epoch + 1)
            return None
        return self._unmasked([MaskedTrainReply.parse(reply) for reply in good]).updates

    def _evaluates(self, server_round: int) -> bool:
        epoch, index = self.epoch_and_round(server_round)
        last_round_of_epoch = index == self.rounds_per_epoch - 1
        return last_round_of_epoch and ((epoch + 1) % self.config.eval_every == 0 or epoch + 1 == self.config.epochs)

    def configure_evaluate(
        self, server_round: int, arrays: ArrayRecord, config: ConfigRecord, grid: Grid
    ) -> Iterable[Message]:
        if not self._evaluates(server_round):
            return []
        epoch, _ = self.epoch_and_round(server_round)
        return self._evaluation_messages(grid, epoch + 1)

    def _evaluation_messages(self, grid: Grid, epoch: int) -> list[Message]:
        """The evaluate instructions of the model after epoch `epoch` (1-based; 0 = the starting model)."""
        self._recover(grid)
        nodes = self._reachable(grid, {node: self.directory.users_of(node) for node in self.directory.nodes})
        return evaluate_messages(self.theta, list(nodes), self.targets, epoch, epoch * self.rounds_per_epoch)

    def aggregate_evaluate(self, server_round: int, replies: Iterable[Message]) -> MetricRecord | None:
        if not self._evaluates(server_round):
            return None
        good = self._successful(replies, "evaluate", server_round, count_users=False)
        epoch, _ = self.epoch_and_round(server_round)
        return MetricRecord(self._report_evaluation(epoch + 1, good))

    def evaluate_initial(self, grid: Grid) -> None:
        """Evaluates the starting Θ as epoch 0 (a run that starts from a pre-trained checkpoint)."""
        replies = grid.send_and_receive(self._evaluation_messages(grid, 0), timeout=self.config.round_timeout)
        self._report_evaluation(0, self._successful(replies, "evaluate", 0, count_users=False))

    def _report_evaluation(self, epoch: int, good: list[Message]) -> dict[str, float]:
        """Sums the nodes' counts (and per user group, `counts/<group>`) into the epoch's metrics."""
        totals = GroupedCounts(EvalCounts(ks=self.config.top_k, targets=self.targets))
        for reply in good:
            totals += evaluation_counts(reply, self.config.top_k, self.targets)
        loss_sum, loss_count = self._epoch_loss
        metrics = {"epoch": float(epoch), "train-loss": loss_sum / loss_count if loss_count else math.nan}
        metrics.update(grouped_metrics(totals))
        metrics["failed-replies"] = float(self._failed_replies)
        metrics["missed-users"] = float(self._missed_users)
        self._epoch_loss = [0.0, 0]
        self._failed_replies = self._missed_users = 0
        if self.hooks.on_epoch is not None:
            self.hooks.on_epoch(epoch, metrics)
        return metrics

    def summary(self) -> None:
        log(
            INFO,
            "%s: %d users on %d node(s), %d epochs x %d rounds of %d users",
            type(self).__name__,
            len(self.directory.user_ids),
            len(self.directory.nodes),
            self.config.epochs,
            self.rounds_per_epoch,
            self.config.clients_per_round,
        )
