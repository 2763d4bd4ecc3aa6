"""Attacks on robust aggregation: crafted updates do what their papers say."""

import math

import numpy as np
import pytest
import torch

from app_config import make_config
from attacks.base import AttackerKnowledge, AttackSetup
from attacks.collusion import FangKrum, FangTrim, collude
from attacks.crafting import DistancesAlongLine, DistancesToRows, fang_krum, fang_trim, little_is_enough, min_max
from fedrec.models.ncf import NeuralCF
from fedrec.robust import coordinate_median, krum_scores, trimmed_mean
from fedrec.robust.dense import to_dense
from fedrec.robust.krum import pairwise_squared_distances
from fedrec.updates import UserUpdates


def _benign(n: int = 20, dim: int = 30, seed: int = 0) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return 1.0 + 0.3 * torch.randn(n, dim, generator=generator)  # a clear positive benign direction


def test_fang_krum_update_is_selected_and_points_against_the_benign_direction() -> None:
    # Stochastic gradients: a weak common direction under large per-user noise (Fang's setting;
    # with benign updates clustered far from the origin no crafted update can win Krum).
    generator = torch.Generator().manual_seed(0)
    benign = 0.2 + torch.randn(20, 30, generator=generator)
    crafted = fang_krum(benign, 4, tolerated=4, generator=torch.Generator().manual_seed(1))
    everyone = torch.cat([benign, crafted])
    assert int(torch.argmin(krum_scores(everyone, 4))) >= len(benign), "Krum selects a malicious update"
    assert float((crafted[0] * benign.mean(0)).sum()) < 0


def test_fang_trim_pushes_every_coordinate_past_the_benign_extreme() -> None:
    benign = _benign()
    crafted = fang_trim(benign, 4, full_knowledge=True, generator=torch.Generator().manual_seed(1))
    assert bool((crafted <= benign.min(0).values).all()), "benign direction positive: values go below the min"
    assert bool((crafted >= benign.min(0).values / 2).all()), "within b = 2 of the extreme"
    everyone = torch.cat([benign, crafted])
    for aggregate in (coordinate_median(everyone), trimmed_mean(everyone, 0.2)):
        assert bool((aggregate < coordinate_median(benign)).all())
    partial = fang_trim(benign[:4], 4, full_knowledge=False, generator=torch.Generator().manual_seed(1))
    mean, std = benign[:4].mean(0), benign[:4].std(0, unbiased=False)
    assert bool((partial <= mean - 3 * std + 1e-6).all()) and bool((partial >= mean - 4 * std - 1e-6).all())


def test_lie_shifts_by_z_standard_deviations() -> None:
    benign = _benign(n=50)
    crafted = little_is_enough(benign, 3, round_users=53, malicious_in_round=3)
    supporters = math.floor(53 / 2 + 1) - 3
    from scipy.stats import norm

    z = norm.ppf((53 - supporters) / 53)
    assert torch.allclose(crafted[0], benign.mean(0) - z * benign.std(0, unbiased=False), atol=1e-5)
    assert torch.equal(crafted[0], crafted[2])


def test_min_max_stays_within_the_benign_spread_at_its_largest() -> None:
    benign = _benign()
    crafted = min_max(benign, 2)[0]
    limit = float(pairwise_squared_distances(benign).max().sqrt())
    farthest = float(torch.cdist(crafted[None].double(), benign.double()).max())
    assert farthest <= limit + 1e-4 and farthest > 0.99 * limit
    assert float(((crafted - benign.mean(0)) * benign.std(0)).sum()) < 0


@pytest.mark.parametrize("rows", [10, 25, 26, 60])
def test_distances_to_rows_equal_cdist_bit_for_bit(rows: int) -> None:
    reference = _benign(rows, 300, seed=rows)
    distances = DistancesToRows(reference)
    for gamma in (0.0, 0.37, 1.0, 5.5, 2.0**20):
        vector = reference.mean(0) - gamma * reference.std(0, unbiased=False)
        assert torch.equal(distances.of(vector), torch.cdist(vector[None].double(), reference.double())[0])


def _spread_rows(rows: int, dim: int, scale: float, seed: int) -> torch.Tensor:
    """Rows around a mean of the same order as their spread (gradients), at a given scale."""
    generator = torch.Generator().manual_seed(seed)
    return scale * (0.1 * torch.randn(rows, dim, generator=generator) + 0.03 * torch.randn(dim, generator=generator))


