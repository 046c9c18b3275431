"""The statistics core against the reference's worked numbers (section 2.4) and its
invariants."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from modelguard.core.statistics import (
    Arm,
    Decision,
    Direction,
    confidence_sequence,
    halfwidth,
    margin_test,
    msprt,
    rho,
    sample_size,
    ztest,
)
from modelguard.core.statistics.sequence import samples_to_decide

C850, S900 = Arm(850, 1000), Arm(900, 1000)


def test_pooled_ztest_matches_the_worked_example() -> None:
    # A: 850/1000 vs 900/1000 -> z = -3.381, two-sided p = 0.00072 (statsmodels 0.15).
    result = ztest(C850, S900)
    assert result.z == pytest.approx(-3.381, abs=5e-4)
    assert result.p_two_sided == pytest.approx(0.00072, abs=5e-6)
    assert result.p_worse == pytest.approx(result.p_two_sided / 2)
    # Increase: a lower canary rate is the good direction.
    assert ztest(C850, S900, Direction.INCREASE).p_worse == pytest.approx(1 - result.p_worse)


def test_sample_size_matches_the_worked_example() -> None:
    # C: 0.90 -> 0.88, one-sided alpha .05, power .8 -> 3,026 per arm.
    assert sample_size(0.90, 0.88) == 3026
    assert sample_size(0.88, 0.90) == 3026
    # Two-sided .05 (one-sided .025) -> 3,841 per arm.
    assert sample_size(0.90, 0.88, alpha=0.025) == 3841


def test_margin_test_numbers() -> None:
    # B by hand: SE = sqrt(.85*.15/1000 + .9*.1/1000) = 0.014748,
    # z = (-0.05 + 0.02) / SE = -2.0342, p = Phi(z) = 0.02097 < .05: Failed.
    result = margin_test(C850, S900, margin=0.02, alpha=0.05)
    assert result.se == pytest.approx(0.014748, abs=1e-6)
    assert result.z == pytest.approx(-2.0342, abs=1e-4)
    assert result.p_worse == pytest.approx(0.02097, abs=1e-5)
    assert result.decision is Decision.FAILED
    # Tighter alpha: the same evidence is not enough.
    assert margin_test(C850, S900, 0.02, 0.01).decision is Decision.INCONCLUSIVE
    # 900/1000 vs 900/1000 within a 0.03 margin: z = 0.03 / 0.013416 = 2.236, Passed.
    same = margin_test(Arm(900, 1000), Arm(900, 1000), 0.03, 0.05)
    assert same.z == pytest.approx(2.2361, abs=1e-4)
    assert same.decision is Decision.PASSED


def test_margin_test_uses_agresti_caffo_for_degenerate_rates() -> None:
    # 20/20 vs 19/20: plug-in SE would use p(1-p) = 0 for the canary arm; adjusted to
    # 21/22 vs 20/22, the SE is sqrt(2 * (21*1 + 20*2) ... ) computed as below.
    result = margin_test(Arm(20, 20), Arm(19, 20), 0.02, 0.05)
    c, s = 21 / 22, 20 / 22
    assert result.estimate == pytest.approx(c - s)
    assert result.se == pytest.approx(math.sqrt(c * (1 - c) / 22 + s * (1 - s) / 22))
    assert result.decision is Decision.INCONCLUSIVE


def test_rho_and_halfwidth_match_growthbook_eq_161() -> None:
    two_log = -2 * math.log(0.05)
    assert rho(0.05, 10_000) == pytest.approx(math.sqrt((two_log + math.log(two_log + 1)) / 1e4))
    # At n = N the mixture is tightest: rho^2 N = two_log + ln(two_log + 1).
    r = rho(0.05, 10_000)
    nr2 = 10_000 * r * r
    expected = math.sqrt(0.18) * math.sqrt(
        2 * (nr2 + 1) * math.log(math.sqrt(nr2 + 1) / 0.05) / (10_000 * r) ** 2
    )
    assert halfwidth(0.18, 10_000, r, 0.05) == pytest.approx(expected)
    assert halfwidth(0.18, 10_000, r, 0.05) == pytest.approx(0.0129, abs=1e-4)


# (canary, stable, margin, direction, decision) for the confidence-sequence gate (E).
VERDICTS = [
    # 850/1000 vs 900/1000: the interval [-0.0996, -0.0004] straddles -0.02.
    (C850, S900, 0.02, Direction.DECREASE, Decision.INCONCLUSIVE),
    # The same rates on 5x the data: [-0.072, -0.028] is all below -0.02.
    (Arm(4250, 5000), Arm(4500, 5000), 0.02, Direction.DECREASE, Decision.FAILED),
    # Equal rates on 5,000 per arm: [-0.018, 0.018] is all above -0.02.
    (Arm(4500, 5000), Arm(4500, 5000), 0.02, Direction.DECREASE, Decision.PASSED),
    # Error rates: the canary errs 15% vs 10% -> Failed for increase, Passed for decrease.
    (Arm(750, 5000), Arm(500, 5000), 0.02, Direction.INCREASE, Decision.FAILED),
    (Arm(750, 5000), Arm(500, 5000), 0.02, Direction.DECREASE, Decision.PASSED),
    # Few outcomes: nothing is decided.
    (Arm(8, 10), Arm(9, 10), 0.02, Direction.DECREASE, Decision.INCONCLUSIVE),
    # All correct on 10 vs 20: Agresti-Caffo keeps this from looking certain.
    (Arm(10, 10), Arm(20, 20), 0.02, Direction.DECREASE, Decision.INCONCLUSIVE),
]


@pytest.mark.parametrize(("canary", "stable", "margin", "direction", "decision"), VERDICTS)
def test_confidence_sequence_verdicts(
    canary: Arm, stable: Arm, margin: float, direction: Direction, decision: Decision
) -> None:
    result = confidence_sequence(canary, stable, margin, 0.05, 10_000, direction)
    assert result.decision is decision
    if decision is Decision.INCONCLUSIVE:
        assert result.canary_needed is not None
        assert result.canary_needed > 0
    else:
        assert (result.canary_needed, result.stable_needed) == (0, 0)


def test_confidence_sequence_worked_interval() -> None:
    result = confidence_sequence(C850, S900, 0.02)
    assert result.estimate == pytest.approx(-0.05)
    assert result.lower == pytest.approx(-0.0996, abs=1e-4)
    assert result.upper == pytest.approx(-0.0004, abs=1e-4)


def test_samples_needed_is_enough_at_the_current_effect() -> None:
    # 850/1000 vs 900/1000 needs 1,317 more per arm; at those counts, same rates, it fails.
    result = confidence_sequence(C850, S900, 0.02)
    assert result.canary_needed == result.stable_needed == 1317
    more = 1000 + 1317
    assert (
        confidence_sequence(Arm(0.85 * more, more), Arm(0.9 * more, more), 0.02).decision
        is Decision.FAILED
    )
    less = more - 2
    assert (
        confidence_sequence(Arm(0.85 * less, less), Arm(0.9 * less, less), 0.02).decision
        is Decision.INCONCLUSIVE
    )


def test_samples_needed_follows_the_arm_ratio() -> None:
    # A 5% canary: it needs ~19x fewer new outcomes than the stable arm.
    result = confidence_sequence(Arm(85, 100), Arm(1710, 1900), 0.02)
    assert result.decision is Decision.INCONCLUSIVE
    assert result.canary_needed is not None
    assert result.stable_needed is not None
    assert result.stable_needed == pytest.approx(19 * result.canary_needed, rel=0.01)


def test_an_estimate_on_the_margin_never_decides() -> None:
    result = confidence_sequence(Arm(880, 1000), Arm(900, 1000), 0.02)
    assert result.decision is Decision.INCONCLUSIVE
    assert result.canary_needed is None
    assert samples_to_decide(0.0, 0.18, 2000, rho(0.05, 1e4), 0.05) is None


def test_msprt_rejects_the_worked_drop_and_not_the_same_rates() -> None:
    worse = msprt(C850, S900, tau=0.02)
    assert worse.reject
    assert worse.p_value < 0.05
    # Better canary: one-sided, never rejected however large the statistic.
    assert not msprt(S900, C850, tau=0.02).reject
    assert not msprt(S900, S900, tau=0.02).reject


def test_invalid_inputs_are_refused() -> None:
    with pytest.raises(ValueError, match="successes"):
        Arm(11, 10)
    with pytest.raises(ValueError, match="total"):
        Arm(0, 0)
    with pytest.raises(ValueError, match="alpha"):
        confidence_sequence(C850, S900, 0.02, alpha=0.5)
    with pytest.raises(ValueError, match="margin"):
        margin_test(C850, S900, -0.01, 0.05)


# ------------------------------------------------------------------ properties

counts = st.integers(min_value=1, max_value=100_000)


@st.composite
def arms(draw: st.DrawFn) -> Arm:
    total = draw(counts)
    return Arm(draw(st.integers(min_value=0, max_value=total)), total)


margins = st.floats(min_value=0.001, max_value=0.2)


@given(arms(), arms(), margins)
def test_the_verdict_is_where_the_interval_lies(canary: Arm, stable: Arm, margin: float) -> None:
    result = confidence_sequence(canary, stable, margin)
    assert result.lower <= result.estimate <= result.upper
    if result.decision is Decision.FAILED:
        assert result.upper < -margin
    elif result.decision is Decision.PASSED:
        assert result.lower > -margin
    else:
        assert result.lower <= -margin <= result.upper
    decided = result.decision is not Decision.INCONCLUSIVE
    assert decided == ((result.canary_needed, result.stable_needed) == (0, 0))


@given(arms(), arms(), margins)
def test_increase_mirrors_decrease(canary: Arm, stable: Arm, margin: float) -> None:
    # An error rate is one minus a success rate: the same evidence, the same verdict.
    def flip(a: Arm) -> Arm:
        return Arm(a.total - a.successes, a.total)

    down = confidence_sequence(canary, stable, margin, direction=Direction.DECREASE)
    up = confidence_sequence(flip(canary), flip(stable), margin, direction=Direction.INCREASE)
    assert up.decision is down.decision
    assert up.estimate == pytest.approx(-down.estimate, abs=1e-12)


@given(
    st.floats(min_value=1e-4, max_value=0.5),
    st.floats(min_value=2, max_value=1e9),
    st.floats(min_value=1.0001, max_value=100),
)
def test_the_halfwidth_shrinks_as_samples_grow(s2: float, n: float, factor: float) -> None:
    # samples_to_decide's bisection relies on this.
    r = rho(0.05, 10_000)
    assert halfwidth(s2, n * factor, r, 0.05) < halfwidth(s2, n, r, 0.05)


@given(arms(), arms(), margins)
def test_the_fixed_and_sequential_tests_agree_on_direction(
    canary: Arm, stable: Arm, margin: float
) -> None:
    # The CS is wider than the fixed interval: it never decides what B decides the
    # other way.
    fixed = margin_test(canary, stable, margin, 0.05).decision
    sequential = confidence_sequence(canary, stable, margin).decision
    if sequential is not Decision.INCONCLUSIVE:
        assert fixed is sequential
