"""Check evaluation as tables, in the style of Argo Rollouts' analysis tests.

Rules under test (core/evaluation.py):
- Failed only on a real breach of data that is there; thresholds are inclusive.
- Inconclusive for no data, NaN, ±Inf, query errors, more than one series, too few samples.
- Too few samples never becomes Failed, whatever noData says.
- A relative check with no baseline version passes on NoBaseline (its absolute bounds, if
  any, still judge); with a baseline version whose data is missing it is Inconclusive.
"""

from __future__ import annotations

import math
from typing import Any

import pytest

from modelguard.core.api import Check, CheckResult, NoDataPolicy, Verdict
from modelguard.core.evaluation import (
    NO_DATA_REASONS,
    evaluate_check,
    metrics_available,
    overall,
    render_check,
)
from modelguard.core.ports import QueryResult
from modelguard.core.promql import TemplateError

Q = 'avg_over_time(model_accuracy{model="fraud",version="{{version}}"}[5m])'
BQ = 'avg_over_time(model_accuracy{model="fraud",version="{{stableVersion}}"}[5m])'
SQ = 'sum(increase(model_labeled_total{version="{{version}}"}[1h]))'

WITH_STABLE = {"version": "v2", "stableVersion": "v1", "namespace": "ml", "name": "fraud"}
NO_STABLE = {"version": "v2", "namespace": "ml", "name": "fraud"}


def check(**fields: Any) -> Check:
    return Check.model_validate({"name": "accuracy", "query": Q, **fields})


def ok(value: float) -> QueryResult:
    return QueryResult(value=value, series=1)


NONE = QueryResult()  # an empty result: no series
NAN = QueryResult(value=math.nan, series=1)
INF = QueryResult(value=math.inf, series=1)
NEG_INF = QueryResult(value=-math.inf, series=1)
ERROR = QueryResult(error="connection refused")
TWO = QueryResult(value=0.95, series=2)

MIN = {"min": 0.9}
MAX = {"max": 0.2}
MIN_MAX = {"min": 0.9, "max": 0.99}
DROP = {"baselineQuery": BQ, "maxDrop": 0.02}
INCREASE = {"baselineQuery": BQ, "maxIncrease": 0.05}
BOTH = {"baselineQuery": BQ, "maxDrop": 0.02, "maxIncrease": 0.05}
GATED = {"samplesQuery": SQ, "minSamples": 500}


