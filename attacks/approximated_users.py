"""A-ra and A-hum ("Poisoning Deep Learning Based Recommender Model in Federated Learning Scenarios",
Rong et al., IJCAI 2022).

The attacker cannot see benign users' embeddings, so it approximates them: n samples
p̂_j ~ N(0, σ²) per target item (A-ra, Sec. 3.1). A-hum (Sec. 3.2) first moves each sample towards
a *hard user* of its target, one who dislikes it, by β gradient steps (lr ξ) on
l_i(p) = -log(1 - Υ(p, q_i)). Each malicious client then uploads the gradient of
L̃ = (1/n) Σ_{i ∈ targets} Σ_j -log Υ(p̂_j, q_i) with respect to the target items' embeddings and
the MLP, unscaled (paper defaults: n = 10, σ = 0.01, β = 30, ξ = 0.001).
"""

import torch
import torch.nn.functional as F

from attacks.base import Attack, AttackRound
from fedrec.models.base import ITEM_EMBEDDING, dense_names
from fedrec.settings import Setting
from fedrec.training.local import LocalResult
from fedrec.updates import UserUpdates

_APPROXIMATION_STREAM = 0x4152

ATTACK_SAMPLES = Setting("attack-samples", int, "n: approximated users per target item.", minimum=1)
ATTACK_SIGMA = Setting("attack-sigma", float, "sigma: std of the approximated user embeddings.", minimum=0.0)
HUM_STEPS = Setting("hum-steps", int, "beta: gradient steps of hard user mining.", minimum=0)
HUM_LR = Setting("hum-lr", float, "Learning rate of hard user mining.", minimum=0.0)


class RandomApproximation(Attack):
    """A-ra: poisoned gradients computed on randomly approximated users."""

    settings = (ATTACK_SAMPLES, ATTACK_SIGMA)

    def approximated_users(self, attack_round: AttackRound, user: int, target_emb: torch.Tensor) -> torch.Tensor:
        """[T, n, d] approximated embeddings, n per target item."""
        rng = self.rng(_APPROXIMATION_STREAM, attack_round.epoch, user)
        shape = (len(self.targets), self.config.attack_samples, self.config.embedding_dim)
        return torch.from_numpy(rng.normal(0.0, self.config.attack_sigma, size=shape)).float()

    def poison(self, attack_round: AttackRound) -> LocalResult:
        theta = attack_round.theta
        names = dense_names(theta)
        targets = torch.from_numpy(self.targets)
        rows, dense, counts = [], [], []
        for user in attack_round.user_ids:
            target_emb = theta[ITEM_EMBEDDING][targets].clone().requires_grad_()
            dense_params = {name: theta[name].clone().requires_grad_() for name in names}
            users = self.approximated_users(attack_round, int(user), target_emb.detach())
            paired_items = target_emb.unsqueeze(1).expand_as(users)
            logits = self.model.logits(dense_params, users, paired_items)  # [T, n]
            loss = F.softplus(-logits).sum() / self.config.attack_samples  # -log sigmoid = softplus(-z)
            grads = torch.autograd.grad(loss, [target_emb, *dense_params.values()])
            rows.append(grads[0])
            dense.append(dict(zip(names, grads[1:])))
            counts.append(users.shape[0] * users.shape[1])
        updates = UserUpdates.from_users(attack_round.user_ids.tolist(), [targets] * len(rows), rows, dense, counts)
        # Fake users own no embedding worth training: theirs stays where it is.
        return LocalResult(updates, torch.zeros_like(attack_round.user_emb), torch.zeros(len(rows)))


class HardUserMining(RandomApproximation):
    """A-hum: the approximated users are first mined towards users who dislike each target."""

    settings = (*RandomApproximation.settings, HUM_STEPS, HUM_LR)

    def approximated_users(self, attack_round: AttackRound, user: int, target_emb: torch.Tensor) -> torch.Tensor:
        users = super().approximated_users(attack_round, user, target_emb)
        dense = {name: attack_round.theta[name] for name in dense_names(attack_round.theta)}
        paired_items = target_emb.unsqueeze(1).expand_as(users)
        for _ in range(self.config.hum_steps):
            users.requires_grad_()
            # l_i(p) = -log(1 - sigmoid(z)) = softplus(z); each sample descends its own loss.
            loss = F.softplus(self.model.logits(dense, users, paired_items)).sum()
            (grad,) = torch.autograd.grad(loss, [users])
            users = (users - self.config.hum_lr * grad).detach()
        return users
