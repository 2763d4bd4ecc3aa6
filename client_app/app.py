"""ClientApp handlers: describe the hosted users, train a round, evaluate."""

from collections.abc import Callable

import numpy as np
import torch
from flwr.app import Context, Error, Message
from flwr.clientapp import ClientApp

from attacks import AttackRound
from client_app.node import Node, load_user_embeddings, node_from_context, save_user_embeddings
from fedrec.errors import ConfigError
from fedrec.evaluation.grouped import counts_by_group
from fedrec.models.base import Theta
from fedrec.protocol import (
    ACTIVATIONS_ACTION,
    EvaluateInstruction,
    FeedforwardActivity,
    NodeDescription,
    TrainInstruction,
    TrainReply,
    activations_theta,
    evaluate_reply,
)
from fedrec.sequential.sequences import history_batch, training_sequences, user_sequences
from fedrec.sequential.training import sequential_user_updates
from fedrec.training.local import LocalResult
from fedrec.training.sampling import epoch_samples
from fedrec.updates import UserUpdates
from pretrained import FINE_TUNING
from privacy import PRIVACY_DEFENSES, records_truth
from privacy.recording import truth_of

app = ClientApp()

# Flower's error code for a ClientApp exception; used for bad input so the server shows one line.
_CLIENT_APP_RAISED_EXCEPTION = 1


def _clear_errors(handler: Callable[[Message, Context], Message]) -> Callable[[Message, Context], Message]:
    def wrapped(message: Message, context: Context) -> Message:
        try:
            return handler(message, context)
        except ConfigError as error:
            return Message(Error(code=_CLIENT_APP_RAISED_EXCEPTION, reason=str(error)), reply_to=message)

    return wrapped


@app.query()
@_clear_errors
def describe(message: Message, context: Context) -> Message:
    """Which users this node hosts and their per-item interaction counts.

    `malicious-ids` is the simulation's ground truth, reported for the results (update statistics,
    detection rates) only; strategies never see it.
    """
    node = node_from_context(context)
    description = NodeDescription(
        users=node.user_ids,
        num_clients=node.threat.num_users,
        num_items=node.dataset.num_items,
        partition_id=node.partition_id,
        num_partitions=node.num_partitions,
        role=node.role,
        item_popularity=node.dataset.item_popularity(node.real_users()),
        malicious_ids=node.user_ids[node.threat.is_malicious(node.user_ids)],
    )
    return description.reply_to(message)


@app.query(ACTIVATIONS_ACTION)
@_clear_errors
def activations(message: Message, context: Context) -> Message:
    """Fine-pruning's statistic: the summed feed-forward activity of this node's users on Θ
    (server_app/pruning.py); only the per-unit sums leave the node."""
    node = node_from_context(context)
    batch = history_batch(*user_sequences(node.dataset, node.real_users()), node.model.max_len)
    activity, positions = node.model.feedforward_activity(activations_theta(message), batch)
    return FeedforwardActivity(activity, positions).reply_to(message)


def _benign_step(node: Node, theta: Theta, users: np.ndarray, embeddings: torch.Tensor, epoch: int) -> LocalResult:
    """The users' honest updates, through the run's client-side privacy defense (`privacy-defense`)."""
    if node.model.sequential:
        return _sequential_step(node, theta, users, epoch)
    samples = [epoch_samples(u, node.dataset.train_items(u), node.dataset.num_items, node.config, epoch) for u in users]
    defense = PRIVACY_DEFENSES.selected(node.config)()
    return defense.local_update(node.model, theta, users, embeddings, samples, node.config, epoch)


def _sequential_step(node: Node, theta: Theta, users: np.ndarray, epoch: int) -> LocalResult:
    """A sequential model's honest updates: each user's next-item loss over its own sequence and profile,
    differentiated only where the run's `fine-tune` scenario lets Θ train."""
    config = node.config
    instances = training_sequences(
        users,
        *user_sequences(node.dataset, users),
        node.dataset.num_items,
        config.max_sequence_length,
        config.seed,
        epoch if config.resample_negatives else 0,
    )
    dropout_seed = int(np.random.default_rng([config.seed, epoch, int(users[0])]).integers(2**31))
    return sequential_user_updates(node.model, theta, instances, FINE_TUNING.selected(config).trainable, dropout_seed)


def _malicious_step(
    node: Node, theta: Theta, users: np.ndarray, embeddings: torch.Tensor, epoch: int, targets: tuple[int, ...]
) -> LocalResult:
    attack_round = AttackRound(
        theta=theta, epoch=epoch, user_ids=users, user_emb=embeddings, own_items=[node.own_items(u) for u in users]
    )
    return node.attack(targets).poison(attack_round)


@app.train()
@_clear_errors
def train(message: Message, context: Context) -> Message:
    node = node_from_context(context)
    config = node.config
    instruction = TrainInstruction.parse(message)
    theta, epoch, targets, users = instruction.theta, instruction.epoch, instruction.targets, instruction.users
    malicious = node.threat.is_malicious(users)
    if epoch + 1 < config.attack_start_epoch:
        # Before the attack starts, compromised users train honestly; fake users stay silent.
        if node.threat.mode == "injected":
            users = users[~malicious]
        malicious = np.zeros(len(users), dtype=bool)
    embeddings = load_user_embeddings(context, node)
    results, loss_sum, truth = [], 0.0, None
    for is_malicious in (False, True):
        group = users[malicious == is_malicious]
        if len(group) == 0:
            continue
        positions = node.local_positions(group)
        if is_malicious:
            result = _malicious_step(node, theta, group, embeddings[positions], epoch, targets)
        else:
            result = _benign_step(node, theta, group, embeddings[positions], epoch)
            loss_sum = float(result.losses.sum())
            if records_truth(config, epoch):
                interactions = [node.dataset.train_items(int(user)) for user in group]
                truth = truth_of(result.updates, interactions, embeddings[positions])
        embeddings[positions] -= config.user_lr * result.user_emb_grad
        results.append(result.updates)
    save_user_embeddings(context, embeddings)
    updates = UserUpdates.concat(results) if results else UserUpdates.empty(theta)  # all silent: an empty reply
    # `truth`: the benign users' ground truth, for scoring a curious server (fedrec/protocol.py)
    return TrainReply(updates, loss_sum, int((~malicious).sum()), truth).reply_to(message)


@app.evaluate()
@_clear_errors
def evaluate(message: Message, context: Context) -> Message:
    """Ranking metrics over this node's real users.

    Injected fake users have no data and are not evaluated; compromised users are real users who
    still receive recommendations, so they count, and every attack is measured on the same users.
    """
    node = node_from_context(context)
    instruction = EvaluateInstruction.parse(message)
    evaluated = node.real_users()
    embeddings = load_user_embeddings(context, node)[node.local_positions(evaluated)]
    group = node.config.target_group  # reported apart: the users a group-targeted attack aims at
    members = None if group is None else group.members(node.dataset.profiles)
    counts = counts_by_group(
        node.model,
        instruction.theta,
        node.dataset,
        evaluated,
        embeddings,
        node.config.top_k,
        instruction.targets,
        members,
    )
    return evaluate_reply(message, counts)