CASES = [
    # ---- absolute bounds, at and around the boundary (inclusive)
    ("min-above", MIN, ok(0.95), None, None, Verdict.PASSED, "WithinThreshold"),
    ("min-at", MIN, ok(0.9), None, None, Verdict.PASSED, "WithinThreshold"),
    ("min-just-below", MIN, ok(0.8999999), None, None, Verdict.FAILED, "ThresholdBreached"),
    ("min-far-below", MIN, ok(0.1), None, None, Verdict.FAILED, "ThresholdBreached"),
    ("max-below", MAX, ok(0.1), None, None, Verdict.PASSED, "WithinThreshold"),
    ("max-at", MAX, ok(0.2), None, None, Verdict.PASSED, "WithinThreshold"),
    ("max-just-above", MAX, ok(0.2000001), None, None, Verdict.FAILED, "ThresholdBreached"),
    ("min-max-inside", MIN_MAX, ok(0.95), None, None, Verdict.PASSED, "WithinThreshold"),
    ("min-max-at-max", MIN_MAX, ok(0.99), None, None, Verdict.PASSED, "WithinThreshold"),
    ("min-max-above-max", MIN_MAX, ok(0.995), None, None, Verdict.FAILED, "ThresholdBreached"),
    ("min-max-below-min", MIN_MAX, ok(0.5), None, None, Verdict.FAILED, "ThresholdBreached"),
    ("negative-values", {"min": -1.0}, ok(-1.0), None, None, Verdict.PASSED, "WithinThreshold"),
    ("zero-value-is-data", MIN, ok(0.0), None, None, Verdict.FAILED, "ThresholdBreached"),
    # ---- unusable values: Inconclusive, never Failed, whatever the bound
    ("empty-result", MIN, NONE, None, None, Verdict.INCONCLUSIVE, "NoData"),
    ("nan", MIN, NAN, None, None, Verdict.INCONCLUSIVE, "NoData"),
    ("plus-inf-over-max", MAX, INF, None, None, Verdict.INCONCLUSIVE, "NoData"),
    ("plus-inf-min", MIN, INF, None, None, Verdict.INCONCLUSIVE, "NoData"),
    ("minus-inf-under-min", MIN, NEG_INF, None, None, Verdict.INCONCLUSIVE, "NoData"),
    ("query-error", MIN, ERROR, None, None, Verdict.INCONCLUSIVE, "QueryError"),
    ("two-series", MIN, TWO, None, None, Verdict.INCONCLUSIVE, "AmbiguousResult"),
    (
        "series-without-value",
        MIN,
        QueryResult(value=None, series=1),
        None,
        None,
        Verdict.INCONCLUSIVE,
        "NoData",
    ),
    # ---- sample-size gating: checked first; below minSamples is never a verdict
    (
        "samples-below",
        {**MIN, **GATED},
        ok(0.1),
        None,
        ok(499),
        Verdict.INCONCLUSIVE,
        "TooFewSamples",
    ),
    ("samples-at", {**MIN, **GATED}, ok(0.1), None, ok(500), Verdict.FAILED, "ThresholdBreached"),
    ("samples-above", {**MIN, **GATED}, ok(0.95), None, ok(501), Verdict.PASSED, "WithinThreshold"),
    ("samples-zero", {**MIN, **GATED}, ok(0.1), None, ok(0), Verdict.INCONCLUSIVE, "TooFewSamples"),
    (
        "samples-no-series-is-zero-samples",
        {**MIN, **GATED},
        ok(0.1),
        None,
        NONE,
        Verdict.INCONCLUSIVE,
        "TooFewSamples",
    ),
    ("samples-nan", {**MIN, **GATED}, ok(0.1), None, NAN, Verdict.INCONCLUSIVE, "TooFewSamples"),
    (
        "samples-not-queried",
        {**MIN, **GATED},
        ok(0.1),
        None,
        None,
        Verdict.INCONCLUSIVE,
        "TooFewSamples",
    ),
    (
        "samples-query-error-is-a-query-error",
        {**MIN, **GATED},
        ok(0.1),
        None,
        ERROR,
        Verdict.INCONCLUSIVE,
        "QueryError",
    ),
    (
        "samples-two-series-is-ambiguous",
        {**MIN, **GATED},
        ok(0.1),
        None,
        TWO,
        Verdict.INCONCLUSIVE,
        "AmbiguousResult",
    ),
    (
        "samples-enough-but-value-missing",
        {**MIN, **GATED},
        NONE,
        None,
        ok(1000),
        Verdict.INCONCLUSIVE,
        "NoData",
    ),
    # ---- relative checks against the baseline (stable) version
    ("drop-within", DROP, ok(0.94), ok(0.95), None, Verdict.PASSED, "WithinThreshold"),
    ("drop-at-boundary", DROP, ok(0.93), ok(0.95), None, Verdict.PASSED, "WithinThreshold"),
    ("drop-beyond", DROP, ok(0.9299), ok(0.95), None, Verdict.FAILED, "ThresholdBreached"),
    # 0.9 - 0.7 == 0.20000000000000007 in binary floating point: still "at" the bound
    (
        "drop-at-boundary-float-noise",
        {"baselineQuery": BQ, "maxDrop": 0.2},
        ok(0.7),
        ok(0.9),
        None,
        Verdict.PASSED,
        "WithinThreshold",
    ),
    (
        "drop-just-beyond-float-noise",
        {"baselineQuery": BQ, "maxDrop": 0.2},
        ok(0.6999999),
        ok(0.9),
        None,
        Verdict.FAILED,
        "ThresholdBreached",
    ),
    (
        "increase-at-boundary-float-noise",
        {"baselineQuery": BQ, "maxIncrease": 0.2},
        ok(0.9),
        ok(0.7),
        None,
        Verdict.PASSED,
        "WithinThreshold",
    ),
    (
        "drop-zero-allowed-equal",
        {"baselineQuery": BQ, "maxDrop": 0.0},
        ok(0.95),
        ok(0.95),
        None,
        Verdict.PASSED,
        "WithinThreshold",
    ),
    (
        "drop-zero-allowed-tiny-drop",
        {"baselineQuery": BQ, "maxDrop": 0.0},
        ok(0.9499),
        ok(0.95),
        None,
        Verdict.FAILED,
        "ThresholdBreached",
    ),
    ("drop-improvement", DROP, ok(0.99), ok(0.95), None, Verdict.PASSED, "WithinThreshold"),
    ("increase-within", INCREASE, ok(0.13), ok(0.1), None, Verdict.PASSED, "WithinThreshold"),
    ("increase-at-boundary", INCREASE, ok(0.15), ok(0.1), None, Verdict.PASSED, "WithinThreshold"),
    ("increase-beyond", INCREASE, ok(0.1501), ok(0.1), None, Verdict.FAILED, "ThresholdBreached"),
    ("increase-decrease-ok", INCREASE, ok(0.01), ok(0.1), None, Verdict.PASSED, "WithinThreshold"),
    ("both-drop-breached", BOTH, ok(0.5), ok(0.95), None, Verdict.FAILED, "ThresholdBreached"),
    ("both-rise-breached", BOTH, ok(1.5), ok(0.95), None, Verdict.FAILED, "ThresholdBreached"),
    ("baseline-empty", DROP, ok(0.5), NONE, None, Verdict.INCONCLUSIVE, "NoData"),
    ("baseline-nan", DROP, ok(0.5), NAN, None, Verdict.INCONCLUSIVE, "NoData"),
    ("baseline-error", DROP, ok(0.5), ERROR, None, Verdict.INCONCLUSIVE, "QueryError"),
    ("baseline-two-series", DROP, ok(0.5), TWO, None, Verdict.INCONCLUSIVE, "AmbiguousResult"),
    ("baseline-not-queried", DROP, ok(0.5), None, None, Verdict.INCONCLUSIVE, "NoData"),
    ("relative-value-missing", DROP, NONE, ok(0.95), None, Verdict.INCONCLUSIVE, "NoData"),
    # ---- absolute failure beats an inconclusive baseline
    (
        "absolute-failure-beats-missing-baseline",
        {**MIN, **DROP},
        ok(0.5),
        NONE,
        None,
        Verdict.FAILED,
        "ThresholdBreached",
    ),
    (
        "absolute-failure-beats-baseline-error",
        {**MIN, **DROP},
        ok(0.5),
        ERROR,
        None,
        Verdict.FAILED,
        "ThresholdBreached",
    ),
    (
        "absolute-pass-then-relative-fail",
        {**MIN, **DROP},
        ok(0.91),
        ok(0.99),
        None,
        Verdict.FAILED,
        "ThresholdBreached",
    ),
    (
        "absolute-pass-then-baseline-missing",
        {**MIN, **DROP},
        ok(0.91),
        NONE,
        None,
        Verdict.INCONCLUSIVE,
        "NoData",
    ),
    # ---- gating comes before the baseline: a small sample is not evidence either way
    (
        "gated-relative-below-samples",
        {**DROP, **GATED},
        ok(0.1),
        ok(0.95),
        ok(10),
        Verdict.INCONCLUSIVE,
        "TooFewSamples",
    ),
    (
        "gated-relative-enough-samples",
        {**DROP, **GATED},
        ok(0.1),
        ok(0.95),
        ok(10_000),
        Verdict.FAILED,
        "ThresholdBreached",
    ),
]


