"""A client's reply carries gradients and touched item ids only: never p_u, never its interaction list.

Drives the real ClientApp object with a real Context and Message (no Flower runtime needed).
"""

import numpy as np
import torch

from app_config import make_config
from client_app.app import app
from client_app.node import node_from_context
from fedrec.models.base import dense_names
from fedrec.models.registry import MODELS
from fedrec.protocol import (
    DENSE_GRAD_PREFIX,
    ITEM_GRADS,
    ITEM_IDS,
    ITEM_INDPTR,
    LOSS_COUNT,
    LOSS_SUM,
    METRICS,
    NUM_SAMPLES,
    UPDATES,
    USER_IDS,
    theta_to_record,
    updates_from_record,
)
from tests.conftest import node_context, train_message

ALLOWED_UPDATE_KEYS = {USER_IDS, ITEM_INDPTR, ITEM_IDS, ITEM_GRADS, NUM_SAMPLES}


def test_train_reply_reveals_no_user_embedding_and_no_interaction_list() -> None:
    context = node_context(synthetic_users=30, synthetic_items=60)
    node = node_from_context(context)
    config = make_config(synthetic_users=30, synthetic_items=60)
    model = MODELS.get(config.model)(config.embedding_dim, config.hidden_layers)
    theta = model.init_theta(node.dataset.num_items, config.seed)
    users = node.user_ids[:3].tolist()
    reply = app(train_message(users, theta_to_record(theta)), context)

    assert set(reply.content.keys()) == {UPDATES, METRICS}
    record = reply.content[UPDATES]
    dense = {key for key in record if key.startswith(DENSE_GRAD_PREFIX)}
    assert set(record) - dense == ALLOWED_UPDATE_KEYS
    assert {key[len(DENSE_GRAD_PREFIX) :] for key in dense} == set(dense_names(theta))
    assert set(reply.content[METRICS].keys()) == {LOSS_SUM, LOSS_COUNT}

    updated_emb = torch.from_numpy(context.state["user-embeddings"]["embeddings"].numpy())
    sent_values = np.concatenate([array.numpy().ravel().astype(np.float64) for array in record.values()])
    for emb in updated_emb[: len(users)]:
        for value in emb.tolist():
            assert not np.isclose(sent_values, value, rtol=0, atol=1e-12).any(), "p_u leaked into the reply"

    updates = updates_from_record(record)
    for k, user in enumerate(users):
        sent_items = set(updates.item_ids[updates.item_indptr[k] : updates.item_indptr[k + 1]].tolist())
        positives = set(node.dataset.train_items(user).tolist())
        # Touched items include the sampled negatives, so the positives are not singled out...
        assert positives < sent_items
        # ...and nothing in the reply marks which of the touched items are the user's own.
    assert "labels" not in record and "positives" not in record


def test_user_embeddings_stay_in_node_state_between_rounds() -> None:
    context = node_context(synthetic_users=30, synthetic_items=60)
    node = node_from_context(context)
    config = make_config(synthetic_users=30, synthetic_items=60)
    model = MODELS.get(config.model)(config.embedding_dim, config.hidden_layers)
    theta_record = theta_to_record(model.init_theta(node.dataset.num_items, config.seed))
    initial = model.init_user_embeddings(node.user_ids, config.seed)
    app(train_message([int(node.user_ids[0])], theta_record), context)
    after_one = torch.from_numpy(context.state["user-embeddings"]["embeddings"].numpy()).clone()
    assert not torch.equal(after_one[0], initial[0]), "the trained user's p_u moves"
    assert torch.equal(after_one[1:], initial[1:]), "users who did not train keep theirs"
