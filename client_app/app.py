"""ClientApp handlers: describe the hosted users, train a round, evaluate."""

from collections.abc import Callable

import numpy as np
from flwr.app import Array, ArrayRecord, ConfigRecord, Context, Error, Message, MetricRecord, RecordDict
from flwr.clientapp import ClientApp

from client_app.node import load_user_embeddings, node_from_context, save_user_embeddings
from fedrec.errors import ConfigError
from fedrec.evaluation import evaluate_users
from fedrec.local_training import compute_user_updates
from fedrec.sampling import user_samples
from fedrec.wire import counts_to_record, theta_from_record

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
    node = node_from_context(context)
    train, test = node.dataset.train[node.user_ids], node.dataset.test[node.user_ids]
    popularity = np.asarray(train.sum(axis=0) + test.sum(axis=0)).ravel().astype(np.int64)
    return Message(
        RecordDict(
            {
                "users": ArrayRecord({"user-ids": Array(node.user_ids), "item-popularity": Array(popularity)}),
                "node": ConfigRecord(
                    {
                        "partition-id": node.partition_id,
                        "num-partitions": node.num_partitions,
                        "num-items": node.dataset.num_items,
                    }
                ),
            }
        ),
        reply_to=message,
    )


@app.train()
@_clear_errors
def train(message: Message, context: Context) -> Message:
    node = node_from_context(context)
    config = node.config
    theta = theta_from_record(message.content["theta"])
    epoch = int(message.content["config"]["epoch"])
    users = np.asarray(message.content["config"]["users"], dtype=np.int64)
    embeddings = load_user_embeddings(context, node)
    positions = node.local_positions(users)
    negative_epoch = epoch if config.resample_negatives else 0
    samples = [
        user_samples(user, node.dataset.train_items(user), node.dataset.num_items, config.negatives, config.seed, negative_epoch)
        for user in users
    ]
    result = compute_user_updates(node.model, theta, users, embeddings[positions], samples, config.loss)
    embeddings[positions] -= config.user_lr * result.user_emb_grad
    save_user_embeddings(context, embeddings)
    return Message(
        RecordDict(
            {"updates": result.updates.to_record(), "metrics": MetricRecord({"loss-sum": float(result.losses.sum())})}
        ),
        reply_to=message,
    )


@app.evaluate()
@_clear_errors
def evaluate(message: Message, context: Context) -> Message:
    node = node_from_context(context)
    theta = theta_from_record(message.content["theta"])
    targets = tuple(int(t) for t in message.content["config"]["targets"])
    counts = evaluate_users(
        node.model,
        theta,
        node.user_ids,
        load_user_embeddings(context, node),
        node.dataset.train,
        node.dataset.test,
        node.config.top_k,
        targets,
    )
    return Message(RecordDict({"counts": counts_to_record(counts)}), reply_to=message)
