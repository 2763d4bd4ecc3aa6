"""The federated protocol as a plain single-process PyTorch loop: the baseline Flower is timed against.

Identical math to the Flower app: the same data, initialisation, negatives, schedule, server
learning rate and evaluation code from `fedrec`, but no Flower, no per-user separation of updates,
and no nodes. Each round is one forward/backward over all the round's samples, each weighted by
1/(its user's sample count) so the gradient equals the sum of every user's mean-loss gradient.

    python -m harness.plain_loop --dataset ml-1m [--data-dir DIR] --epochs 30
"""

import json
import resource
import time

import numpy as np
import torch
import torch.nn.functional as F

from app_config import make_config
from datasets import load_dataset
from fedrec.config import RunConfig
from fedrec.evaluation.ranking import evaluate_users, exposure_masks_test
from fedrec.models.base import ITEM_EMBEDDING
from fedrec.models.registry import build_model
from fedrec.targets import resolve_targets
from fedrec.training.sampling import dataset_samples, round_schedule
from harness.arguments import add_data_dir, one_line_errors, script_parser


def _round_loss(
    kind: str, logits: torch.Tensor, labels: torch.Tensor, weights: torch.Tensor, partner: torch.Tensor
) -> torch.Tensor:
    if kind == "bce":
        return (F.binary_cross_entropy_with_logits(logits, labels, reduction="none") * weights).sum()
    paired = partner >= 0
    return (F.softplus(logits[paired] - logits[partner[paired]]) * weights[paired]).sum()


def run_plain(config: RunConfig, log: bool = True) -> dict[str, float]:
    """Train and evaluate as the Flower app does; returns the last evaluation's metrics and timings."""
    if config.server_optimizer != "sgd":
        raise ValueError("the plain loop reproduces the SGD server only (server-optimizer = sgd)")
    if config.l2_reg > 0:
        raise ValueError("the plain loop has no L2 term (l2-reg = 0 only)")
    if config.user_optimizer != "sgd" or config.embedding_dropout > 0:
        raise ValueError(
            "the plain loop steps user rows by SGD without dropout (user-optimizer = sgd, embedding-dropout = 0)"
        )
    started = time.time()
    dataset = load_dataset(config)
    model = build_model(config)
    theta = model.init_theta(dataset.num_items, config.seed)
    all_users = np.arange(dataset.num_users)
    user_emb = model.init_user_embeddings(all_users, config.seed, dataset.num_users)
    targets = resolve_targets(config.target_items, dataset.item_popularity(), config.seed)
    metrics: dict[str, float] = {}
    for epoch in range(config.epochs):
        for users in round_schedule(all_users, config, epoch):
            samples = dataset_samples(dataset, users, config, epoch)
            counts = np.array([len(s.items) for s in samples])
            owner = torch.from_numpy(np.repeat(np.arange(len(users)), counts))
            items = torch.from_numpy(np.concatenate([s.items for s in samples]))
            labels = torch.from_numpy(np.concatenate([s.labels for s in samples]))
            offsets = np.repeat(np.cumsum(counts) - counts, counts)
            partner_local = np.concatenate([s.partner for s in samples])
            partner = torch.from_numpy(np.where(partner_local >= 0, partner_local + offsets, -1))
            weights = 1.0 / torch.from_numpy(counts).float()[owner]
            params = {name: value.clone().requires_grad_() for name, value in theta.items()}
            round_users = user_emb[users].clone().requires_grad_()
            logits = model.logits(params, round_users[owner], F.embedding(items, params[ITEM_EMBEDDING]))
            _round_loss(config.loss, logits, labels, weights, partner).backward()
            with torch.no_grad():
                user_emb[users] -= config.user_lr * round_users.grad
                scale = 1.0 / len(users) if config.fedavg_mode == "mean" else 1.0
                for name, value in theta.items():
                    value -= config.lr * scale * params[name].grad
        if (epoch + 1) % config.eval_every == 0 or epoch + 1 == config.epochs:
            counts_total = evaluate_users(
                model,
                theta,
                all_users,
                user_emb,
                dataset.train,
                dataset.test,
                config.top_k,
                targets,
                masks_test=exposure_masks_test(config),
            )
            metrics = counts_total.metrics()
            if log:
                k = 20 if 20 in config.top_k else config.top_k[-1]
                print(
                    f"plain epoch {epoch + 1}/{config.epochs} recall@{k} {metrics[f'recall@{k}']:.4f} "
                    f"ndcg@{k} {metrics[f'ndcg@{k}']:.4f} {time.time() - started:.1f}s",
                    flush=True,
                )
    metrics["wall-time-s"] = time.time() - started
    metrics["peak-rss-mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return metrics


def main() -> None:
    parser = script_parser(__spec__.name, __doc__)
    parser.add_argument("--dataset", default="ml-1m")
    add_data_dir(parser)
    parser.add_argument("--epochs", type=int, default=30)
    args = parser.parse_args()
    with one_line_errors(parser):
        metrics = run_plain(make_config(dataset=args.dataset, data_dir=args.data_dir, epochs=args.epochs))
    print(json.dumps(metrics, indent=2))


if __name__ == "__main__":
    main()
