"""Check evaluation: one rendered check plus its query results in, a verdict out.

Rules users rely on:
- Failed only on a real threshold breach, on data that is there and is trustworthy.
- Inconclusive for missing data, NaN, query errors, too few samples, ambiguous results.
- Too few samples is never turned into a failure, whatever noData says: a small sample
  is not evidence (this is the gap Flagger's users hit with "no values found").
- A check whose query or samplesQuery needs {{stableVersion}} while there is none yet is
  Inconclusive (NoStableVersion) and left out of the overall verdict, as a relative check
  without a baseline is: it cannot judge the first version, and must not block it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from modelguard.core.api import Check, CheckResult, NoDataPolicy, Verdict
from modelguard.core.ports import QueryResult
from modelguard.core.promql import placeholders_in, render, since_start
from modelguard.core.proportion import judge_proportion, proportion_threshold
from modelguard.core.reasons import CheckReason

# Inconclusive reasons that noData=fail|pass may reinterpret; the rest always hold.
NO_DATA_REASONS = frozenset(
    {CheckReason.NO_DATA, CheckReason.QUERY_ERROR, CheckReason.AMBIGUOUS_RESULT}
)


@dataclass(frozen=True)
class ArmQueries:
    """A proportion check's four queries: the same text rendered for each arm."""

    success: str
    total: str
    stable_success: str
    stable_total: str


@dataclass(frozen=True)
class RenderedCheck:
    check: Check
    query: str
    baseline_query: str | None
    samples_query: str | None
    # Set when the query or samplesQuery needs {{stableVersion}} and there is none: the
    # check is then not queried at all (query holds the unrendered template).
    needs_stable_version: bool = False
    # When to evaluate the baseline query: the last time the stable version served
    # (None: now, it still serves). After an in-place rollout its series end; read now,
    # they are gone once the query's range window passes.
    baseline_at: datetime | None = None
    # A proportion check's queries (the stable arm's read at baseline_at, too).
    arms: ArmQueries | None = None


STABLE_VERSION = "stableVersion"


def render_check(
    check: Check,
    values: Mapping[str, str],
    baseline_at: datetime | None = None,
    *,
    started_at: datetime | None = None,
    now: datetime | None = None,
) -> RenderedCheck:
    """Render a check's templates. A relative check without a baseline version gets no
    baseline query (it is then not applicable, see evaluate_check); a check whose own
    queries need the missing stable version gets none at all (Inconclusive), and so does
    a proportion check: it has no other arm.

    {{sinceStart}} is the time from `started_at` (when the version under test went live;
    a canary passes its own start) to `now`; without `now` it has no value."""
    if now is not None:
        values = {**values, "sinceStart": since_start(started_at or now, now)}
    if check.proportion is not None:
        return _render_proportion(check, values, baseline_at)
    assert check.query is not None  # a check has a query or a proportion
    if STABLE_VERSION not in values and any(
        STABLE_VERSION in placeholders_in(t) for t in (check.query, check.samples_query) if t
    ):
        return RenderedCheck(check, check.query, None, None, needs_stable_version=True)
    baseline = None
    if check.baseline_query is not None and STABLE_VERSION in values:
        baseline = render(check.baseline_query, values)
    samples = render(check.samples_query, values) if check.samples_query is not None else None
    return RenderedCheck(
        check,
        render(check.query, values),
        baseline,
        samples,
        baseline_at=baseline_at if baseline is not None else None,
    )


def _render_proportion(
    check: Check, values: Mapping[str, str], baseline_at: datetime | None
) -> RenderedCheck:
    p = check.proportion
    assert p is not None
    # What status shows as the check's query: the candidate's rate.
    shown = f"({p.success_query}) / ({p.total_query})"
    if STABLE_VERSION not in values:
        return RenderedCheck(check, shown, None, None, needs_stable_version=True)
    stable = {**values, "version": values[STABLE_VERSION]}
    arms = ArmQueries(
        render(p.success_query, values),
        render(p.total_query, values),
        render(p.success_query, stable),
        render(p.total_query, stable),
    )
    return RenderedCheck(
        check,
        f"({arms.success}) / ({arms.total})",
        None,
        None,
        baseline_at=baseline_at,
        arms=arms,
    )


