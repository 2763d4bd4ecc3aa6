"""The curious server observes exactly what the wire carries; the ground truth stays on the node's machine,
is joined only for scoring, and never reaches an attack.

Drives the real ClientApp object with a real Context and Message, then the server's recorder with the
reply as the strategy parses it, as the ServerApp does (the `on_replies` hook).
"""

import numpy as np
import pytest
import torch

from app_config import make_config
from client_app.app import app
from client_app.node import node_from_context
from fedrec.errors import ConfigError
from fedrec.models.registry import MODELS
from fedrec.protocol import METRICS, UPDATES, TrainReply, theta_to_record
from privacy.evaluation import attack_uploads
from privacy.ground_truth import collect_truth, discard_truth
from privacy.observed import ObservedUpload, Recovered, UserHistory
from privacy.recording import UploadRecorder, sample_users
from server_app.curious import record_replies, upload_recorder
from tests.conftest import node_context, train_message

SMALL = {"synthetic_users": 30, "synthetic_items": 60, "privacy_attack": "analytic", "privacy_epochs": "1"}


def _round(**overrides: object) -> tuple[object, list[int], dict, object]:
    """One round of 4 users on the real ClientApp; the truth it left on disk is collected (and removed)."""
    context = node_context(**{**SMALL, **overrides})
    node = node_from_context(context)
    model = MODELS.get(node.config.model)(node.config.embedding_dim, node.config.hidden_layers)
    theta = model.init_theta(node.dataset.num_items, node.config.seed)
    users = node.user_ids[:4].tolist()
    before = model.init_user_embeddings(np.array(users), node.config.seed)
    try:
        reply = app(train_message(users, theta_to_record(theta), epoch=0), context)
        truths = collect_truth(context.run_id)
    finally:
        discard_truth(context.run_id)
    return reply, users, theta, (node, before, truths)


def test_the_reply_carries_the_upload_only_and_a_recorded_epoch_leaves_the_truth_on_the_node() -> None:
    reply, users, _, (_, _, truths) = _round()
    assert set(reply.content.keys()) == {UPDATES, METRICS}
    assert set(truths) == {(1, user) for user in users}
    for later in (_round(privacy_epochs="2"), _round(privacy_attack="none"), _round(secure_aggregation=True)):
        assert set(later[0].content.keys()) == {UPDATES, METRICS} and later[3][2] == {}


def test_the_recorder_keeps_the_wire_bit_for_bit_and_the_truth_joins_it_for_scoring() -> None:
    reply, users, theta, (node, before, truths) = _round()
    recorder = UploadRecorder({1: set(users[:3])})
    record_replies(recorder, 1, [TrainReply.parse(reply)], theta)
    assert all(upload.truth is None for upload in recorder.uploads), "the recorder holds no truth while it records"
    recorder.join_truth(truths)
    wire = TrainReply.parse(reply).updates
    assert [upload.user for upload in recorder.uploads] == users[:3]
    for upload in recorder.uploads:
        k = wire.user_ids.tolist().index(upload.user)
        start, end = int(wire.item_indptr[k]), int(wire.item_indptr[k + 1])
        seen = upload.observed
        assert torch.equal(seen.item_ids, wire.item_ids[start:end])
        assert torch.equal(seen.item_rows, wire.item_grads[start:end])
        assert all(torch.equal(seen.dense[name], grads[k]) for name, grads in wire.dense_grads.items())
        assert seen.num_samples == int(wire.num_samples[k])
        assert all(torch.equal(seen.theta[name], theta[name]) for name in theta)
        # The truth: the user's real training items among the uploaded ones, and p_u before the step.
        own = set(node.dataset.train_items(upload.user).tolist())
        assert upload.truth.is_interaction.tolist() == [item in own for item in seen.item_ids.tolist()]
        assert torch.allclose(upload.truth.user_embedding, before[users.index(upload.user)])
    assert set(vars(recorder.uploads[0].observed)) == {"theta", "item_ids", "item_rows", "dense", "num_samples"}


def test_uploads_without_truth_on_this_machine_stop_the_scoring_in_one_line() -> None:
    reply, users, theta, _ = _round()
    recorder = UploadRecorder({1: set(users)})
    record_replies(recorder, 1, [TrainReply.parse(reply)], theta)
    with pytest.raises(RuntimeError, match=r"no ground truth for 4 recorded upload\(s\).*ServerApp's machine"):
        recorder.join_truth({})


def test_an_attack_is_handed_the_observed_upload_only() -> None:
    reply, users, theta, (_, _, truths) = _round()
    recorder = UploadRecorder({1: set(users)})
    record_replies(recorder, 1, [TrainReply.parse(reply)], theta)
    recorder.join_truth(truths)
    handed = []

    class Spy:
        multi_round = True

        def recover_history(self, history: UserHistory) -> list[Recovered]:
            assert set(vars(history)) == {"uploads", "item_uploads"}
            assert torch.equal(history.item_uploads, recorder.item_uploads)
            handed.extend(history.uploads)
            assert all(isinstance(upload, ObservedUpload) for upload in history.uploads)
            return [
                Recovered(torch.zeros(len(u.item_ids)), torch.zeros(len(u.item_ids), dtype=torch.bool), None)
                for u in history.uploads
            ]

    table = attack_uploads(Spy(), recorder.uploads, recorder.item_uploads)  # type: ignore[arg-type]
    assert handed == [upload.observed for upload in recorder.uploads] and len(table) == len(users)
    # Every reply's ids are counted: here one reply, so each item's count is the users who uploaded it.
    wire = TrainReply.parse(reply).updates
    assert torch.equal(recorder.item_uploads, torch.bincount(wire.item_ids, minlength=len(recorder.item_uploads)))
    assert table["chance_f1"].between(0, 1).all() and (table["f1"] == 0).all()


def test_a_changed_reply_is_what_the_recorder_sees() -> None:
    """The recorder reads the reply, not the client's state: tamper with the wire, and it records the tampering."""
    reply, users, theta, _ = _round()
    received = TrainReply.parse(reply)
    received.updates.item_grads[:] = 7.0
    tampered = received.reply_to(train_message(users, theta_to_record(theta)))
    recorder = UploadRecorder({1: {users[0]}})
    record_replies(recorder, 1, [TrainReply.parse(tampered)], theta)
    assert (recorder.uploads[0].observed.item_rows == 7.0).all()


def test_users_are_sampled_per_seed_the_same_in_every_epoch() -> None:
    candidates = np.arange(100)
    assert sample_users(candidates, 10, seed=1) == sample_users(candidates, 10, seed=1)
    assert sample_users(candidates, 10, seed=1) != sample_users(candidates, 10, seed=2)
    assert len(sample_users(candidates[:5], 10, seed=1)) == 5


def test_the_server_records_the_same_users_in_every_recorded_epoch() -> None:
    config = make_config(privacy_attack="recurrence", privacy_users=3, privacy_epochs="1,2,5", epochs=4)
    recorder = upload_recorder(config, np.arange(50), malicious_ids=np.array([0, 1]))
    assert set(recorder.sampled) == {1, 2}  # epoch 5 is past the run
    assert recorder.sampled[1] == recorder.sampled[2] and len(recorder.sampled[1]) == 3
    assert not recorder.sampled[1] & {0, 1}


def test_secure_aggregation_refuses_per_user_defenses_at_start() -> None:
    with pytest.raises(ConfigError, match="defense 'krum' needs per-user updates"):
        make_config(secure_aggregation=True, defense="krum")
    assert make_config(secure_aggregation=True).secure_aggregation
