"""Crafting malicious updates against (robust) aggregation, on whole update vectors.

Everything here lives in the space of uploaded gradients g: the server steps Θ <- Θ - lr * agg, so
the benign change of Θ points along -mean(g). `reference` [b, D] holds the updates the attacker
knows: the round's benign updates under full knowledge, or its own clients' honest updates under
partial knowledge. Each function returns [m, D] malicious updates.

- Fang et al. (USENIX Security 2020), Krum attack: g_1 = -λ s with s = sign(mean(reference)),
  λ halved from the paper's upper bound until Krum picks a malicious update; the other malicious
  users send g_1 plus a tiny perturbation so that g_1 has close neighbours.
- Fang et al., trimmed-mean/median attack: per coordinate, values beyond the benign extreme on the
  side opposite to the benign direction: full knowledge, uniform between the extreme and b times it
  (b = 2); partial knowledge, uniform in μ ∓ [3σ, 4σ] of the attacker's own honest updates.
- Gaussian noise N(0, variance) (Fang's baseline, variance 200); sign flipping (-own update);
- LIE, "A Little Is Enough" (Baruch et al., NeurIPS 2019): μ - z_max σ with z_max from n and f;
- Min-Max (Shejwalkar & Houmansadr, NDSS 2021): μ + γ p, p = -σ, the largest γ whose update is no
  farther from any reference update than the reference updates are from each other.
"""

import math
from statistics import NormalDist

import torch

from fedrec.robust.krum import AppendedRowsDistances, pairwise_squared_distances, scores_from_distances

FANG_B = 2.0
_KRUM_LAMBDA_FLOOR = 1e-5


def gaussian(shape: tuple[int, int], variance: float, generator: torch.Generator) -> torch.Tensor:
    return torch.randn(*shape, generator=generator) * math.sqrt(variance)


def sign_flip(own_honest: torch.Tensor) -> torch.Tensor:
    return -own_honest


def little_is_enough(reference: torch.Tensor, count: int, round_users: int, malicious_in_round: int) -> torch.Tensor:
    """μ - z σ (coordinate-wise over the reference), z = Φ^-1((n - s) / n), s = floor(n/2 + 1) - f."""
    supporters = math.floor(round_users / 2 + 1) - malicious_in_round
    z = NormalDist().inv_cdf((round_users - supporters) / round_users)
    crafted = reference.mean(0) - z * reference.std(0, unbiased=False)
    return crafted.expand(count, -1).clone()


def min_max(reference: torch.Tensor, count: int, iterations: int = 30) -> torch.Tensor:
    """μ + γ (-σ) with γ maximal s.t. max_i ||crafted - ref_i|| <= max_ij ||ref_i - ref_j|| (binary search).

    Each candidate is judged on its float32 point (μ + γ (-σ), as crafted) by its distances in double
    (DistancesToRows, equal to torch.cdist's). DistancesAlongLine bounds those distances at a fraction
    of the cost; where the bounds settle the comparison they decide, elsewhere the point's own
    distances do: the search takes the same steps as with cdist at every candidate.
    """
    mean, direction = reference.mean(0), -reference.std(0, unbiased=False)
    as_double = reference.double()  # converted once: every helper below takes rows in double as they are
    limit = float(pairwise_squared_distances(as_double).max().sqrt())
    line = DistancesAlongLine(as_double, mean, direction)
    rows: DistancesToRows | None = None

    def within(gamma: float) -> bool:
        nonlocal rows
        lowest, highest = line.bounds(gamma)
        if highest.max() <= limit:
            return True
        if lowest.max() > limit:
            return False
        rows = rows or DistancesToRows(as_double)
        return float(rows.of(mean + gamma * direction).max()) <= limit

    low, high = 0.0, 1.0
    while within(high) and high < 1e12:
        low, high = high, high * 2
    for _ in range(iterations):
        middle = (low + high) / 2
        low, high = (middle, high) if within(middle) else (low, middle)
    return (mean + low * direction).expand(count, -1).clone()


class DistancesAlongLine:
    """Bounds on the distances (in double) of the float32 point o + γ·d to fixed rows, for any γ.

    Min-Max's search asks for ~60 candidates on one line. The exact point's squared distances are a
    quadratic in γ, ||o - r_i||² + 2γ<d, o - r_i> + γ²||d||², with coefficients computed once per round;
    a candidate then costs one operation per row instead of a pass over the [rows, D] matrix (243 x 41k
    doubles on a Steam round). What DistancesToRows returns for the float32 point differs from these by
    at most the point's rounding (two roundings per coordinate, within 2^-23 (|o| + |γd|) in norm, taken
    twice; plus 2^-149 per coordinate where float32 values are subnormal, whose rounding is absolute) plus
    the double rounding of both sums of D products (within D 2^-53 (|x|² + |y|²) of a squared
    distance each, taken 100-fold), so the search needs the point's own distances only where the limit
    falls between the bounds: on a Steam round, its last dozen candidates of ~60.
    """

    def __init__(self, rows: torch.Tensor, origin: torch.Tensor, direction: torch.Tensor) -> None:
        offsets = origin.double()[None] - rows.double()
        step = direction.double()
        self._constant = offsets.pow(2).sum(-1)
        self._linear = 2 * offsets.matmul(step)
        self._quadratic = step.pow(2).sum()
        self._origin_norm = float(origin.double().norm())
        self._step_norm = float(step.norm())
        self._row_squares = rows.double().pow(2).sum(-1)
        self._dimension = rows.shape[1]

    def bounds(self, gamma: float) -> tuple[torch.Tensor, torch.Tensor]:
        """Per row, a lower and an upper bound of DistancesToRows' distance of the float32 point."""
        squared = (self._constant + gamma * self._linear + gamma**2 * self._quadratic).clamp_min(0)
        distance = squared.sqrt()
        point_norm = self._origin_norm + abs(gamma) * self._step_norm
        rounding = 2.0**-22 * point_norm + 3 * math.sqrt(self._dimension) * 2.0**-149  # float32 subnormals: absolute
        summing = 100 * self._dimension * 2.0**-53 * (point_norm**2 + self._row_squares)
        summing_in_distance = torch.minimum(summing.sqrt(), summing / distance)
        margin = rounding + summing_in_distance
        return distance - margin, distance + margin


