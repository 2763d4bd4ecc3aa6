"""Nothing the server receives carries private data beyond the protocol's uploads: an audit of every message.

With one user per SuperNode, as in a real deployment, a per-item count in a reply would be that user's
history, and any ground truth (who is malicious, which uploaded items are real, p_u) would hand the
server what its attacks are scored on. The ServerApp's own grid logs every reply it receives at DEBUG
(server_app/grid.py: the message type, each record's keys, arrays as dtype and shape, config and
metric values). The audit reads those lines, from the run's log, and fails on any record or key the
protocol does not define for that message type, on a describe reply hosting more than its one user, and
on any array or value list as long as the item catalogue outside the uploads' rows. The run has
compromised users (a collusion attack, so the ServerApp's reporting and collusion channel do know who is
malicious) and a curious server recording and scoring uploads (so the nodes do keep ground truth): both
must reach the results without crossing the wire.
"""

import json
import logging
from pathlib import Path

import pytest
from flwr.common.logger import update_console_handler

from fedrec.protocol import (
    COUNTS,
    DENSE_GRAD_PREFIX,
    ITEM_GRADS,
    ITEM_IDS,
    ITEM_INDPTR,
    LOSS_COUNT,
    LOSS_SUM,
    METRICS,
    NDCG,
    NODE,
    NUM_CLIENTS,
    NUM_ITEMS,
    NUM_PARTITIONS,
    NUM_SAMPLES,
    PARTITION_ID,
    PRECISION,
    RECALL,
    ROLE,
    TARGET_ELIGIBLE,
    TARGET_HITS,
    TARGETS,
    UPDATES,
    USER_IDS,
    USERS,
)
from server_app.grid import RECEIVED
from tests.in_process_grid import run_server_app

USERS_COUNT, ITEMS_COUNT = 5, 40
RUN = {
    "synthetic-users": USERS_COUNT,
    "synthetic-items": ITEMS_COUNT,
    "synthetic-interactions": 10,
    "clients-per-round": USERS_COUNT,
    "epochs": 1,
    "seed": 3,
    "attack": "gaussian",  # compromised users, crafted by the server-side collusion channel
    "malicious-fraction": 0.2,
    "privacy-attack": "analytic",
    "privacy-users": 3,
    "privacy-epochs": "1",
}
#: What the protocol defines for each reply, by message type: record -> allowed keys.
SCHEMA = {
    "query": {USERS: {USER_IDS}, NODE: {PARTITION_ID, NUM_PARTITIONS, ROLE, NUM_CLIENTS, NUM_ITEMS, TARGETS}},
    "train": {
        UPDATES: {USER_IDS, ITEM_INDPTR, ITEM_IDS, ITEM_GRADS, NUM_SAMPLES},
        METRICS: {LOSS_SUM, LOSS_COUNT},
    },
    "evaluate": {COUNTS: {USERS, RECALL, PRECISION, NDCG, TARGET_HITS, TARGET_ELIGIBLE}},
}
UPLOAD_ROWS = {ITEM_IDS, ITEM_GRADS}  # the upload itself: one row per item a user sent


def received(log_lines: list[str]) -> list[dict]:
    """The replies the ServerApp logged as received."""
    return [json.loads(line.split(RECEIVED, 1)[1]) for line in log_lines if RECEIVED in line]


def _lengths(value: object) -> list[int]:
    if isinstance(value, str) and "[" in value:  # an array, as "dtype[shape]"
        return json.loads(value[value.index("[") :])
    return [len(value)] if isinstance(value, list) else []


def audit(replies: list[dict], num_clients: int, num_items: int) -> None:
    """Fail on anything in `replies` the protocol does not define, or that could be a per-item count."""
    types = [reply["type"] for reply in replies]
    assert types.count("query") == num_clients and "train" in types and "evaluate" in types, types
    for reply in replies:
        kind, content = reply["type"], reply["content"]
        assert kind in SCHEMA, f"an unexpected message type reached the server: {kind}"
        for record, keys in content.items():
            allowed = SCHEMA[kind].get(record.split("/")[0] if kind == "evaluate" else record)
            assert allowed is not None, f"{kind} reply carries record {record!r}"
            extra = {key for key in keys if key not in allowed and not key.startswith(DENSE_GRAD_PREFIX)}
            assert not extra, f"{kind} reply's {record!r} carries {sorted(extra)}"
            for key, value in keys.items():
                if key not in UPLOAD_ROWS and not key.startswith(DENSE_GRAD_PREFIX):
                    assert num_items not in _lengths(value), f"{kind} {record}/{key} has one entry per item: {value}"
        if kind == "query":
            assert content[USERS][USER_IDS] == "int64[1]", "one user per SuperNode"