def _fmt(value: float) -> str:
    return f"{value:.6g}"


def _exceeds(amount: float, limit: float) -> bool:
    """amount > limit, where the amount is a difference of two floats: 0.9 - 0.7 is
    0.20000000000000007, which must not breach a maxDrop of 0.2 (bounds are inclusive)."""
    return amount > limit and not math.isclose(amount, limit, rel_tol=1e-9, abs_tol=1e-12)


def _threshold(check: Check) -> str:
    if check.proportion is not None:
        return proportion_threshold(check.proportion)
    parts = []
    if check.min is not None:
        parts.append(f">= {_fmt(check.min)}")
    if check.max is not None:
        parts.append(f"<= {_fmt(check.max)}")
    if check.max_drop is not None:
        parts.append(f"drop <= {_fmt(check.max_drop)}")
    if check.max_increase is not None:
        parts.append(f"increase <= {_fmt(check.max_increase)}")
    return ", ".join(parts)


def _result(
    rendered: RenderedCheck,
    main: QueryResult,
    verdict: Verdict,
    reason: CheckReason,
    message: str,
    **extra: object,
) -> CheckResult:
    check = rendered.check
    return CheckResult.model_validate(
        {
            "name": check.name,
            "query": rendered.query,
            "threshold": _threshold(check),
            "value": main.value if main.usable else None,
            "baselineAt": rendered.baseline_at,
            **extra,
            "verdict": verdict,
            "reason": reason,
            "message": message,
        }
    )


def _too_few_samples(
    check: Check, samples: QueryResult | None
) -> tuple[float | None, CheckReason | None, str]:
    """(samples seen, reason, message), the reason set when the sample count makes the
    check Inconclusive; (None, None, "") when the check counts no samples."""
    if check.min_samples is None:
        return None, None, ""
    if samples is None or not samples.usable:
        reason, message = (samples or QueryResult()).problem()
        if reason is not CheckReason.NO_DATA:
            # A failed or ambiguous count query is missing data, not a small sample:
            # MetricsAvailable must show a Prometheus outage, and noData applies
            # exactly as it does to the value query that would fail alongside it.
            return None, reason, f"sample count: {message}"
        # No series (or NaN) is a count of nothing yet: too few samples.
        return None, CheckReason.TOO_FEW_SAMPLES, f"sample count: {message}"
    seen = samples.value
    assert seen is not None  # usable implies a value
    if seen < check.min_samples:
        return (
            seen,
            CheckReason.TOO_FEW_SAMPLES,
            f"{_fmt(seen)} samples, need {check.min_samples}",
        )
    return seen, None, ""


def _absolute_breaches(check: Check, current: float) -> list[str]:
    breaches = []
    if check.min is not None and current < check.min:
        breaches.append(f"{_fmt(current)} < min {_fmt(check.min)}")
    if check.max is not None and current > check.max:
        breaches.append(f"{_fmt(current)} > max {_fmt(check.max)}")
    return breaches


def _relative_breaches(check: Check, current: float, baseline: float) -> list[str]:
    breaches = []
    drop = baseline - current
    if check.max_drop is not None and _exceeds(drop, check.max_drop):
        breaches.append(
            f"dropped {_fmt(drop)} from baseline {_fmt(baseline)} (max {_fmt(check.max_drop)})"
        )
    if check.max_increase is not None and _exceeds(-drop, check.max_increase):
        breaches.append(
            f"rose {_fmt(-drop)} over baseline {_fmt(baseline)} (max {_fmt(check.max_increase)})"
        )
    return breaches