@pytest.mark.parametrize(("rows", "dim", "scale"), [(12, 200, 1.0), (26, 300, 1e-4), (40, 200, 1e2), (60, 3000, 1e-2)])
def test_distances_along_line_bound_the_float32_points_distances(
    rows: int, dim: int, scale: float, monkeypatch: pytest.MonkeyPatch
) -> None:
    reference = _spread_rows(rows, dim, scale, seed=rows)
    mean, direction = reference.mean(0), -reference.std(0, unbiased=False)
    visited: list[float] = []  # the candidates min_max's own search asks about, beside fixed ones
    bounds = DistancesAlongLine.bounds

    def recorded(line: DistancesAlongLine, gamma: float) -> tuple[torch.Tensor, torch.Tensor]:
        visited.append(gamma)
        return bounds(line, gamma)

    monkeypatch.setattr(DistancesAlongLine, "bounds", recorded)
    min_max(reference, 1)
    monkeypatch.undo()
    assert len(visited) > 30
    line, exact = DistancesAlongLine(reference.double(), mean, direction), DistancesToRows(reference)
    for gamma in (0.0, 0.37, 1.0, 5.5, 1234.5, 2.0**20, *visited):
        lowest, highest = line.bounds(gamma)
        distances = exact.of(mean + gamma * direction)
        assert bool((lowest <= distances).all()) and bool((distances <= highest).all())
        assert float((highest - lowest).max()) < 1e-5 * float(distances.max())  # tight enough to decide most steps


@pytest.mark.parametrize(("rows", "dim", "scale"), [(12, 200, 1.0), (26, 300, 1e-4), (40, 200, 1e2), (60, 3000, 1e-2)])
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_min_max_takes_the_steps_of_the_cdist_search(rows: int, dim: int, scale: float, seed: int) -> None:
    """The bounds leave the search as it was: the same γ, bit for bit, as the search written with torch.cdist."""
    reference = _spread_rows(rows, dim, scale, seed)
    mean, direction = reference.mean(0), -reference.std(0, unbiased=False)
    limit = pairwise_squared_distances(reference).max().sqrt()
    farthest = lambda gamma: torch.cdist((mean + gamma * direction)[None].double(), reference.double()).max()  # noqa: E731
    low, high = 0.0, 1.0
    while farthest(high) <= limit and high < 1e12:
        low, high = high, high * 2
    for _ in range(30):
        middle = (low + high) / 2
        low, high = (middle, high) if farthest(middle) <= limit else (low, middle)
    assert torch.equal(min_max(reference, 3), (mean + low * direction).expand(3, -1))


def test_collude_rewrites_only_the_malicious_users() -> None:
    config = make_config(
        attack="fang-krum", attacker_knowledge="full", embedding_dim=2, hidden_layers="2", tolerated_attackers=1
    )
    model = NeuralCF(2, (2,))
    theta = model.init_theta(5, seed=0)
    generator = torch.Generator().manual_seed(0)
    dense = [
        {n: torch.randn(*p.shape, generator=generator) for n, p in theta.items() if n != "item-embedding"}
        for _ in range(6)
    ]
    updates = UserUpdates.from_users(
        list(range(6)),
        [torch.tensor([1, 3])] * 6,
        [1 + 0.1 * torch.randn(2, 2, generator=generator) for _ in range(6)],
        dense,
        [5] * 6,
    )
    attack = FangKrum(AttackSetup(config, model, (0,), 5, AttackerKnowledge()))
    poisoned = collude(attack, updates, np.array([4, 5]), theta, server_round=1)
    assert sorted(poisoned.user_ids.tolist()) == list(range(6))
    before, after = to_dense(updates, theta), to_dense(poisoned, theta)
    order = torch.argsort(poisoned.user_ids)
    assert torch.equal(after[order][:4], before[:4]), "benign updates untouched"
    assert not torch.allclose(after[order][4:], before[4:]), "malicious updates replaced"


@pytest.mark.parametrize("attack", ["fang-krum", "fang-trim", "lie", "min-max", "sign-flip", "gaussian"])
def test_attacks_on_aggregation_take_compromised_clients_by_default(attack: str) -> None:
    from attacks import ATTACKS
    from attacks.threat import attack_mode

    assert attack_mode(make_config(attack=attack), ATTACKS.get(attack)) == "compromised"