def test_the_audit_fails_on_what_describe_and_train_used_to_carry() -> None:
    describe = {USERS: {USER_IDS: "int64[1]"}, NODE: {NUM_CLIENTS: 1, NUM_ITEMS: ITEMS_COUNT, TARGETS: [0]}}
    train = {UPDATES: {USER_IDS: "int64[1]", ITEM_IDS: f"int64[{ITEMS_COUNT}]"}, METRICS: {LOSS_SUM: 0.5}}
    evaluate = {COUNTS: {USERS: 1}}

    def replies(describe_content: dict, train_content: dict) -> list[dict]:
        return [
            {"type": "query", "content": describe_content},
            {"type": "train", "content": train_content},
            {"type": "evaluate", "content": evaluate},
        ]

    audit(replies(describe, train), 1, ITEMS_COUNT)  # an upload may well touch every item
    popularity = {**describe, USERS: {USER_IDS: "int64[1]", "item-popularity": f"int64[{ITEMS_COUNT}]"}}
    with pytest.raises(AssertionError, match="item-popularity"):
        audit(replies(popularity, train), 1, ITEMS_COUNT)
    with pytest.raises(AssertionError, match="one entry per item"):
        audit(replies({**describe, NODE: {**describe[NODE], TARGETS: [1] * ITEMS_COUNT}}, train), 1, ITEMS_COUNT)
    with pytest.raises(AssertionError, match="privacy-truth"):
        audit(replies(describe, {**train, "privacy-truth": {"is-interaction": "bool[7]"}}), 1, ITEMS_COUNT)


def test_in_process_the_server_receives_no_count_and_no_ground_truth(tmp_path: Path) -> None:
    """The real ServerApp main against the real ClientApp, one node per user; the same audit as deployed."""
    lines: list[str] = []
    handler = logging.Handler(logging.DEBUG)
    handler.emit = lambda record: lines.append(record.getMessage())  # type: ignore[method-assign]
    flwr_logger = logging.getLogger("flwr")
    flwr_logger.addHandler(handler)
    update_console_handler(level="DEBUG", timestamps=False, colored=False)  # what FLWR_LOG_LEVEL=DEBUG does
    try:
        run_server_app({**RUN, "results-dir": str(tmp_path), "run-name": "audit"}, num_nodes=USERS_COUNT)
    finally:
        update_console_handler(level="INFO", timestamps=False, colored=True)
        flwr_logger.removeHandler(handler)
    audit(received(lines), USERS_COUNT, ITEMS_COUNT)
    summary = json.loads((tmp_path / "audit" / "summary.json").read_text())
    assert summary["status"] == "completed"
    assert summary["privacy"]["count"] == 3, "the curious server's uploads were scored, the truth came apart"
    assert json.loads((tmp_path / "audit" / "config.json").read_text())["num-malicious"] == 1


@pytest.mark.e2e
@pytest.mark.slow  # five SuperNodes, each starting a ClientApp process per message: about 4.5 min on 2 cores
def test_deployed_with_one_user_per_supernode_the_server_receives_no_count_and_no_ground_truth(
    tmp_path: Path,
) -> None:
    from deploy.federation import is_running, start_federation

    federation = start_federation(tmp_path / "federation", supernodes=USERS_COUNT, log_level="DEBUG")
    try:
        overrides = {**RUN, "results-dir": str(federation.folder / "results"), "run-name": "audit"}
        output = federation.run(overrides, timeout=600)
    finally:
        federation.stop(grace=2.0)
    assert not [spec.name for spec in federation.processes() if is_running(spec.pid)]
    folder = federation.folder / "results" / "audit"
    assert (folder / "summary.json").exists(), output[-4000:]
    audit(received(output.splitlines()), USERS_COUNT, ITEMS_COUNT)
    summary = json.loads((folder / "summary.json").read_text())
    assert summary["status"] == "completed" and summary["privacy"]["count"] == 3, output[-3000:]
