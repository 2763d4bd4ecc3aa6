"""This project's training step against ClusterAttack-UNION's reference code, from the same state on the same data.

The reference (yflyl613/FedRec, `Code/`, read from its folder, never copied) trains one model on the server: each
round 50 users compute their gradients on it, the server takes their sample-weighted mean for the item table and
steps it with Adam. Three of its training choices have no federated form here and are switched in this process, as
the 2026-12-07 ablation switched them in a copy of the reference (docs/notes-cluster-gap.md, its `four-no-l2`):
the tables start from N(0, 0.01²) (xavier_uniform_ is replaced by that draw while the model is built, so the draws
come in the same order), the round's user rows are stepped by SGD with lr 1.0 out of the server's Adam, and dropout
is 0. Its L2 on every parameter stays as it is; this project runs it as `l2-scope = "all"`. (The ablation's
condition `None-FedAdam-r484-ablation-four-all-l2` in results/reference-logs/clusterattack-union/.)

With `--user-optimizer adam` the reference's user rows stay in its server's Adam, as its code has them, and this
project's side steps them with `user-optimizer = "adam"` (`fedrec/training/user_step.py`: each client's Adam on
its own row, the rounds it sat out replayed; lr 2e-3, the reference's): the rows are compared after every round,
each brought to that round (`UserStep.settle`). Dropout stays 0 (the two codes cannot draw the same masks).

This project's side runs its own code, with the settings of CONFIG, on the same tables, users and (positive,
negative) pairs: the users' gradients (`compute_user_updates` with the run config's objective), the FedAvg rule's
weighted mean, its server step (Adam with the server's L2 term), and the users' SGD step. What it does not run:
this project's negative sampler and schedule (the reference's pairs and users are fed to both), Flower's messages,
and this project's evaluation (HR@10 here is the reference test.py's, over its test users). At each logged round
it prints the largest difference of the two codes' tables over every round so far, and how far the tables have
moved from their start; at the end both HR@10.

    python -m experiments.probes.cluster_step_equivalence --reference DIR/ClusterAttack-UNION/Code \
        --cache DIR/ml-seed0.pkl --seed 0 --rounds 484 [--user-optimizer adam]

`--cache` is the `CacheData/ml-seed<S>.pkl` the reference's train.py writes on its first run of a seed (its
(positive, negative) pairs per user and its test users); `--seed` seeds the model's draws and the rounds' users
as train.py does (`torch.manual_seed`, `np.random.default_rng(SEED)`), so with the cache of a logged run the
reference's side here is that run.
"""

import contextlib
import importlib.machinery
import importlib.util
import pickle
import sys
import tomllib
import types
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import torch

from app_config import make_config
from fedrec.directory import UserDirectory
from fedrec.errors import ConfigError
from fedrec.models.base import ITEM_EMBEDDING
from fedrec.models.registry import MODELS
from fedrec.training.local import Objective, compute_user_updates
from fedrec.training.sampling import UserSamples
from fedrec.training.user_step import USER_OPTIMIZERS, UserStep
from harness.arguments import one_line_errors, script_parser
from strategies.fedavg import FedAvg

PROJECT = Path(__file__).resolve().parents[2]
#: This project's settings of the same step: the ablation's config (its protocol keys do not enter the step).
CONFIG = PROJECT / "experiments" / "configs" / "clusterattack-setting-none-reference-l2.toml"

#: The reference's run.sh options for ML-1M with MF (its train.py defaults otherwise), dropout 0 as switched here.
REFERENCE_ARGS = {
    "EMBDIM": 64,
    "DROPOUT": 0.0,
    "WEIGHT_DECAY": 1e-5,
    "LR": 2e-3,
    "BATCH_SIZE": 512,
    "AGG_TYPE": "FedAdam",
}
USERS_PER_ROUND = 50
#: The users' SGD rate of the ablation (`sgd`), or the reference's own Adam rate on its user table (`adam`).
USER_LR = {"sgd": 1.0, "adam": 2e-3}
INIT_STD = 0.01


def import_reference(code: Path) -> types.SimpleNamespace:
    """The reference's model, client and FedAdam modules, imported from its folder (tqdm stubbed if missing)."""
    if not (code / "agg.py").exists():
        raise ConfigError(f"--reference {code} is not ClusterAttack-UNION's Code/ folder (no agg.py in it)")
    try:
        import tqdm  # noqa: F401
    except ImportError:
        stub = importlib.util.module_from_spec(importlib.machinery.ModuleSpec("tqdm", None))  # torch looks up its spec
        stub.tqdm = lambda iterable, **_: iterable  # type: ignore[attr-defined]
        sys.modules["tqdm"] = stub
    sys.path.insert(0, str(code))
    import agg  # type: ignore[import-not-found]
    import client  # type: ignore[import-not-found]
    import model  # type: ignore[import-not-found]

    return types.SimpleNamespace(Model=model.Model, Client=client.Client, FedAdam=agg.FedAdam)


@contextlib.contextmanager
def normal_tables() -> Iterator[None]:
    """The reference's xavier_uniform_ draws replaced by N(0, INIT_STD²) ones while its model is built."""
    xavier = torch.nn.init.xavier_uniform_
    torch.nn.init.xavier_uniform_ = lambda tensor, **_: torch.nn.init.normal_(tensor, 0.0, INIT_STD)
    try:
        yield
    finally:
        torch.nn.init.xavier_uniform_ = xavier