@pytest.mark.parametrize(
    ("fields", "value", "baseline", "samples", "verdict", "reason"),
    [pytest.param(*case[1:], id=case[0]) for case in CASES],
)
def test_evaluate_check(
    fields: dict[str, Any],
    value: QueryResult,
    baseline: QueryResult | None,
    samples: QueryResult | None,
    verdict: Verdict,
    reason: str,
) -> None:
    rendered = render_check(check(**fields), WITH_STABLE)
    result = evaluate_check(rendered, value, baseline, samples)
    assert (result.verdict, result.reason) == (verdict, reason), result.message
    assert result.name == "accuracy"
    assert result.query == rendered.query
    assert result.message
    # The value shown as evidence is the real one, or nothing when it was not usable.
    assert result.value == (value.value if value.usable else None)
    if result.verdict is Verdict.FAILED:
        assert result.reason not in NO_DATA_REASONS


@pytest.mark.parametrize(
    ("fields", "value", "verdict", "reason"),
    [
        pytest.param(DROP, ok(0.1), Verdict.PASSED, "NoBaseline", id="relative-only"),
        pytest.param({**MIN, **DROP}, ok(0.95), Verdict.PASSED, "NoBaseline", id="min-ok"),
        pytest.param(
            {**MIN, **DROP}, ok(0.5), Verdict.FAILED, "ThresholdBreached", id="min-still-judges"
        ),
        pytest.param(DROP, NONE, Verdict.INCONCLUSIVE, "NoData", id="value-missing"),
    ],
)
def test_relative_check_without_a_baseline_version(
    fields: dict[str, Any], value: QueryResult, verdict: Verdict, reason: str
) -> None:
    """The first version has nothing to compare with: that is not missing data, so
    noData=fail cannot roll a version back for having no predecessor."""
    rendered = render_check(check(**fields), NO_STABLE)
    assert rendered.baseline_query is None
    result = evaluate_check(rendered, value, None)
    assert (result.verdict, result.reason) == (verdict, reason)
    assert overall([result], NoDataPolicy.FAIL) is (
        Verdict.FAILED if verdict is not Verdict.PASSED else Verdict.PASSED
    )


