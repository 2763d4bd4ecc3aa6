"""Where a seed's sampled HR@10 starts: the starting model's value against its fixed sampled candidates, and the
expectation over every draw of the candidates, which `sampled-candidates = "per-evaluation"` averages towards.

An untrained model's sampled HR@10 is 0.10 in expectation over the initialisation and the candidates. For one seed
the initialisation is fixed, and so is each user's ranking of the items; per user, the test item is a hit when
fewer than K of the N sampled items score above it, so with b of the user's F unseen items above it the chance
over draws of N distinct ones is the hypergeometric P(X < K), X ~ Hypergeom(F, b, N) (ties count for the test item,
as `fedrec.evaluation.sampled` resolves them). The mean over users is the seed's HR@K expected over candidate
draws: what redrawing the candidates cannot move. The model is the app's: `init_theta` and
`init_user_embeddings` of the run config's seed (the same N(0, 0.01^2) rows the ServerApp and nodes start from).

    python -m experiments.probes.sampled_chance --data-dir DIR/ml-100k-loo --seeds 0 1 2 3 4 5 [--out FILE]
"""

from pathlib import Path

import numpy as np
import torch
from scipy.stats import hypergeom

from app_config import make_config
from datasets import load_dataset
from fedrec.evaluation.ranking import evaluate_users
from fedrec.evaluation.sampled import SampledRanking
from fedrec.models.registry import MODELS
from harness.arguments import add_data_dir, one_line_errors, script_parser


def hit_chances(scores: torch.Tensor, train, test, negatives: int, k: int) -> np.ndarray:  # type: ignore[no-untyped-def]
    """Per user with one test item, P(hit@k) over uniform draws of `negatives` distinct unseen items, from the
    users' scores [U, M] of every item (rows of train/test)."""
    chances = []
    for user in range(scores.shape[0]):
        tested = test.indices[test.indptr[user] : test.indptr[user + 1]]
        if len(tested) != 1:
            continue
        seen = np.union1d(train.indices[train.indptr[user] : train.indptr[user + 1]], tested)
        free = np.setdiff1d(np.arange(scores.shape[1]), seen)
        above = int((scores[user, free] > scores[user, tested[0]]).sum())
        drawn = min(negatives, len(free))
        chances.append(hypergeom.cdf(k - 1, len(free), above, drawn))
    return np.array(chances)


def main() -> None:
    parser = script_parser(__spec__.name, __doc__)
    add_data_dir(parser)
    parser.add_argument("--dataset", default="ml-100k-loo")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--dim", type=int, default=32)
    parser.add_argument("--negatives", type=int, default=99)
    parser.add_argument("--out", type=Path, help="also write the table there")
    args = parser.parse_args()
    lines = [
        "| seed | HR@10, fixed candidates | HR@10 expected over candidate draws | one draw's std |",
        "|---|---|---|---|",
    ]
    fixed_values, expected_values = [], []
    with one_line_errors(parser):
        for seed in args.seeds:
            config = make_config(
                dataset=args.dataset, data_dir=args.data_dir, model="mf", embedding_dim=args.dim, seed=seed
            )
            dataset = load_dataset(config)
            model = MODELS.get(config.model)(config.embedding_dim, config.hidden_layers)
            theta = model.init_theta(dataset.num_items, seed)
            users = np.arange(dataset.num_users)
            embeddings = model.init_user_embeddings(users, seed)
            sampled = SampledRanking(args.negatives, seed)
            fixed = evaluate_users(
                model, theta, users, embeddings, dataset.train, dataset.test, (10,), (), sampled
            ).metrics()["sampled-hr@10"]
            with torch.no_grad():
                scores = model.score_all_items(theta, embeddings)
            chances = hit_chances(scores, dataset.train, dataset.test, args.negatives, 10)
            spread = np.sqrt((chances * (1 - chances)).sum()) / len(chances)  # users' draws are independent
            lines.append(f"| {seed} | {fixed:.4f} | {chances.mean():.4f} | {spread:.4f} |")
            print(lines[-1], flush=True)
            fixed_values.append(fixed)
            expected_values.append(chances.mean())
    if len(args.seeds) > 1:
        over = [f"{np.mean(values):.4f} ± {np.std(values, ddof=1):.4f}" for values in (fixed_values, expected_values)]
        lines.append(f"| mean ± std over the {len(args.seeds)} seeds | {over[0]} | {over[1]} | |")
        print(lines[-1])
    table = "\n".join(lines)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        command = (
            f"python -m experiments.probes.sampled_chance --data-dir DIR/{args.dataset} "
            f"--seeds {' '.join(map(str, args.seeds))}"
        )
        args.out.write_text(
            f"Starting model (epoch 0) of `{args.dataset}`, MF dim {args.dim}, {args.negatives} sampled items; "
            f"`{command}`.\n\n{table}\n"
        )
        print(f"-> {args.out}")


if __name__ == "__main__":
    main()
