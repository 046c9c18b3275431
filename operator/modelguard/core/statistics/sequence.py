"""E: the always-valid confidence-sequence gate, and how many samples it still needs.

The confidence sequence of Waudby-Smith et al. (2023, arXiv 2103.06476, eq. 161) in the
form GrowthBook ships: an interval around canary - stable that holds at every look at
once with probability 1 - alpha, so re-checking it every interval does not inflate the
false-rollback rate the way a re-checked z-test does. It is tightest near
`expected_samples` outcomes (both arms together) and only slowly wider elsewhere.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from modelguard.core.statistics.arms import Arm, Decision, Direction, adjusted, oriented
from modelguard.core.statistics.fixed import _check_levels

# Beyond this many outcomes "never at the current estimate" is the honest answer.
_MAX_SAMPLES = 1e15


def rho(alpha: float, expected_samples: float) -> float:
    """E: the mixture's tuning, rho = sqrt((-2 ln a + ln(-2 ln a + 1)) / N)."""
    if expected_samples <= 0:
        raise ValueError("expected_samples must be > 0")
    two_log = -2 * math.log(alpha)
    return math.sqrt((two_log + math.log(two_log + 1)) / expected_samples)


def halfwidth(s2: float, n: float, rho_: float, alpha: float) -> float:
    """E: the half-width after n outcomes (both arms) with per-outcome variance s2:
    sqrt(s2) * sqrt(2(n rho^2 + 1) ln(sqrt(n rho^2 + 1) / a) / (n rho)^2)."""
    nr2 = n * rho_ * rho_
    return math.sqrt(s2) * math.sqrt(
        2 * (nr2 + 1) * math.log(math.sqrt(nr2 + 1) / alpha) / (n * rho_) ** 2
    )


@dataclass(frozen=True)
class SequentialTest:
    decision: Decision
    estimate: float  # canary - stable
    lower: float  # the confidence sequence's bounds on canary - stable
    upper: float
    halfwidth: float
    # More outcomes each arm needs for a decision, estimated at the current effect and
    # variance (see samples_needed); 0 when decided; None when no finite number would
    # decide at the current estimate (it sits on the margin).
    canary_needed: int | None
    stable_needed: int | None


def confidence_sequence(
    canary: Arm,
    stable: Arm,
    margin: float,
    alpha: float = 0.05,
    expected_samples: float = 10_000,
    direction: Direction = Direction.DECREASE,
) -> SequentialTest:
    """E: Failed when the whole interval is worse than the margin, Passed when the whole
    interval is better than it (non-inferiority; needs margin > 0 to ever pass an
    A/A), Inconclusive while it straddles it.

    SE is unpooled as in B, Agresti-Caffo adjusted when a rate is 0 or 1 (10/10 vs
    20/20 must not look certain); the estimate and bounds are then those of the
    adjusted rates."""
    _check_levels(margin, alpha)
    c, s = adjusted(canary, stable)
    n = c.total + s.total
    s2 = (c.variance + s.variance) * n
    r = rho(alpha, expected_samples)
    hw = halfwidth(s2, n, r, alpha)
    estimate = c.rate - s.rate
    good = oriented(estimate, direction)
    if good + hw < -margin:
        decision = Decision.FAILED
    elif good - hw > -margin:
        decision = Decision.PASSED
    else:
        decision = Decision.INCONCLUSIVE
    needed = _needed(abs(good + margin), s2, n, r, alpha, decision)
    if needed is None:
        canary_needed = stable_needed = None
    else:
        # Both arms grow in their current ratio (a canary at 5% stays at 5%).
        canary_needed = max(0, math.ceil(needed * c.total / n - c.total))
        stable_needed = max(0, math.ceil(needed * s.total / n - s.total))
    return SequentialTest(
        decision,
        estimate,
        estimate - hw,
        estimate + hw,
        hw,
        canary_needed,
        stable_needed,
    )


def samples_to_decide(gap: float, s2: float, n: float, rho_: float, alpha: float) -> float | None:
    """The least total n' >= n whose half-width is below `gap`, the distance of the
    estimate from the margin: how long the sequence needs if the estimate and the
    per-outcome variance s2 stay what they are now. That is an estimate, not a
    promise: both move as data arrive, and an estimate close to the margin needs
    without bound (None when even 1e15 outcomes would not do).

    The half-width falls monotonically in n (as sqrt(log n / n) for large n), so an
    exponential search then a bisection finds it in ~100 evaluations."""
    if gap <= 0:
        return None
    if halfwidth(s2, n, rho_, alpha) < gap:
        return n
    low, high = n, 2 * n
    while halfwidth(s2, high, rho_, alpha) >= gap:
        low, high = high, 2 * high
        if high > _MAX_SAMPLES:
            return None
    while high - low > 1:
        mid = (low + high) / 2
        if halfwidth(s2, mid, rho_, alpha) < gap:
            high = mid
        else:
            low = mid
    return math.ceil(high)


def _needed(
    gap: float, s2: float, n: float, rho_: float, alpha: float, decision: Decision
) -> float | None:
    if decision is not Decision.INCONCLUSIVE:
        return n
    if s2 == 0:
        return None
    return samples_to_decide(gap, s2, n, rho_, alpha)
