"""ClientApp handlers: describe the hosted users, train a round, evaluate."""

from collections.abc import Callable

import numpy as np
import torch
from flwr.app import ConfigRecord, Context, Error, Message
from flwr.clientapp import ClientApp

from attacks import AttackRound, CollusionAttack
from client_app.node import (
    Node,
    load_attack_state,
    load_item_movement,
    load_user_embeddings,
    load_user_step,
    node_from_context,
    save_attack_state,
    save_item_movement,
    save_user_embeddings,
    save_user_step,
)
from client_defenses import CLIENT_DEFENSES, regularised_update
from fedrec.errors import ConfigError
from fedrec.evaluation.grouped import counts_by_group
from fedrec.evaluation.ranking import exposure_masks_test
from fedrec.evaluation.sampled import sampled_ranking
from fedrec.models.base import ITEM_EMBEDDING, Theta
from fedrec.protocol import (
    ACTIVATIONS_ACTION,
    EXPOSURE_ACTION,
    SECAGG_KEYS_ACTION,
    EvaluateInstruction,
    FeedforwardActivity,
    MaskedTrainReply,
    NodeDescription,
    NodePublicKey,
    TrainInstruction,
    TrainReply,
    activations_theta,
    evaluate_reply,
    exposure_query,
)
from fedrec.sequential.sequences import history_batch, user_sequences
from fedrec.targets import resolve_targets
from fedrec.training.item_movement import ItemMovement
from fedrec.training.local import LocalResult, LocalStep
from fedrec.updates import UserUpdates
from pretrained import FINE_TUNING
from pretrained.exposure_scan import as_statistics, exposure_counts
from privacy import PRIVACY_DEFENSES, records_truth
from privacy.ground_truth import leave_truth
from privacy.recording import truth_of
from privacy.secure_aggregation import SumLayout, masked_upload, new_private_key, public_key

app = ClientApp()