def test_the_server_builds_a_collusion_channel_only_for_collusion_attacks() -> None:
    from attacks import ATTACKS, collusion_channel
    from attacks.collusion import CollusionAttack

    knowledge = {"bandwagon": "popularity", "fedrecattack": "public-interactions", "spattack-o": "full"}
    # An attack built for a sequential model is configured on one (it refuses the others).
    sequential = dict(model="sasrec", split="leave-last-out", profile_prompt=True, target_group="gender=F")
    for name in ATTACKS.names():
        extra = sequential if ATTACKS.get(name).sequential else {}
        config = make_config(attack=name, attacker_knowledge=knowledge.get(name, "none"), **extra)
        # The server has no attacker knowledge: building must not need it (FedRecAttack would).
        channel = collusion_channel(AttackSetup(config, NeuralCF(8, (8, 8)), (0,), 10, AttackerKnowledge()))
        assert (channel is not None) == issubclass(ATTACKS.get(name), CollusionAttack), name


def test_fang_trim_against_a_per_item_rule_uses_the_senders_extremes() -> None:
    # Coordinate 0 sent by two users (values 1 and 3), coordinate 1 by nobody, coordinate 2 by all.
    reference = torch.tensor([[1.0, 0.0, 2.0], [3.0, 0.0, 4.0], [0.0, 0.0, 6.0]])
    sent = torch.tensor([[True, False, True], [True, False, True], [False, False, True]])
    crafted = fang_trim(reference, 50, full_knowledge=True, generator=torch.Generator().manual_seed(0), sent=sent)
    assert bool((crafted[:, 0] >= 0.5).all() and (crafted[:, 0] <= 1.0).all()), "below the senders' min 1, within b"
    assert bool((crafted[:, 1] == 0).all()), "nobody sent it: nothing to craft"
    assert bool((crafted[:, 2] >= 1.0).all() and (crafted[:, 2] <= 2.0).all())
    everyone_zeros = fang_trim(reference, 50, full_knowledge=True, generator=torch.Generator().manual_seed(0))
    assert bool((everyone_zeros[:, 0] == 0).all()), "over all users the min is an unsent row's zero"
    # The per-item median of coordinate 0 over its senders + 50 crafted values flips below both senders.
    assert float(torch.cat([reference[:2, 0], crafted[:, 0]]).median()) < 1.0


def test_collude_under_per_item_sends_only_rows_the_benign_users_sent() -> None:
    config = make_config(attack="fang-trim", attacker_knowledge="full", embedding_dim=2, hidden_layers="2")
    model = NeuralCF(2, (2,))
    theta = model.init_theta(6, seed=0)
    generator = torch.Generator().manual_seed(0)
    dense = [
        {n: torch.randn(*p.shape, generator=generator) for n, p in theta.items() if n != "item-embedding"}
        for _ in range(5)
    ]
    items = [torch.tensor([1, 3]), torch.tensor([3, 4]), torch.tensor([1]), torch.tensor([0, 5]), torch.tensor([5])]
    rows = [torch.randn(len(i), 2, generator=generator) for i in items]
    updates = UserUpdates.from_users(list(range(5)), items, rows, dense, [4] * 5)
    attack = FangTrim(AttackSetup(config, model, (0,), 6, AttackerKnowledge()))
    per_item = collude(attack, updates, np.array([3, 4]), theta, server_round=1)
    malicious = per_item.select(torch.isin(per_item.user_ids, torch.tensor([3, 4])))
    assert sorted(set(malicious.item_ids.tolist())) == [1, 3, 4], "the benign users' rows, no others"
    dense_config = make_config(
        attack="fang-trim", attacker_knowledge="full", embedding_dim=2, hidden_layers="2", aggregation="dense"
    )
    dense_rule = collude(
        FangTrim(AttackSetup(dense_config, model, (0,), 6, AttackerKnowledge())), updates, np.array([3, 4]), theta, 1
    )
    benign_rows = 2 + 2 + 1
    assert len(dense_rule.item_ids) == benign_rows + 2 * 6, "dense: each crafted user sends every item row"


def test_min_max_takes_the_cdist_steps_on_subnormal_updates() -> None:
    """float32 rounds subnormals absolutely, not relatively: the bounds carry an absolute term for them."""
    reference = 1e-41 * torch.randn(30, 50, generator=torch.Generator().manual_seed(0))
    mean, direction = reference.mean(0), -reference.std(0, unbiased=False)
    line, exact = DistancesAlongLine(reference.double(), mean, direction), DistancesToRows(reference)
    for gamma in (0.0, 0.5, 1.0, 3.0):
        lowest, highest = line.bounds(gamma)
        distances = exact.of(mean + gamma * direction)
        assert bool((lowest <= distances).all()) and bool((distances <= highest).all())
