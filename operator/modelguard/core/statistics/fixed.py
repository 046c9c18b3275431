"""Fixed-sample tests (A, B) and the sample size they need (C)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from statistics import NormalDist

from modelguard.core.statistics.arms import Arm, Decision, Direction, adjusted, oriented

_NORMAL = NormalDist()


@dataclass(frozen=True)
class ZTest:
    z: float  # (canary - stable) / pooled SE
    p_two_sided: float
    p_worse: float  # one-sided p-value of "the canary is worse" (in `direction`)


def ztest(canary: Arm, stable: Arm, direction: Direction = Direction.DECREASE) -> ZTest:
    """A: pooled two-proportion z-test of H0 p_c = p_s (statsmodels proportions_ztest).

    850/1000 vs 900/1000 gives z = -3.381 and a two-sided p of 0.00072."""
    pooled = (canary.successes + stable.successes) / (canary.total + stable.total)
    se = math.sqrt(pooled * (1 - pooled) * (1 / canary.total + 1 / stable.total))
    diff = canary.rate - stable.rate
    # Both arms all successes or all failures: no evidence either way.
    z = 0.0 if se == 0 else diff / se
    return ZTest(
        z=z,
        p_two_sided=2 * (1 - _NORMAL.cdf(abs(z))),
        p_worse=_NORMAL.cdf(oriented(z, direction)),
    )


@dataclass(frozen=True)
class MarginTest:
    decision: Decision
    estimate: float  # canary - stable
    se: float  # unpooled
    z: float  # oriented: (d + margin) / SE, d negative when worse
    p_worse: float  # H0 "within the margin" rejected when < alpha: Failed
    p_within: float  # H0 "worse by the margin or more" rejected when < alpha: Passed


def margin_test(
    canary: Arm,
    stable: Arm,
    margin: float,
    alpha: float,
    direction: Direction = Direction.DECREASE,
) -> MarginTest:
    """B: the margin (non-inferiority) test with the unpooled SE; Agresti-Caffo when a
    rate is 0 or 1 (statsmodels test_proportions_2indep, method 'wald' with
    value=-margin, or 'agresti-caffo').

    Failed when the canary is worse than the margin at level alpha, Passed when it is
    within it at level alpha, Inconclusive otherwise. One look only: re-checking it as
    data accumulates inflates the false-rollback rate (use E for that)."""
    _check_levels(margin, alpha)
    c, s = adjusted(canary, stable)
    estimate = c.rate - s.rate
    se = math.sqrt(c.variance + s.variance)
    z = (oriented(estimate, direction) + margin) / se
    p_worse = _NORMAL.cdf(z)
    p_within = 1 - p_worse
    if p_worse < alpha:
        decision = Decision.FAILED
    elif p_within < alpha:
        decision = Decision.PASSED
    else:
        decision = Decision.INCONCLUSIVE
    return MarginTest(decision, estimate, se, z, p_worse, p_within)


def sample_size(p1: float, p2: float, alpha: float = 0.05, power: float = 0.8) -> int:
    """C: outcomes per arm for a one-sided level-alpha test to detect p1 -> p2 with the
    given power (0.90 -> 0.88, alpha .05, power .8: 3,026 per arm)."""
    if not (0 < p1 < 1 and 0 < p2 < 1) or p1 == p2:
        raise ValueError("need two different rates strictly between 0 and 1")
    if not (0 < alpha < 1 and 0 < power < 1):
        raise ValueError("alpha and power must be in (0, 1)")
    mean = (p1 + p2) / 2
    root = _NORMAL.inv_cdf(1 - alpha) * math.sqrt(2 * mean * (1 - mean)) + _NORMAL.inv_cdf(
        power
    ) * math.sqrt(p1 * (1 - p1) + p2 * (1 - p2))
    return math.ceil(root**2 / (p1 - p2) ** 2)


def _check_levels(margin: float, alpha: float) -> None:
    if not margin >= 0:
        raise ValueError(f"margin must be >= 0, got {margin}")
    if not 0 < alpha < 0.5:
        raise ValueError(f"alpha must be in (0, 0.5), got {alpha}")