def evaluate_check(
    rendered: RenderedCheck,
    value: QueryResult,
    baseline: QueryResult | None = None,
    samples: QueryResult | None = None,
) -> CheckResult:
    check = rendered.check

    def result(
        verdict: Verdict, reason: CheckReason, message: str, **extra: float | None
    ) -> CheckResult:
        return _result(rendered, value, verdict, reason, message, **extra)

    if rendered.needs_stable_version:
        return result(
            Verdict.INCONCLUSIVE,
            CheckReason.NO_STABLE_VERSION,
            "the query needs {{stableVersion}}: no known-good version other than the "
            "current one yet",
        )
    samples_seen, few, message = _too_few_samples(check, samples)
    if few is not None:
        return result(Verdict.INCONCLUSIVE, few, message, samples=samples_seen)

    if not value.usable:
        reason, message = value.problem()
        return result(Verdict.INCONCLUSIVE, reason, message, samples=samples_seen)
    current = value.value
    assert current is not None

    breaches = _absolute_breaches(check, current)
    relative = check.max_drop is not None or check.max_increase is not None
    baseline_value: float | None = None
    if relative and not breaches:
        if rendered.baseline_query is None:
            # The first version has nothing to compare with; its absolute checks (if
            # any) still judge it, and counting this as missing data would let
            # noData=fail roll back a version for having no predecessor.
            return result(
                Verdict.PASSED,
                CheckReason.NO_BASELINE,
                "no other known-good version to compare with",
                samples=samples_seen,
            )
        if baseline is None or not baseline.usable:
            reason, message = (baseline or QueryResult()).problem()
            return result(
                Verdict.INCONCLUSIVE, reason, f"baseline: {message}", samples=samples_seen
            )
        baseline_value = baseline.value
        assert baseline_value is not None
        breaches += _relative_breaches(check, current, baseline_value)

    if breaches:
        return result(
            Verdict.FAILED,
            CheckReason.THRESHOLD_BREACHED,
            "; ".join(breaches),
            samples=samples_seen,
            baseline=baseline_value,
        )
    return result(
        Verdict.PASSED,
        CheckReason.WITHIN_THRESHOLD,
        f"{_fmt(current)} within {_threshold(check)}",
        samples=samples_seen,
        baseline=baseline_value,
    )


def evaluate_proportion(
    rendered: RenderedCheck,
    success: QueryResult,
    total: QueryResult,
    stable_success: QueryResult,
    stable_total: QueryResult,
) -> CheckResult:
    """A proportion check from its four query results (see core.proportion)."""
    p = rendered.check.proportion
    assert p is not None
    if rendered.needs_stable_version:
        return evaluate_unqueried(rendered, QueryResult())
    judged = judge_proportion(p, success, total, stable_success, stable_total)
    return _result(
        rendered,
        success,
        judged.verdict,
        judged.reason,
        judged.message,
        value=judged.rate,
        baseline=judged.stable_rate,
        samples=judged.evidence.total,
        proportion=judged.evidence,
    )


def evaluate_unqueried(rendered: RenderedCheck, result: QueryResult) -> CheckResult:
    """Any check whose every query got `result` (none could run: the auth Secret is
    unreadable), or that needs no query (NoStableVersion)."""
    if rendered.check.proportion is not None and not rendered.needs_stable_version:
        return evaluate_proportion(rendered, result, result, result, result)
    return evaluate_check(rendered, result, result, result)


def overall(results: Sequence[CheckResult], no_data: NoDataPolicy) -> Verdict:
    """Combine check verdicts: any failure fails; Inconclusive is read through noData.

    A check without a stable version to compare with is not applicable: it neither
    blocks nor makes the verdict; with no other check the verdict is Inconclusive."""
    applicable = [r for r in results if r.reason != CheckReason.NO_STABLE_VERSION]
    if results and not applicable:
        return Verdict.INCONCLUSIVE
    results = applicable
    if any(r.verdict is Verdict.FAILED for r in results):
        return Verdict.FAILED
    inconclusive = [r for r in results if r.verdict is Verdict.INCONCLUSIVE]
    if not inconclusive:
        return Verdict.PASSED
    if any(r.reason not in NO_DATA_REASONS for r in inconclusive):
        return Verdict.INCONCLUSIVE
    if no_data is NoDataPolicy.FAIL:
        return Verdict.FAILED
    if no_data is NoDataPolicy.PASS:
        return Verdict.PASSED
    return Verdict.INCONCLUSIVE


def metrics_available(results: Sequence[CheckResult]) -> bool:
    """False when any check lacked data or its query failed (not for small samples)."""
    return not any(
        r.verdict is Verdict.INCONCLUSIVE and r.reason in NO_DATA_REASONS for r in results
    )
