"""Proportion checks: rendering both arms from one query text, and the verdict table."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from modelguard.core.api import Check, CheckResult, NoDataPolicy, Verdict
from modelguard.core.evaluation import (
    evaluate_proportion,
    evaluate_unqueried,
    overall,
    render_check,
)
from modelguard.core.ports import QueryResult
from modelguard.core.promql import since_start
from modelguard.core.reasons import CheckReason

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
VALUES = {"version": "v2", "stableVersion": "v1", "namespace": "ml", "name": "fraud"}
SUCCESS = 'sum(increase(correct_total{version="{{version}}"}[{{sinceStart}}]))'
TOTAL = 'sum(increase(labeled_total{version="{{version}}"}[{{sinceStart}}]))'


def check(**fields: Any) -> Check:
    return Check.model_validate(
        {
            "name": "accuracy-ab",
            "proportion": {"successQuery": SUCCESS, "totalQuery": TOTAL, "margin": 0.02, **fields},
        }
    )


def ok(value: float) -> QueryResult:
    return QueryResult(value=value, series=1)


NONE = QueryResult()
ERROR = QueryResult(error="connection refused")


def judge(c: Check, *counts: QueryResult) -> CheckResult:
    rendered = render_check(c, VALUES, started_at=NOW - timedelta(seconds=930), now=NOW)
    return evaluate_proportion(rendered, *counts)


def test_both_arms_render_from_the_same_text() -> None:
    rendered = render_check(check(), VALUES, started_at=NOW - timedelta(seconds=929.2), now=NOW)
    assert rendered.arms is not None
    assert rendered.arms.success == 'sum(increase(correct_total{version="v2"}[930s]))'
    assert rendered.arms.total == 'sum(increase(labeled_total{version="v2"}[930s]))'
    assert rendered.arms.stable_success == 'sum(increase(correct_total{version="v1"}[930s]))'
    assert rendered.arms.stable_total == 'sum(increase(labeled_total{version="v1"}[930s]))'
    assert rendered.query == f"({rendered.arms.success}) / ({rendered.arms.total})"


def test_the_stable_arm_is_read_when_the_stable_version_last_served() -> None:
    at = NOW - timedelta(hours=1)
    rendered = render_check(check(), VALUES, at, started_at=NOW, now=NOW)
    assert rendered.baseline_at == at


def test_since_start_is_whole_seconds_and_at_least_one() -> None:
    assert since_start(NOW - timedelta(seconds=930), NOW) == "930s"
    assert since_start(NOW - timedelta(seconds=0.2), NOW) == "1s"
    assert since_start(NOW, NOW) == "1s"
    assert since_start(NOW + timedelta(seconds=5), NOW) == "1s"  # clock skew
    # The canary passes its own start: the window follows the input, not a global.
    assert since_start(NOW - timedelta(minutes=2), NOW) == "120s"


def test_without_a_stable_version_it_is_not_applicable() -> None:
    values = {k: v for k, v in VALUES.items() if k != "stableVersion"}
    rendered = render_check(check(), values, now=NOW)
    assert rendered.needs_stable_version
    result = evaluate_unqueried(rendered, QueryResult())
    assert result.verdict is Verdict.INCONCLUSIVE
    assert result.reason == CheckReason.NO_STABLE_VERSION
    assert overall([result], NoDataPolicy.FAIL) is Verdict.INCONCLUSIVE  # not a failure


# (id, check fields, (success, total, stable success, stable total), verdict, reason)
TABLE: list[tuple[str, dict[str, Any], tuple[QueryResult, ...], Verdict, str]] = [
    ("worse", {}, (ok(4250), ok(5000), ok(4500), ok(5000)), Verdict.FAILED, "WorseThanMargin"),
    ("within", {}, (ok(4500), ok(5000), ok(4500), ok(5000)), Verdict.PASSED, "WithinMargin"),
    ("straddles", {}, (ok(850), ok(1000), ok(900), ok(1000)), Verdict.INCONCLUSIVE, "Undecided"),
    (
        "error-rate-up",
        {"direction": "increase"},
        (ok(750), ok(5000), ok(500), ok(5000)),
        Verdict.FAILED,
        "WorseThanMargin",
    ),
    (
        "stable-arm-empty",
        {},
        (ok(80), ok(100), ok(0), ok(0)),
        Verdict.INCONCLUSIVE,
        "TooFewSamples",
    ),
    (
        "stable-arm-no-series",
        {},
        (ok(80), ok(100), NONE, NONE),
        Verdict.INCONCLUSIVE,
        "TooFewSamples",
    ),
    (
        "below-min-samples",
        {"minSamples": 200},
        (ok(4250), ok(5000), ok(180), ok(199)),
        Verdict.INCONCLUSIVE,
        "TooFewSamples",
    ),
    (
        "successes-missing",
        {},
        (NONE, ok(5000), ok(4500), ok(5000)),
        Verdict.INCONCLUSIVE,
        "NoData",
    ),
    (
        "prometheus-down",
        {},
        (ERROR, ERROR, ERROR, ERROR),
        Verdict.INCONCLUSIVE,
        "QueryError",
    ),
    (
        "successes-above-total",
        {},
        (ok(900), ok(500), ok(450), ok(500)),
        Verdict.INCONCLUSIVE,
        "InconsistentCounts",
    ),
    (
        "fixed-before-its-size",
        {"test": "fixed"},
        (ok(4250), ok(4900), ok(4500), ok(5000)),
        Verdict.INCONCLUSIVE,
        "TooFewSamples",
    ),
    (
        "fixed-at-its-size",
        {"test": "fixed"},
        (ok(4250), ok(5000), ok(4500), ok(5000)),
        Verdict.FAILED,
        "WorseThanMargin",
    ),
    (
        # B decides on less evidence than E: 850/1000 vs 900/1000 fails the margin
        # test (p = 0.021) at its planned size, where the sequence is still undecided.
        "fixed-decides-sooner",
        {"test": "fixed", "expectedSamples": 2000},
        (ok(850), ok(1000), ok(900), ok(1000)),
        Verdict.FAILED,
        "WorseThanMargin",
    ),
]


@pytest.mark.parametrize(
    ("fields", "counts", "verdict", "reason"),
    [pytest.param(*row[1:], id=row[0]) for row in TABLE],
)
def test_verdicts(
    fields: dict[str, Any],
    counts: tuple[QueryResult, ...],
    verdict: Verdict,
    reason: str,
) -> None:
    result = judge(check(**fields), *counts)
    assert (result.verdict, result.reason) == (verdict, reason), result.message


def test_status_carries_the_evidence() -> None:
    result = judge(check(), ok(850), ok(1000), ok(900), ok(1000))
    p = result.proportion
    assert p is not None
    assert (p.successes, p.total, p.stable_successes, p.stable_total) == (850, 1000, 900, 1000)
    assert p.estimate == pytest.approx(-0.05)
    assert p.low == pytest.approx(-0.0996, abs=1e-4)
    assert p.high == pytest.approx(-0.0004, abs=1e-4)
    assert (p.samples_needed, p.stable_samples_needed) == (1317, 1317)
    assert (result.value, result.baseline, result.samples) == (0.85, 0.9, 1000)
    assert result.threshold == "difference >= -0.02 (sequential, alpha 0.05)"
    assert "about 1317 more candidate" in result.message
    wire = result.model_dump(mode="json", by_alias=True, exclude_none=True)
    assert wire["proportion"]["samplesNeeded"] == 1317
    assert wire["proportion"]["stableTotal"] == 1000


def test_too_few_samples_still_shows_the_counts() -> None:
    result = judge(check(minSamples=500), ok(80), ok(100), ok(900), ok(1000))
    assert result.reason == CheckReason.TOO_FEW_SAMPLES
    assert result.proportion is not None
    assert (result.proportion.total, result.proportion.stable_total) == (100, 1000)
    assert "candidate arm: 100 outcomes, need 500" in result.message


def test_successes_slightly_above_total_are_clamped() -> None:
    # increase() extrapolates each counter separately: 1000.4 of 1000 is 1000 of 1000.
    result = judge(check(), ok(1000.4), ok(1000), ok(900), ok(1000))
    assert result.proportion is not None
    assert result.proportion.successes == 1000


@pytest.mark.parametrize("no_data", list(NoDataPolicy))
def test_an_undecided_test_is_never_read_as_missing_data(no_data: NoDataPolicy) -> None:
    # noData=fail must not roll back a version because the test has not decided yet.
    undecided = judge(check(), ok(850), ok(1000), ok(900), ok(1000))
    assert overall([undecided], no_data) is Verdict.INCONCLUSIVE


def test_a_failed_proportion_fails_the_evaluation() -> None:
    failed = judge(check(), ok(4250), ok(5000), ok(4500), ok(5000))
    assert overall([failed], NoDataPolicy.HOLD) is Verdict.FAILED


def test_an_unreadable_auth_secret_makes_it_inconclusive_as_missing_data() -> None:
    # The evaluator gives every query the same failure when it cannot read the token.
    rendered = render_check(check(), VALUES, now=NOW)
    result = evaluate_unqueried(rendered, ERROR)
    assert (result.verdict, result.reason) == (Verdict.INCONCLUSIVE, CheckReason.QUERY_ERROR)
    assert overall([result], NoDataPolicy.FAIL) is Verdict.FAILED  # noData applies to outages


def test_the_fixed_test_says_how_far_its_planned_size_is() -> None:
    # 10,000 planned, 1,000 + 4,000 seen: 1,000 more candidate and 4,000 more stable.
    result = judge(check(test="fixed"), ok(850), ok(1000), ok(3600), ok(4000))
    assert result.reason == CheckReason.TOO_FEW_SAMPLES
    assert result.proportion is not None
    assert (result.proportion.samples_needed, result.proportion.stable_samples_needed) == (
        1000,
        4000,
    )
    assert result.message == "fixed test: 5000 of 10000 outcomes"
