"""How much a curious server learns from real uploads: the privacy attacks on ML-100K users, with no defense.

Trains the federated recommender as the app does (per-user gradients from `fedrec`, FedAvg's sum, SGD
on Θ and on each p_u) in a plain loop, and after each listed number of epochs builds the uploads that
`--users` users drawn with the seed would send next (their samples of the next epoch on the current Θ and
p_u), runs each attack on them and prints the mean scores beside the chance level.

    python -m experiments.probes.privacy_probe --model ncf --epochs 0,3 [--data-dir DIR]
    python -m experiments.probes.privacy_probe --model ncf --epochs 20 --lr 0.01 --user-lr 0.01
"""

import time

import numpy as np
import torch

from app_config import make_config
from datasets import load_dataset
from fedrec.config import RunConfig
from fedrec.data.dataset import RecDataset
from fedrec.models.base import RecModel, Theta
from fedrec.models.registry import build_model
from fedrec.training.local import Objective, compute_user_updates
from fedrec.training.sampling import dataset_samples, round_schedule
from fedrec.training.server_step import ThetaGradient, apply_gradient
from harness.arguments import add_data_dir, one_line_errors, script_parser
from privacy.analytic import AnalyticAttack
from privacy.base import SingleUploadAttack
from privacy.dlg import DeepLeakage
from privacy.observed import ObservedUpload, Truth
from privacy.scoring import aggregate, score_upload

_PROBE_STREAM = 0x5042


def train_epoch(
    model: RecModel, theta: Theta, user_emb: torch.Tensor, dataset: RecDataset, config: RunConfig, epoch: int
) -> None:
    """One epoch of the protocol in place: each round's users' gradients summed into Θ, each p_u stepped locally."""
    for users in round_schedule(np.arange(dataset.num_users), config, epoch):
        samples = dataset_samples(dataset, users, config, epoch)
        result = compute_user_updates(model, theta, users, user_emb[users], samples, Objective.of(config))
        updates = result.updates
        dense = {name: grads.sum(0) for name, grads in updates.dense_grads.items()}
        apply_gradient(theta, ThetaGradient(updates.item_ids, updates.item_grads, dense), config.lr)
        user_emb[users] -= config.user_lr * result.user_emb_grad


def observe(
    model: RecModel,
    theta: Theta,
    user_emb: torch.Tensor,
    dataset: RecDataset,
    config: RunConfig,
    users: np.ndarray,
    epoch: int,
) -> list[tuple[ObservedUpload, Truth]]:
    """The uploads `users` would send in `epoch` on the current Θ and p_u, with their truth."""
    samples = dataset_samples(dataset, users, config, epoch)
    updates = compute_user_updates(model, theta, users, user_emb[users], samples, Objective.of(config)).updates
    snapshot = {name: tensor.clone() for name, tensor in theta.items()}
    pairs = []
    for position, user in enumerate(users):
        upload = ObservedUpload.of_user(updates, position, snapshot)
        positives = torch.from_numpy(np.isin(upload.item_ids.numpy(), dataset.train_items(user)))
        pairs.append((upload, Truth(positives, user_emb[user].clone())))
    return pairs


def report(name: str, attack: SingleUploadAttack, pairs: list[tuple[ObservedUpload, Truth]], epochs_done: int) -> None:
    started = time.time()
    summary = aggregate([score_upload(attack.recover(upload), truth) for upload, truth in pairs])
    print(
        f"epochs {epochs_done:>2} {name:<9} F1 {summary['f1']:.3f} (chance {summary['chance_f1']:.3f})  "
        f"AUC {summary['auc']:.3f} (chance 0.5)  cosine {summary['cosine']:.3f}  "
        f"uploads {int(summary['count'])}  {time.time() - started:.1f}s",
        flush=True,
    )


def main() -> None:
    parser = script_parser(__spec__.name, __doc__)
    parser.add_argument("--model", default="ncf")
    add_data_dir(parser)
    parser.add_argument("--epochs", default="0,3", help="comma list: measure after this many training epochs")
    parser.add_argument("--users", type=int, default=20)
    parser.add_argument("--lr", type=float, default=0.001, help="server lr (the paper's 0.001 barely moves Θ)")
    parser.add_argument("--user-lr", type=float, default=0.001)
    parser.add_argument("--dlg-iterations", type=int, default=100)
    parser.add_argument("--dlg-restarts", type=int, default=4)
    args = parser.parse_args()
    torch.set_num_threads(1)  # tiny tensors: threading costs more than it saves, and the machine is shared
    with one_line_errors(parser):
        config = make_config(
            dataset="ml-100k",
            data_dir=args.data_dir,
            model=args.model,
            lr=args.lr,
            user_lr=args.user_lr,
            dlg_iterations=args.dlg_iterations,
            dlg_restarts=args.dlg_restarts,
        )
        dataset = load_dataset(config)
    model = build_model(config)
    theta = model.init_theta(dataset.num_items, config.seed)
    user_emb = model.init_user_embeddings(np.arange(dataset.num_users), config.seed, dataset.num_users)
    attacks = {"analytic": AnalyticAttack(model, config), "dlg": DeepLeakage(model, config)}
    rng = np.random.default_rng([config.seed, _PROBE_STREAM])
    users = np.sort(rng.choice(dataset.num_users, args.users, replace=False))
    print(
        f"{config.model} d={config.embedding_dim} hidden={config.hidden_layers} r={config.negatives} "
        f"lr={config.lr} user-lr={config.user_lr} users={users.tolist()}"
    )
    trained = 0
    for target in sorted(int(e) for e in args.epochs.split(",")):
        while trained < target:
            train_epoch(model, theta, user_emb, dataset, config, trained)
            trained += 1
        pairs = observe(model, theta, user_emb, dataset, config, users, trained)
        for name, attack in attacks.items():
            report(name, attack, pairs, trained)


if __name__ == "__main__":
    main()
