"""How learnable a split is: centralised MF-BPR (no federation), Recall@10/NDCG@10 after each epoch.

A yardstick for the federated victims: if a plainly trained MF cannot beat item popularity on a
split, neither attacks nor defenses can be judged by utility on it.

    python -m experiments.probes.centralised_mf --data-dir DIR --split published
    python -m experiments.probes.centralised_mf --data-dir DIR --split random
"""

import numpy as np
import torch
import torch.nn.functional as F

from app_config import make_config
from datasets import load_dataset
from fedrec.evaluation.ranking import evaluate_users
from fedrec.models.base import ITEM_EMBEDDING
from fedrec.models.mf import MatrixFactorization
from harness.arguments import add_data_dir, one_line_errors, script_parser


def popularity_metrics(dataset, ks: tuple[int, ...]) -> dict[str, float]:
    """Every user gets the most popular training items (its own masked): the non-personal baseline."""
    popularity = torch.from_numpy(np.asarray(dataset.train.sum(axis=0)).ravel()).float()
    # MF with one-dimensional embeddings: user 1, item = its popularity, scores = popularity.
    users = np.arange(dataset.num_users)
    counts = evaluate_users(
        MatrixFactorization(1, ()),
        {ITEM_EMBEDDING: popularity[:, None]},
        users,
        torch.ones(len(users), 1),
        dataset.train,
        dataset.test,
        ks,
        (),
    )
    return counts.metrics()


def main() -> None:
    parser = script_parser(__spec__.name, __doc__)
    parser.add_argument("--dataset", default="ml-1m")
    add_data_dir(parser)
    parser.add_argument("--split", default="published", choices=("published", "random"))
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--dim", type=int, default=64)
    parser.add_argument("--lr", type=float, default=0.005)
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args()
    torch.manual_seed(args.seed)
    with one_line_errors(parser):
        config = make_config(dataset=args.dataset, data_dir=args.data_dir, split=args.split, seed=args.seed)
        dataset = load_dataset(config)
    print(dataset.summary(), f"split={args.split}")
    popular = popularity_metrics(dataset, (10,))
    print(f"popularity: recall@10 {popular['recall@10']:.4f} ndcg@10 {popular['ndcg@10']:.4f}")
    pairs = dataset.train.tocoo()
    users, items = torch.from_numpy(pairs.row.astype(np.int64)), torch.from_numpy(pairs.col.astype(np.int64))
    user_emb = torch.nn.Parameter(torch.randn(dataset.num_users, args.dim) * 0.1)
    item_emb = torch.nn.Parameter(torch.randn(dataset.num_items, args.dim) * 0.1)
    optimizer = torch.optim.Adam([user_emb, item_emb], lr=args.lr)
    model = MatrixFactorization(args.dim, ())
    for epoch in range(args.epochs):
        for batch in torch.randperm(len(users)).split(4096):
            p, positive = user_emb[users[batch]], item_emb[items[batch]]
            negative = item_emb[torch.randint(0, dataset.num_items, (len(batch),))]
            loss = F.softplus((p * negative).sum(-1) - (p * positive).sum(-1)).mean()
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        metrics = evaluate_users(
            model,
            {ITEM_EMBEDDING: item_emb.detach()},
            np.arange(dataset.num_users),
            user_emb.detach(),
            dataset.train,
            dataset.test,
            (10,),
            (),
        ).metrics()
        print(f"epoch {epoch + 1}: recall@10 {metrics['recall@10']:.4f} ndcg@10 {metrics['ndcg@10']:.4f}", flush=True)


if __name__ == "__main__":
    main()
