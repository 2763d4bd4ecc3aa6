"""How much A-hum's hard user mining changes what an A-ra attacker would upload (issue 13's question).

    python -m experiments.probes.mining_probe [--seed 20220110] [--items 3706] [--target 1805]

On Θ as the run initialises it (NCF, the paper's setting), draws the attacker's n approximated users
p̂ ~ N(0, σ²), mines them (β steps of lr ξ on -log(1 - Υ(p̂, q_t))) as attacks/approximated_users.py
does, and prints how far mining moved p̂ (relative to |p̂|), the target's mean logit before and after,
and the relative differences between the poisoned gradients of the target row and of the MLP
computed on mined and unmined users. Small differences mean A-hum uploads almost what A-ra uploads.
"""

import torch
import torch.nn.functional as F

from app_config import make_config
from fedrec.models.base import ITEM_EMBEDDING, dense_names
from fedrec.models.registry import build_model
from harness.arguments import script_parser


def poisoned_gradient(model, theta, users: torch.Tensor, target: int) -> torch.Tensor:  # noqa: ANN001
    """The flat gradient (target row, then MLP) of (1/n) Σ_j -log Υ(p̂_j, q_t)."""
    row = theta[ITEM_EMBEDDING][target : target + 1].clone().requires_grad_()
    dense = {name: theta[name].clone().requires_grad_() for name in dense_names(theta)}
    logits = model.logits(dense, users, row.unsqueeze(1).expand_as(users))
    grads = torch.autograd.grad(F.softplus(-logits).sum() / users.shape[1], [row, *dense.values()])
    return torch.cat([g.flatten() for g in grads])


def main() -> None:
    parser = script_parser(__spec__.name, __doc__)
    parser.add_argument("--seed", type=int, default=20220110)
    parser.add_argument("--items", type=int, default=3706)
    parser.add_argument("--target", type=int, default=1805)
    args = parser.parse_args()
    config = make_config(dataset="synthetic", attack="a-hum")
    model = build_model(config)
    theta = model.init_theta(args.items, args.seed)
    generator = torch.Generator().manual_seed(args.seed)
    start = torch.randn(1, config.attack_samples, config.embedding_dim, generator=generator) * config.attack_sigma
    dense = {name: theta[name] for name in dense_names(theta)}
    target_rows = theta[ITEM_EMBEDDING][args.target : args.target + 1].unsqueeze(1).expand_as(start)
    users = start.clone()
    for _ in range(config.hum_steps):  # the mining loop of attacks/approximated_users.py
        users.requires_grad_()
        (grad,) = torch.autograd.grad(F.softplus(model.logits(dense, users, target_rows)).sum(), [users])
        users = (users - config.hum_lr * grad).detach()
    moved = (users - start).norm(dim=-1).mean() / start.norm(dim=-1).mean()
    before, after = (model.logits(dense, u, target_rows).mean().item() for u in (start, users))
    unmined, mined = (
        poisoned_gradient(model, theta, start, args.target),
        poisoned_gradient(model, theta, users, args.target),
    )
    print(f"mining moved p̂ by {moved:.3f} of |p̂| ({config.hum_steps} steps, lr {config.hum_lr})")
    print(f"target logit: {before:+.5f} before, {after:+.5f} after mining")
    dim = config.embedding_dim
    for part, rows in (("target row", slice(0, dim)), ("MLP", slice(dim, None))):
        difference = (mined[rows] - unmined[rows]).norm() / unmined[rows].norm()
        print(f"poisoned gradient of the {part}, mined vs unmined: relative difference {difference:.4f}")


if __name__ == "__main__":
    main()