def test_failure_evidence_names_value_threshold_and_baseline() -> None:
    rendered = render_check(check(**MIN, **DROP, **GATED), WITH_STABLE)
    result = evaluate_check(rendered, ok(0.91), ok(0.99), ok(800))
    assert result.verdict is Verdict.FAILED
    assert result.value == 0.91
    assert result.baseline == 0.99
    assert result.samples == 800
    assert result.threshold == ">= 0.9, drop <= 0.02"
    assert "dropped 0.08 from baseline 0.99" in result.message


def test_too_few_samples_reports_the_count() -> None:
    rendered = render_check(check(**MIN, **GATED), WITH_STABLE)
    result = evaluate_check(rendered, ok(0.5), None, ok(42))
    assert result.samples == 42
    assert "42 samples, need 500" in result.message


def test_render_check_renders_all_three_queries_escaped() -> None:
    rendered = render_check(
        check(**DROP, **GATED), {**WITH_STABLE, "version": 'v2"}', "stableVersion": "v1"}
    )
    assert rendered.query == Q.replace("{{version}}", 'v2\\"}')
    assert rendered.baseline_query == BQ.replace("{{stableVersion}}", "v1")
    assert rendered.samples_query == SQ.replace("{{version}}", 'v2\\"}')


SQ_STABLE = 'sum(increase(model_labeled_total{version="{{stableVersion}}"}[1h]))'
Q_STABLE = (
    'avg_over_time(model_accuracy{version="{{version}}"}[5m])'
    ' - avg_over_time(model_accuracy{version="{{stableVersion}}"}[5m])'
)


@pytest.mark.parametrize(
    "fields",
    [
        pytest.param({"query": Q_STABLE, **MAX}, id="query"),
        pytest.param({**MIN, "samplesQuery": SQ_STABLE, "minSamples": 5}, id="samplesQuery"),
        pytest.param({"query": Q_STABLE, **MAX, **DROP}, id="query-and-baseline"),
    ],
)
@pytest.mark.parametrize("policy", list(NoDataPolicy), ids=lambda p: p.value)
def test_a_check_needing_the_missing_stable_version_is_inconclusive(
    fields: dict[str, Any], policy: NoDataPolicy
) -> None:
    """Rendering used to raise TemplateError, which failed every reconcile until a second
    version was known good. Now: Inconclusive, reason NoStableVersion, nothing queried,
    and left out of the overall verdict (noData does not turn it into anything)."""
    rendered = render_check(check(**fields), NO_STABLE)
    assert rendered.needs_stable_version
    assert rendered.baseline_query is None
    assert rendered.samples_query is None
    r = evaluate_check(rendered, NONE, None, None)
    assert (r.verdict, r.reason) == (Verdict.INCONCLUSIVE, "NoStableVersion")
    assert "{{stableVersion}}" in r.message
    assert metrics_available([r])  # not a Prometheus problem
    assert overall([r], policy) is Verdict.INCONCLUSIVE
    assert overall([P, r], policy) is Verdict.PASSED
    assert overall([F, r], policy) is Verdict.FAILED


def test_a_check_needing_the_stable_version_renders_once_there_is_one() -> None:
    rendered = render_check(check(query=Q_STABLE, **MAX), WITH_STABLE)
    assert not rendered.needs_stable_version
    assert rendered.query == Q_STABLE.replace("{{version}}", "v2").replace(
        "{{stableVersion}}", "v1"
    )


def test_render_check_without_version_is_an_error() -> None:
    with pytest.raises(TemplateError):
        render_check(check(**MIN), {"namespace": "ml", "name": "fraud"})


