"""Noise calibration and privacy accounting of the local-DP defense (privacy/ldp.py).

Per round, the Gaussian noise comes from the analytic Gaussian mechanism (Balle & Wang, ICML 2018,
Theorem 8): the smallest σ for which N(0, σ²) added to a query of L2 sensitivity Δ is (ε, δ)-DP,
valid for every ε > 0. The classic σ = Δ·sqrt(2 ln(1.25/δ))/ε holds only for ε < 1 and is always
larger, so it is not used. Both the condition and σ/Δ depend on ε and δ only, so σ = Δ · s(ε, δ).

Over a run, each user uploads once per epoch, so its uploads are `epochs` adaptive compositions.
Gaussian: Rényi DP (Mironov, CSF 2017). One release with σ = sΔ has ε_RDP(α) = α/(2s²); T releases
compose to ρα with ρ = T/(2s²); the standard conversion gives ε = ρα + ln(1/δ)/(α−1) for any α > 1.
That is minimised exactly at α = 1 + sqrt(ln(1/δ)/ρ), so ε = ρ + 2·sqrt(ρ ln(1/δ)); no grid of
orders is needed. Laplace (pure ε-DP per round): basic composition, T·ε.

Done by hand rather than with Google's `dp-accounting` (which needs no TensorFlow): it pins
`attrs<24`, which would downgrade the `attrs` 26 that Ray's `jsonschema` brings into this
environment, and it adds `dm-tree`, a native package, for formulas that are a few lines here.
"""

import math
from dataclasses import dataclass
from functools import lru_cache

from scipy.optimize import brentq
from scipy.special import log_ndtr, ndtr

MECHANISMS = ("gaussian", "laplace")


@dataclass(frozen=True)
class PrivacyBudget:
    """An (ε, δ) guarantee; δ = 0 for pure ε-DP."""

    epsilon: float
    delta: float


def gaussian_delta(noise_multiplier: float, epsilon: float) -> float:
    """The exact δ at which N(0, (sΔ)²) noise on a query of sensitivity Δ is (ε, δ)-DP, s = `noise_multiplier`.

    Balle & Wang's Theorem 8: δ = Φ(1/(2s) − εs) − e^ε Φ(−1/(2s) − εs). The second term is taken
    through log Φ so that e^ε does not overflow for large ε.
    """
    s = noise_multiplier
    return float(ndtr(1 / (2 * s) - epsilon * s) - math.exp(epsilon + log_ndtr(-1 / (2 * s) - epsilon * s)))


@lru_cache(maxsize=64)
def gaussian_noise_multiplier(epsilon: float, delta: float) -> float:
    """s = σ/Δ of the analytic Gaussian mechanism: the root of `gaussian_delta(s, ε) = δ`.

    δ(s) falls from 1 (s → 0) to 0 (s → ∞), so the root is bracketed by doubling the upper end.
    """
    if epsilon <= 0 or not 0 < delta < 1:
        raise ValueError(f"need epsilon > 0 and 0 < delta < 1, got epsilon={epsilon}, delta={delta}")
    low, high = 1e-6, 1.0
    while gaussian_delta(high, epsilon) > delta:
        low, high = high, 2 * high
    return float(brentq(lambda s: gaussian_delta(s, epsilon) - delta, low, high, xtol=1e-14, rtol=1e-12))


def gaussian_rdp_epsilon(noise_multiplier: float, compositions: int, delta: float) -> float:
    """ε at `delta` of `compositions` Gaussian releases with σ/Δ = `noise_multiplier`, by Rényi DP.

    ε_RDP(α) = ρα with ρ = T/(2s²); the (ε, δ) bound ρα + ln(1/δ)/(α−1), minimised over α > 1 in
    closed form (at α = 1 + sqrt(ln(1/δ)/ρ)).
    """
    rho = compositions / (2 * noise_multiplier**2)
    return rho + 2 * math.sqrt(rho * math.log(1 / delta))


def ldp_epsilon_over_run(mechanism: str, epsilon: float, delta: float, epochs: int) -> PrivacyBudget:
    """A user's guarantee over the run: it uploads once per epoch, each upload (ε, δ)-LDP (δ unused by Laplace).

    Gaussian: Rényi-DP composition of the `epochs` releases, stated at the same δ. The conversion
    from RDP is lossy: for 1 epoch it gives more than ε; it wins over basic composition (which
    would also grow δ to epochs·δ) after a few epochs. Laplace: basic composition, (epochs·ε, 0).
    """
    if mechanism == "gaussian":
        return PrivacyBudget(gaussian_rdp_epsilon(gaussian_noise_multiplier(epsilon, delta), epochs, delta), delta)
    if mechanism == "laplace":
        return PrivacyBudget(epochs * epsilon, 0.0)
    raise ValueError(f"unknown mechanism {mechanism!r}; valid: {', '.join(MECHANISMS)}")
