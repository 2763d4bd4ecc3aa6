"""The simulation's ground-truth record beside a train reply, for scoring a curious server only.

In recorded epochs (`privacy-epochs`, with a `privacy-attack` set) a node adds `privacy-truth` to its
train reply: for every user of its batch, which uploaded items are real interactions and p_u before
the step. This is the simulation's measurement channel, like the malicious ids reported for update
statistics: the strategy never reads it, and the server's recorder keeps it apart from what the wire's
`updates` record carries, which is all a privacy attack is given (tests/test_privacy_recording.py).
"""

import numpy as np
import torch
from flwr.app import Array, ArrayRecord

from privacy.recording import TruthBatch

TRUTH_RECORD = "privacy-truth"


def truth_to_record(truth: TruthBatch) -> ArrayRecord:
    return ArrayRecord(
        {
            "user-ids": Array(truth.user_ids.numpy()),
            "item-indptr": Array(truth.item_indptr.numpy()),
            "is-interaction": Array(truth.is_interaction.numpy()),
            "user-embeddings": Array(np.ascontiguousarray(truth.user_embeddings.numpy())),
        }
    )


def truth_from_record(record: ArrayRecord) -> TruthBatch:
    def tensor(key: str) -> torch.Tensor:
        return torch.from_numpy(np.array(record[key].numpy(), copy=True))

    return TruthBatch(tensor("user-ids"), tensor("item-indptr"), tensor("is-interaction"), tensor("user-embeddings"))