# The node's state record holding its secure-aggregation private key (it never leaves the node).
_SECAGG_STATE = "secagg"
_PRIVATE_KEY = "private-key"

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
    """Which users this node hosts, the run's size, and the target items as this node resolves them.

    `least-popular:k` targets are resolved here, over the whole dataset every node loads, so that no
    interaction count leaves the node; nothing says which users are malicious.
    """
    node = node_from_context(context)
    description = NodeDescription(
        users=node.user_ids,
        num_clients=node.threat.num_users,
        num_items=node.dataset.num_items,
        partition_id=node.partition_id,
        num_partitions=node.num_partitions,
        role=node.role,
        targets=resolve_targets(node.config.target_items, node.dataset.item_popularity(), node.config.seed),
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


@app.query(EXPOSURE_ACTION)
@_clear_errors
def exposure(message: Message, context: Context) -> Message:
    """The federated exposure scan's statistic (server_app/exposure_scan.py): per profile group, this node's
    users' top-K exposure and interaction counts per item on Θ; only the sums leave the node."""
    node = node_from_context(context)
    theta, k = exposure_query(message)
    return as_statistics(exposure_counts(node.model, theta, node.dataset, node.real_users(), k)).reply_to(message)


def _private_key(context: Context) -> bytes:
    """The node's X25519 private key, created on first use and kept in its state."""
    if _SECAGG_STATE not in context.state:
        context.state[_SECAGG_STATE] = ConfigRecord({_PRIVATE_KEY: new_private_key()})
    return bytes(context.state[_SECAGG_STATE][_PRIVATE_KEY])


@app.query(SECAGG_KEYS_ACTION)
@_clear_errors
def secagg_keys(message: Message, context: Context) -> Message:
    """Secure aggregation's key query: the node's public key, from which its peers derive their pairwise masks."""
    return NodePublicKey(public_key(_private_key(context))).reply_to(message)


def _benign_step(
    node: Node, theta: Theta, users: np.ndarray, embeddings: torch.Tensor, epoch: int, movement: ItemMovement | None
) -> LocalResult:
    """The users' honest updates, as the model's family trains them: through the run's client-side
    privacy defense (`privacy-defense`) or with its training defense's term (`client-defense`), differentiated
    only where the `fine-tune` scenario lets Θ train."""
    term = CLIENT_DEFENSES.selected(node.config)(node.config).loss_term(theta, epoch, movement)
    step = LocalStep(
        config=node.config,
        epoch=epoch,
        update_rule=PRIVACY_DEFENSES.selected(node.config)().local_update if term is None else regularised_update(term),
        trainable=FINE_TUNING.selected(node.config).trainable,
    )
    return node.model.honest_updates(theta, node.dataset, users, embeddings, step)


def _malicious_step(
    node: Node,
    theta: Theta,
    users: np.ndarray,
    embeddings: torch.Tensor,
    epoch: int,
    targets: tuple[int, ...],
    movement: ItemMovement | None,
    context: Context,
) -> LocalResult:
    attack = node.attack(targets)
    keeps_state = attack.keeps_state(node.config)
    attack_round = AttackRound(
        theta=theta,
        epoch=epoch,
        user_ids=users,
        user_emb=embeddings,
        own_items=[node.own_items(u) for u in users],
        own_profile=node.own_profile(users),
        item_movement=movement,
        state=load_attack_state(context) if keeps_state else None,
    )
    result = attack.poison(attack_round)
    if keeps_state:
        save_attack_state(context, attack_round.state)
    return result


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
    user_step = load_user_step(context, node)
    user_step.prepare(embeddings, node.local_positions(users), instruction.server_round)
    movement = None
    if node.observes_item_movement():  # the node watches the Θ it receives (PIECK's popular items)
        movement = load_item_movement(context).observe(theta[ITEM_EMBEDDING], epoch)
        save_item_movement(context, movement)
    results: dict[bool, UserUpdates] = {}
    loss_sum = 0.0
    for is_malicious in (False, True):
        group = users[malicious == is_malicious]
        if len(group) == 0:
            continue
        positions = node.local_positions(group)
        if is_malicious:
            result = _malicious_step(node, theta, group, embeddings[positions], epoch, targets, movement, context)
        else:
            result = _benign_step(node, theta, group, embeddings[positions], epoch, movement)
            loss_sum = float(result.losses.sum())
            if records_truth(config, epoch):  # kept on this machine for the scoring, never sent
                interactions = [node.dataset.train_items(int(user)) for user in group]
                truth = truth_of(result.updates, interactions, embeddings[positions], config.secure_aggregation)
                leave_truth(context.run_id, epoch + 1, instruction.server_round, truth)
        user_step.apply(embeddings, positions, result.user_emb_grad, instruction.server_round)
        results[is_malicious] = result.updates
    save_user_embeddings(context, embeddings)
    save_user_step(context, user_step)
    loss_count = int((~malicious).sum())
    if instruction.peers is not None:
        return _masked_reply(message, context, node, instruction, results, loss_sum, loss_count)
    updates = UserUpdates.concat(list(results.values())) if results else UserUpdates.empty(theta)  # all silent
    return TrainReply(updates, loss_sum, loss_count).reply_to(message)


def _masked_reply(
    message: Message,
    context: Context,
    node: Node,
    instruction: TrainInstruction,
    results: dict[bool, UserUpdates],
    loss_sum: float,
    loss_count: int,
) -> Message:
    """Secure aggregation: the node's users' sum, masked before it leaves the node. Colluding malicious
    clients keep their honest updates out of the sum and hand them to the collusion channel, which
    crafts their uploads and adds them to the round's sum (attacks/collusion.py)."""
    colluders = (
        results.pop(True) if True in results and isinstance(node.attack(instruction.targets), CollusionAttack) else None
    )
    summed = UserUpdates.concat(list(results.values())) if results else UserUpdates.empty(instruction.theta)
    vector = SumLayout.of(instruction.theta).flatten(summed, loss_sum, loss_count)
    node_id = message.metadata.dst_node_id
    masked = masked_upload(vector, node_id, _private_key(context), instruction.peers or {}, instruction.server_round)
    return MaskedTrainReply(masked, colluders).reply_to(message)


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
    embeddings = load_user_embeddings(context, node)
    load_user_step(context, node).settle(embeddings, instruction.server_round)  # the rows after the round evaluated
    embeddings = embeddings[node.local_positions(evaluated)]
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
        sampled_ranking(node.config, instruction.epoch),
        exposure_masks_test(node.config),
    )
    return evaluate_reply(message, counts)