# --------------------------------------------------------------------------- overall


def result(verdict: Verdict, reason: str = "") -> CheckResult:
    reason = (
        reason
        or {
            Verdict.PASSED: "WithinThreshold",
            Verdict.FAILED: "ThresholdBreached",
            Verdict.INCONCLUSIVE: "NoData",
        }[verdict]
    )
    return CheckResult(name=f"c-{reason}", query="q", verdict=verdict, reason=reason)


P = result(Verdict.PASSED)
F = result(Verdict.FAILED)
NO_BASELINE = result(Verdict.PASSED, "NoBaseline")


def inc(reason: str) -> CheckResult:
    return result(Verdict.INCONCLUSIVE, reason)


HOLD, FAIL, PASS = NoDataPolicy.HOLD, NoDataPolicy.FAIL, NoDataPolicy.PASS

OVERALL = [
    ("all-pass", [P, P], HOLD, Verdict.PASSED),
    ("no-baseline-passes", [NO_BASELINE], FAIL, Verdict.PASSED),
    ("one-fail", [P, F], HOLD, Verdict.FAILED),
    ("fail-beats-inconclusive", [F, inc("NoData")], PASS, Verdict.FAILED),
    ("fail-beats-too-few", [F, inc("TooFewSamples")], HOLD, Verdict.FAILED),
    ("empty-list", [], HOLD, Verdict.PASSED),
]
for _reason in sorted(NO_DATA_REASONS):
    OVERALL += [
        (f"{_reason}-hold", [P, inc(_reason)], HOLD, Verdict.INCONCLUSIVE),
        (f"{_reason}-fail", [P, inc(_reason)], FAIL, Verdict.FAILED),
        (f"{_reason}-pass", [P, inc(_reason)], PASS, Verdict.PASSED),
    ]
for _policy in NoDataPolicy:
    OVERALL += [
        (
            f"TooFewSamples-{_policy.value}",
            [P, inc("TooFewSamples")],
            _policy,
            Verdict.INCONCLUSIVE,
        ),
        (
            f"TooFewSamples-beside-NoData-{_policy.value}",
            [inc("NoData"), inc("TooFewSamples")],
            _policy,
            Verdict.INCONCLUSIVE,
        ),
    ]


@pytest.mark.parametrize(
    ("results", "policy", "expected"), [pytest.param(*c[1:], id=c[0]) for c in OVERALL]
)
def test_overall(results: list[CheckResult], policy: NoDataPolicy, expected: Verdict) -> None:
    assert overall(results, policy) is expected


@pytest.mark.parametrize("policy", list(NoDataPolicy), ids=lambda p: p.value)
def test_too_few_samples_never_fails_end_to_end(policy: NoDataPolicy) -> None:
    """From the raw query results to the overall verdict, a small sample holds."""
    rendered = render_check(check(**MIN, **GATED), WITH_STABLE)
    for samples in (ok(0), ok(499), NONE, NAN, None):
        r = evaluate_check(rendered, ok(0.0), None, samples)
        assert overall([r], policy) is Verdict.INCONCLUSIVE
        assert metrics_available([r])


# --------------------------------------------------------------------------- metrics_available


@pytest.mark.parametrize(
    ("results", "expected"),
    [
        pytest.param([P, F], True, id="pass-and-fail"),
        pytest.param([], True, id="nothing"),
        pytest.param([P, inc("TooFewSamples")], True, id="too-few-samples-is-data"),
        pytest.param([P, inc("NoData")], False, id="no-data"),
        pytest.param([inc("QueryError")], False, id="query-error"),
        pytest.param([inc("AmbiguousResult")], False, id="ambiguous"),
        pytest.param([F, inc("QueryError")], False, id="failure-and-error"),
    ],
)
def test_metrics_available(results: list[CheckResult], expected: bool) -> None:
    assert metrics_available(results) is expected


def test_prometheus_outage_marks_metrics_unavailable_even_for_gated_checks() -> None:
    """When Prometheus is down, every query errors, including sample counts: the
    MetricsAvailable condition must say so rather than report a small sample."""
    rendered = render_check(check(**MIN, **GATED), WITH_STABLE)
    r = evaluate_check(rendered, ERROR, None, ERROR)
    assert r.verdict is Verdict.INCONCLUSIVE
    assert not metrics_available([r])
    assert overall([r], NoDataPolicy.HOLD) is Verdict.INCONCLUSIVE