class DistancesToRows:
    """Euclidean distances (in double) of one vector to fixed rows, equal bit for bit to
    `torch.cdist(vector[None].double(), rows.double())[0]`, the row-side terms computed once.

    Min-Max's search asks for the distances of ~60 candidate vectors to the same rows. torch.cdist
    rebuilds its row-side matrix at every call, which on a Steam round (243 rows of 41k coordinates)
    was most of the attack's 11 s. The matrix below is cdist's own for more than 25 rows (ATen's
    `_euclidean_dist`: [-2x, |x|², 1] @ [y, 1, |y|²]ᵀ, clamped at 0, square-rooted), so the search takes
    the same steps as before; with 25 rows or fewer cdist subtracts directly, and so does this.
    """

    _MM_ABOVE = 25  # cdist's default compute mode multiplies matrices when either side has more rows

    def __init__(self, rows: torch.Tensor) -> None:
        self._rows = rows.double()
        self._by_product = len(rows) > self._MM_ABOVE
        if self._by_product:
            ones = torch.ones(len(rows), 1, dtype=torch.float64)
            self._augmented = torch.cat([self._rows, ones, self._rows.pow(2).sum(-1, keepdim=True)], 1)

    def of(self, vector: torch.Tensor) -> torch.Tensor:
        point = vector[None].double()
        if not self._by_product:
            return torch.cdist(point, self._rows)[0]
        ones = torch.ones(1, 1, dtype=torch.float64)
        augmented = torch.cat([-2 * point, point.pow(2).sum(-1, keepdim=True), ones], 1)
        return augmented.matmul(self._augmented.mT).clamp_min(0).sqrt()[0]


def _masked_stats(reference: torch.Tensor, sent: torch.Tensor) -> dict[str, torch.Tensor]:
    """Per-coordinate min, max, mean and std over the users who sent each coordinate."""
    count = sent.sum(0).clamp(min=1)
    mean = torch.where(sent, reference, 0.0).sum(0) / count
    variance = torch.where(sent, (reference - mean) ** 2, 0.0).sum(0) / count
    return {
        "min": torch.where(sent, reference, float("inf")).min(0).values,
        "max": torch.where(sent, reference, float("-inf")).max(0).values,
        "mean": mean,
        "std": variance.sqrt(),
    }


def fang_trim(
    reference: torch.Tensor,
    count: int,
    full_knowledge: bool,
    generator: torch.Generator,
    sent: torch.Tensor | None = None,
) -> torch.Tensor:
    """Fang's attack on trimmed mean and median: push every coordinate past the benign extreme.

    `sent` [b, D] (bool) restricts each coordinate's statistics to the reference users who sent it,
    which is what a per-item rule aggregates; coordinates nobody sent come out as zeros.
    """
    sent = torch.ones_like(reference, dtype=torch.bool) if sent is None else sent
    stats = _masked_stats(reference, sent)
    uniform = torch.rand(count, reference.shape[1], generator=generator)
    direction = torch.sign(stats["mean"])
    if full_knowledge:
        smallest, largest = stats["min"], stats["max"]
        below = torch.where(smallest > 0, smallest / FANG_B, smallest * FANG_B)  # an interval under the min
        above = torch.where(largest > 0, largest * FANG_B, largest / FANG_B)  # an interval over the max
        low = torch.where(direction > 0, below, largest)
        high = torch.where(direction > 0, smallest, above)
    else:
        mean, std = stats["mean"], stats["std"]
        low = torch.where(direction > 0, mean - 4 * std, mean + 3 * std)
        high = torch.where(direction > 0, mean - 3 * std, mean + 4 * std)
    crafted = low + uniform * (high - low)
    return torch.where(sent.any(0), crafted, 0.0)


def fang_krum(
    reference: torch.Tensor,
    count: int,
    tolerated: int,
    generator: torch.Generator,
) -> torch.Tensor:
    """Fang's attack on Krum: the largest λ (halving from the paper's bound) that Krum still selects."""
    benign, dim = reference.shape[0], reference.shape[1]
    total = benign + count
    direction = torch.sign(reference.mean(0))
    neighbours = max(1, min(total - count - 2, benign - 1))
    candidates = AppendedRowsDistances(reference)
    distances = candidates.fixed_block.sqrt()
    distances.fill_diagonal_(float("inf"))
    closest_sum = (
        torch.topk(distances, neighbours, dim=1, largest=False).values.sum(1) if benign > 1 else torch.zeros(1)
    )
    lam = float(closest_sum.min()) / (max(total - 2 * count - 1, 1) * math.sqrt(dim)) + float(
        reference.norm(dim=1).max()
    ) / math.sqrt(dim)
    jitter = torch.randn(count, dim, generator=generator) * 1e-6
    while True:
        crafted = -lam * direction + jitter
        crafted[0] = -lam * direction
        krum_pick = int(torch.argmin(scores_from_distances(candidates.with_rows(crafted), tolerated)))
        if krum_pick >= benign or lam < _KRUM_LAMBDA_FLOOR:
            return crafted
        lam /= 2
