"""D: the normal mixture SPRT (Johari, Pekelis and Walsh, "Always Valid Inference",
arXiv 1512.04922; Optimizely's Stats Engine), one-sided against a margin."""

from __future__ import annotations

import math
from dataclasses import dataclass

from modelguard.core.statistics.arms import Arm, Direction, adjusted, oriented
from modelguard.core.statistics.fixed import _check_levels


@dataclass(frozen=True)
class Msprt:
    statistic: float  # the mixture likelihood ratio Lambda_n
    p_value: float  # min(1, 1/Lambda_n) at this look; keep the running minimum across looks
    reject: bool  # worse than the margin: Lambda_n >= 1/alpha with the estimate past it


def msprt(
    canary: Arm,
    stable: Arm,
    tau: float,
    alpha: float = 0.05,
    margin: float = 0.0,
    direction: Direction = Direction.DECREASE,
) -> Msprt:
    """D: Lambda = sqrt(V / (V + tau^2)) * exp(tau^2 (d - theta0)^2 / (2 V (V + tau^2))),
    H0: the oriented difference d >= theta0 = -margin. Reject (roll back) the first time
    Lambda >= 1/alpha while d < theta0, which is conservative at alpha. tau is the prior
    sd of the effect: set it near the effect you care about (e.g. 0.02)."""
    _check_levels(margin, alpha)
    if not tau > 0:
        raise ValueError("tau must be > 0")
    c, s = adjusted(canary, stable)
    v = c.variance + s.variance
    d = oriented(c.rate - s.rate, direction)
    t2 = tau * tau
    exponent = t2 * (d + margin) ** 2 / (2 * v * (v + t2))
    # exp overflows near 710; the statistic is then far beyond any 1/alpha anyway.
    statistic = math.sqrt(v / (v + t2)) * math.exp(min(exponent, 700.0))
    return Msprt(statistic, min(1.0, 1 / statistic), statistic >= 1 / alpha and d < -margin)