def hr_at_10(users: torch.Tensor, items: torch.Tensor, test: dict) -> float:
    """The reference test.py's HR@10: each test user's held-out item among all items, its masked items excluded."""
    scores = users[torch.from_numpy(test["uid"])] @ items.T
    scores[torch.from_numpy(test["mask"])] = -torch.inf
    top = scores.topk(10, dim=1).indices
    return float((top == torch.from_numpy(test["label"])[:, None]).any(1).double().mean())


def run(
    reference_code: Path, cache_path: Path, seed: int, rounds: int, log_every: int, user_optimizer: str = "sgd"
) -> list[str]:
    ref = import_reference(reference_code)
    if not cache_path.is_file():
        raise ConfigError(
            f"--cache {cache_path}: no such file (the reference's train.py writes CacheData/ml-seed<S>.pkl)"
        )
    with cache_path.open("rb") as handle:
        cache = pickle.load(handle)
    data, test = cache["train_user_data"], cache["test_user_data"]
    # The reference's counts: every user has training pairs; the test masks have a column per item.
    args = types.SimpleNamespace(NUM_USERS=len(data), NUM_ITEMS=test["mask"].shape[1], **REFERENCE_ARGS)

    torch.manual_seed(seed)
    with normal_tables():
        server_model = ref.Model(args)
    aggregator = ref.FedAdam(server_model, args, "cpu")
    user_table = server_model.user_model.user_embedding.weight
    if user_optimizer == "sgd":
        aggregator.server_optimizer = torch.optim.Adam(  # the user rows out of the server's Adam
            [p for p in server_model.parameters() if p is not user_table], lr=args.LR
        )
    client = ref.Client(args, "cpu")

    config = make_config(
        tomllib.loads(CONFIG.read_text()), user_optimizer=user_optimizer, user_lr=USER_LR[user_optimizer]
    )
    user_step = UserStep(config.user_optimizer, config.user_lr)
    theta = {ITEM_EMBEDDING: server_model.item_model.item_embedding.weight.detach().clone()}
    user_rows = user_table.detach().clone()
    rule = FedAvg(config, UserDirectory.from_nodes({1: np.arange(len(data))}), theta, ())
    model, objective = MODELS.selected(config).from_config(config), Objective.of(config)

    start_items, start_users = theta[ITEM_EMBEDDING].clone(), user_rows.clone()
    largest_item = largest_user = 0.0  # the two codes' largest table difference over every round so far
    schedule = np.random.default_rng(seed)
    users = list(data.keys())
    lines = []
    for step in range(rounds):
        chosen = schedule.choice(users, size=USERS_PER_ROUND, replace=False).tolist()
        server_model.train()
        for user in chosen:
            user_grad, item_grad, other_grad, count, _, _ = client.update(server_model, user, data[user])
            aggregator.collect_client_update(user_grad, item_grad, other_grad, count, False)
        # Its Adam on the items (with `adam`: on the whole model, user table included, as its code runs); with
        # `sgd` the user rows' gradient (the round's rows only) stays on the table for the SGD step.
        aggregator.agg()
        if user_optimizer == "sgd":
            with torch.no_grad():
                user_table -= USER_LR["sgd"] * user_table.grad

        chosen_ids = np.array(chosen)
        user_step.prepare(user_rows, chosen_ids, step + 1)
        local = compute_user_updates(
            model,
            theta,
            chosen_ids,
            user_rows[chosen_ids],
            [UserSamples.paired(data[user][:, 0], data[user][:, 1], 1) for user in chosen],
            objective,
        )
        rule.server_step(rule.aggregate(local.updates).gradient)
        user_step.apply(user_rows, chosen_ids, local.user_emb_grad, step + 1)
        user_step.settle(user_rows, step + 1)  # every row as it stands after this round, to compare

        reference_items = server_model.item_model.item_embedding.weight.detach()
        largest_item = max(largest_item, float((reference_items - theta[ITEM_EMBEDDING]).abs().max()))
        largest_user = max(largest_user, float((user_table.detach() - user_rows).abs().max()))
        if step % log_every == 0 or step == rounds - 1:
            lines.append(
                f"round {step + 1}: largest difference so far: items {largest_item:.2e}, users {largest_user:.2e}; "
                f"largest move from the start: items {float((reference_items - start_items).abs().max()):.2e}, "
                f"users {float((user_table.detach() - start_users).abs().max()):.2e}"
            )
            print(lines[-1], flush=True)
    reference_items = server_model.item_model.item_embedding.weight.detach()
    lines.append(f"HR@10 reference: {hr_at_10(user_table.detach(), reference_items, test):.5f}")
    lines.append(f"HR@10 this project: {hr_at_10(user_rows, theta[ITEM_EMBEDDING], test):.5f}")
    print("\n".join(lines[-2:]))
    return lines


def main() -> None:
    parser = script_parser(__spec__.name, __doc__)
    parser.add_argument("--reference", type=Path, required=True, help="ClusterAttack-UNION's Code/ folder")
    parser.add_argument("--cache", type=Path, required=True, help="the reference's CacheData/ml-seed<S>.pkl")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--rounds", type=int, default=484)
    parser.add_argument("--log-every", type=int, default=60)
    parser.add_argument("--out", type=Path, help="also write the log here")
    parser.add_argument(
        "--user-optimizer",
        choices=USER_OPTIMIZERS,
        default="sgd",
        help="sgd: the ablation's user SGD on both sides; adam: the reference's server Adam on its user table against "
        "this project's user-optimizer = adam",
    )
    args = parser.parse_args()
    with one_line_errors(parser):
        lines = run(args.reference, args.cache, args.seed, args.rounds, args.log_every, args.user_optimizer)
        if args.out:
            args.out.parent.mkdir(parents=True, exist_ok=True)
            args.out.write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
