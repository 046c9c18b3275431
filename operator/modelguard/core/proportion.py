"""Judging a proportion check: four counts in (successes and total of each arm), a
verdict, its reason and the evidence for status out.

Rules users rely on, beside evaluation.py's:
- The candidate's and the stable version's counts come from the same query text, each
  arm's own {{version}}; a missing or zero stable arm is too few samples, not a failure.
- A total that is absent or 0 is a count of nothing yet (TooFewSamples), as a
  samplesQuery's is; a missing success count while outcomes exist is missing data
  (NoData): reading it as 0 successes would roll back a version for a typo in a query.
- Undecided (the interval straddles the margin) is Inconclusive, and noData never
  reinterprets it: an undecided test is not missing data.
- sequential (E) is valid at every look; fixed (B) is Inconclusive until the arms hold
  expectedSamples outcomes together (its planned sample size), then judges. It keeps
  judging at later looks on more data: that is peeking again, which the README says.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from statistics import NormalDist

from modelguard.core.api import ProportionCheck, ProportionResult, ProportionTest, Verdict
from modelguard.core.ports import QueryResult
from modelguard.core.reasons import CheckReason
from modelguard.core.statistics import (
    Arm,
    Decision,
    Direction,
    confidence_sequence,
    margin_test,
)

# increase() extrapolates each counter on its own, so successes may exceed the total by a
# little on an all-correct stretch; beyond this it is a query mix-up.
_COUNT_SLACK = 0.01

_VERDICTS = {
    Decision.FAILED: (Verdict.FAILED, CheckReason.WORSE_THAN_MARGIN),
    Decision.PASSED: (Verdict.PASSED, CheckReason.WITHIN_MARGIN),
    Decision.INCONCLUSIVE: (Verdict.INCONCLUSIVE, CheckReason.UNDECIDED),
}


@dataclass(frozen=True)
class Judgement:
    verdict: Verdict
    reason: CheckReason
    message: str
    evidence: ProportionResult
    rate: float | None = None  # the candidate's success rate
    stable_rate: float | None = None


def proportion_threshold(p: ProportionCheck) -> str:
    """e.g. "difference >= -0.02 (sequential, alpha 0.05)"."""
    bound = f">= -{p.margin:g}" if p.direction is Direction.DECREASE else f"<= {p.margin:g}"
    return f"difference {bound} ({p.test.value}, alpha {p.alpha:g})"


def _count(result: QueryResult, what: str) -> tuple[float | None, CheckReason | None, str]:
    if result.usable:
        return result.value, None, ""
    reason, message = result.problem()
    return None, reason, f"{what}: {message}"


def judge_proportion(
    p: ProportionCheck,
    success: QueryResult,
    total: QueryResult,
    stable_success: QueryResult,
    stable_total: QueryResult,
) -> Judgement:
    evidence = ProportionResult(test=p.test.value)

    def inconclusive(reason: CheckReason, message: str) -> Judgement:
        return Judgement(Verdict.INCONCLUSIVE, reason, message, evidence)

    counts: list[float] = []
    for result, what in (
        (total, "total"),
        (stable_total, "stable total"),
        (success, "successes"),
        (stable_success, "stable successes"),
    ):
        value, reason, message = _count(result, what)
        if value is None:
            assert reason is not None
            # No series for a total is nothing counted yet; for successes, missing data.
            if reason is CheckReason.NO_DATA and "total" in what:
                reason = CheckReason.TOO_FEW_SAMPLES
            return inconclusive(reason, message)
        counts.append(value)
        if len(counts) == 2:  # both totals known: show them whatever happens next
            evidence = evidence.model_copy(update={"total": counts[0], "stable_total": counts[1]})
    n_c, n_s, x_c, x_s = counts
    for x, n, arm in ((x_c, n_c, "candidate"), (x_s, n_s, "stable")):
        if x < 0 or n < 0 or x > n * (1 + _COUNT_SLACK) + 1:
            return inconclusive(
                CheckReason.INCONSISTENT_COUNTS,
                f"{arm} arm: {x:.6g} successes of {n:.6g}; successQuery and totalQuery "
                "must count the same outcomes",
            )
    x_c, x_s = min(x_c, n_c), min(x_s, n_s)
    evidence = evidence.model_copy(update={"successes": x_c, "stable_successes": x_s})
    smallest = p.min_samples or 0
    for n, arm in ((n_c, "candidate"), (n_s, "stable")):
        if n <= 0 or n < smallest:
            need = f", need {smallest}" if smallest else ""
            return inconclusive(CheckReason.TOO_FEW_SAMPLES, f"{arm} arm: {n:.6g} outcomes{need}")
    canary, stable = Arm(x_c, n_c), Arm(x_s, n_s)
    if p.test is ProportionTest.SEQUENTIAL:
        return _sequential(p, canary, stable, evidence)
    return _fixed(p, canary, stable, evidence)


def _sequential(
    p: ProportionCheck, canary: Arm, stable: Arm, evidence: ProportionResult
) -> Judgement:
    cs = confidence_sequence(canary, stable, p.margin, p.alpha, p.expected_samples, p.direction)
    evidence = evidence.model_copy(
        update={
            "estimate": cs.estimate,
            "low": cs.lower,
            "high": cs.upper,
            "samples_needed": cs.canary_needed,
            "stable_samples_needed": cs.stable_needed,
        }
    )
    verdict, reason = _VERDICTS[cs.decision]
    message = _describe(canary, stable, cs.estimate, cs.lower, cs.upper, p)
    if cs.decision is Decision.INCONCLUSIVE:
        message += (
            f"; about {cs.canary_needed} more candidate and {cs.stable_needed} more stable "
            "outcomes to decide at this estimate"
            if cs.canary_needed is not None
            else "; the estimate sits on the margin: no sample size decides it"
        )
    return Judgement(verdict, reason, message, evidence, canary.rate, stable.rate)


def _fixed(p: ProportionCheck, canary: Arm, stable: Arm, evidence: ProportionResult) -> Judgement:
    n = canary.total + stable.total
    if n < p.expected_samples:
        # The fixed test looks once, at its planned size: the arms grow in their ratio.
        share = canary.total / n
        evidence = evidence.model_copy(
            update={
                "samples_needed": math.ceil(p.expected_samples * share - canary.total),
                "stable_samples_needed": math.ceil(p.expected_samples * (1 - share) - stable.total),
            }
        )
        return Judgement(
            Verdict.INCONCLUSIVE,
            CheckReason.TOO_FEW_SAMPLES,
            f"fixed test: {n:.6g} of {p.expected_samples} outcomes",
            evidence,
            canary.rate,
            stable.rate,
        )
    test = margin_test(canary, stable, p.margin, p.alpha, p.direction)
    # The fixed test's own interval: two-sided 1 - 2 alpha, the one-sided bounds at alpha.
    half = -NormalDist().inv_cdf(p.alpha) * test.se
    low, high = test.estimate - half, test.estimate + half
    evidence = evidence.model_copy(
        update={
            "estimate": test.estimate,
            "low": low,
            "high": high,
            "samples_needed": 0,
            "stable_samples_needed": 0,
        }
    )
    verdict, reason = _VERDICTS[test.decision]
    message = _describe(canary, stable, test.estimate, low, high, p)
    return Judgement(verdict, reason, message, evidence, canary.rate, stable.rate)


def _describe(
    canary: Arm, stable: Arm, estimate: float, low: float, high: float, p: ProportionCheck
) -> str:
    """e.g. "0.85 (850/1000) vs stable 0.9 (900/1000): difference -0.05 in [-0.0996,
    -0.0004], margin -0.02"."""
    limit = -p.margin if p.direction is Direction.DECREASE else p.margin
    return (
        f"{canary.rate:.4g} ({canary.successes:.6g}/{canary.total:.6g}) vs stable "
        f"{stable.rate:.4g} ({stable.successes:.6g}/{stable.total:.6g}): difference "
        f"{estimate:+.4f} in [{low:+.4f}, {high:+.4f}], margin {limit:+g}"
    )
