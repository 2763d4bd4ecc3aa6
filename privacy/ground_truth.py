"""How the simulation's privacy ground truth reaches the scoring, without ever crossing the protocol.

A benign user's truth (which of its uploaded items are real interactions, its p_u; `TruthBatch`) is what
a curious server tries to recover, so it must not ride in any message the server receives: a ClientApp
that answered it over the wire would answer any server that asks. Instead, in a recorded epoch each node
writes its benign users' truth to a folder of its own machine's temporary directory, keyed by the Flower
run id (the same on the ServerApp and every ClientApp of a run). After training, only the ServerApp's
privacy scoring reads it there (server_app/curious.py), and removes it. The truth therefore reaches the
scoring only where nodes and ServerApp share a disk: a simulation, or a federation on one machine
(deploy/); nodes on other machines keep theirs, and the scoring says so in one line.

Files are keyed by the server round: a user trains once per epoch in the protocol's rounds, but a curious
server may send it extra rounds (the round-difference probes of server_app/round_difference.py); the
truth of a user's upload in an epoch is that of its first round, the one the server's schedule made.
"""

import os
import shutil
import tempfile
from pathlib import Path

import torch

from fedrec.updates import TruthBatch
from privacy.observed import Truth
from privacy.recording import truth_of_user

_ROOT = "fedrec-arena-truth"


def truth_folder(run_id: int) -> Path:
    """Where the nodes of run `run_id` on this machine leave their users' ground truth."""
    return Path(tempfile.gettempdir()) / _ROOT / f"run-{run_id}"


def leave_truth(run_id: int, epoch: int, server_round: int, batch: TruthBatch) -> None:
    """Keep `batch` (users of one round, `epoch` 1-based) for the scoring; written whole or not at all."""
    if not len(batch.user_ids):
        return
    folder = truth_folder(run_id)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"epoch-{epoch}-round-{server_round}-user-{int(batch.user_ids.min())}.pt"
    partial = path.with_suffix(f".{os.getpid()}.part")
    torch.save(batch, partial)
    partial.replace(path)  # a retried round overwrites its own file


def collect_truth(run_id: int) -> dict[tuple[int, int], Truth]:
    """Every (epoch, user) whose truth the nodes of run `run_id` left on this machine, from its first round."""
    files = [(path, path.name.split("-")) for path in truth_folder(run_id).glob("epoch-*-round-*-user-*.pt")]
    truths: dict[tuple[int, int], Truth] = {}
    for path, parts in sorted(files, key=lambda file: int(file[1][3])):
        batch: TruthBatch = torch.load(path, weights_only=False)
        for user in batch.positions:
            truths.setdefault((int(parts[1]), user), truth_of_user(batch, user))
    return truths


def discard_truth(run_id: int) -> None:
    shutil.rmtree(truth_folder(run_id), ignore_errors=True)
