"""The check library (deploy/checks/) against a real Prometheus: each template's PromQL,
rendered by the operator's own render code, on counters with known values, gives the
number computed here independently in plain Python (F1, PSI, p99 ...), and the
operator's evaluation turns it into the expected verdict.

The counters of one version are created at 0 and scraped before the test counts
anything: increase() then sees the counts from zero, and series first scraped together
share their timestamps, so Prometheus extrapolates them alike and ratios are exact.
"""

from __future__ import annotations

import math
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path

import pytest
import yaml
from prometheus_api_client import PrometheusConnect

from modelguard.adapters.prometheus import PrometheusMetrics
from modelguard.core.api import Check, CheckResult, Verdict
from modelguard.core.api.templates import ClusterModelCheckTemplate
from modelguard.core.evaluation import evaluate_check, render_check
from modelguard.core.reasons import CheckReason
from modelguard.core.templates import resolve_check
from modelguard_testenv import PrometheusServer, SyntheticModelExporter
from modelguard_testenv.exporter import LATENCY_BUCKETS

pytestmark = pytest.mark.e2e

LIBRARY = Path(__file__).resolve().parents[2] / "deploy" / "checks"
CANDIDATE, STABLE = "v2", "v1"
# Bin centres of the exporter's score histogram (le = 0.1 .. 0.9, +Inf).
SCORE_BINS = tuple(round(0.05 + 0.1 * i, 2) for i in range(10))
PSI_EPSILON = 1e-4  # the template clamps empty bins to this share (ln 0 is -Inf)


def library_check(name: str) -> Check:
    """A check naming the library template `name`, resolved as the operator resolves it
    (its parameters at their defaults, its default thresholds)."""
    template = ClusterModelCheckTemplate.model_validate(
        yaml.safe_load((LIBRARY / f"{name}.yaml").read_text())
    )
    check = Check.model_validate({"name": name, "templateRef": {"name": name}})
    return resolve_check(check, template.spec)


def _value(prom: PrometheusConnect, query: str) -> float | None:
    result = prom.custom_query(query)
    return float(result[0]["value"][1]) if result else None


def settle(prometheus: PrometheusServer, query: str, expected: float, timeout: float = 10) -> None:
    """Wait until Prometheus' answer to `query` is `expected` (a scrape has seen it)."""
    prom = PrometheusConnect(url=prometheus.url)
    deadline = time.monotonic() + timeout
    while _value(prom, query) != expected:
        if time.monotonic() > deadline:
            pytest.fail(f"{query} did not become {expected} within {timeout}s")
        time.sleep(0.2)


def counted_from_zero(
    prometheus: PrometheusServer,
    create: Callable[[], None],
    count: Callable[[], None],
    series: str,
    n_series: int,
    total: float,
) -> None:
    """Create a version's series at 0, wait for a scrape of them, then count."""
    create()
    settle(prometheus, f"count({series})", n_series)
    count()
    settle(prometheus, f"sum({series})", total)


async def judge(
    prometheus: PrometheusServer, name: str, model: str, started_at: datetime
) -> CheckResult:
    """Render the library check `name` as the operator does and evaluate it on Prometheus."""
    check = library_check(name)
    now = datetime.now(UTC)
    values = {"version": CANDIDATE, "stableVersion": STABLE, "namespace": "ml", "name": model}
    rendered = render_check(check, values, started_at=started_at, now=now)
    assert "{{" not in rendered.query
    metrics = PrometheusMetrics(prometheus.url, 10)
    try:
        value = await metrics.query(rendered.query, now)
        assert rendered.samples_query is not None
        samples = await metrics.query(rendered.samples_query, now)
    finally:
        metrics.close()
    assert value.error is None and samples.error is None, (value.error, samples.error)
    return evaluate_check(rendered, value, None, samples)


def _model() -> str:
    return f"lib-{uuid.uuid4().hex[:8]}"


def _started() -> datetime:
    return datetime.now(UTC) - timedelta(seconds=1)


def psi(stable: Sequence[int], candidate: Sequence[int]) -> float:
    """Population stability index of two binned distributions, empty bins at epsilon."""
    q_total, p_total = sum(stable), sum(candidate)
    total = 0.0
    for q_n, p_n in zip(stable, candidate, strict=True):
        p, q = max(p_n / p_total, PSI_EPSILON), max(q_n / q_total, PSI_EPSILON)
        total += (p - q) * math.log(p / q)
    return total


def histogram_p99(observations: Mapping[float, int], bounds: Sequence[float]) -> float:
    """The 99th percentile as Prometheus' histogram_quantile estimates it: find the bucket
    holding rank 0.99 * n, interpolate linearly inside it (from 0 for the first)."""
    n = sum(observations.values())
    rank = 0.99 * n
    below, lower = 0, 0.0
    for upper in bounds:
        cumulative = sum(c for value, c in observations.items() if value <= upper)
        if cumulative >= rank:
            return lower + (upper - lower) * (rank - below) / (cumulative - below)
        below, lower = cumulative, upper
    raise AssertionError("the 99th percentile falls in the +Inf bucket")


def _sel(model: str, metric: str) -> str:
    return f'{metric}{{model="{model}",version="{CANDIDATE}"}}'


async def test_accuracy(prometheus: PrometheusServer, exporter: SyntheticModelExporter) -> None:
    model, started = _model(), _started()
    counted_from_zero(
        prometheus,
        lambda: exporter.add_outcomes(model, CANDIDATE, 0, 0),
        lambda: exporter.add_outcomes(model, CANDIDATE, 1000, 850),
        _sel(model, "model_labeled_samples_total"),
        1,
        1000,
    )
    settle(prometheus, f"sum({_sel(model, 'model_correct_predictions_total')})", 850)
    result = await judge(prometheus, "accuracy", model, started)
    assert result.value == pytest.approx(850 / 1000, rel=1e-9)
    assert (result.verdict, result.reason) == (Verdict.FAILED, CheckReason.THRESHOLD_BREACHED)


@pytest.mark.parametrize(
    ("tp", "fp", "fn", "tn", "verdict"),
    [(720, 80, 180, 1020, Verdict.PASSED), (500, 200, 300, 1000, Verdict.FAILED)],
)
async def test_precision_recall_f1(
    prometheus: PrometheusServer,
    exporter: SyntheticModelExporter,
    tp: int,
    fp: int,
    fn: int,
    tn: int,
    verdict: Verdict,
) -> None:
    model, started = _model(), _started()
    counted_from_zero(
        prometheus,
        lambda: exporter.add_confusion(model, CANDIDATE),
        lambda: exporter.add_confusion(model, CANDIDATE, tp=tp, fp=fp, fn=fn, tn=tn),
        _sel(model, "model_confusion_matrix_total"),
        4,
        tp + fp + fn + tn,
    )
    precision, recall = tp / (tp + fp), tp / (tp + fn)
    f1 = 2 * precision * recall / (precision + recall)  # the harmonic mean, not 2tp/(...)
    expected = {"precision": precision, "recall": recall, "f1-score": f1}
    for name, value in expected.items():
        result = await judge(prometheus, name, model, started)
        assert result.value == pytest.approx(value, rel=1e-9), name
        assert result.samples is not None and result.samples >= tp + fp + fn + tn
    assert result.verdict is verdict  # F1 against its default min 0.8


async def test_error_rate(prometheus: PrometheusServer, exporter: SyntheticModelExporter) -> None:
    model, started = _model(), _started()
    counted_from_zero(
        prometheus,
        lambda: exporter.add_requests(model, CANDIDATE),
        lambda: exporter.add_requests(model, CANDIDATE, ok=970, errors=30),
        _sel(model, "model_requests_total"),
        2,
        1000,
    )
    result = await judge(prometheus, "error-rate", model, started)
    assert result.value == pytest.approx(30 / 1000, rel=1e-9)
    assert result.verdict is Verdict.FAILED  # 3% > max 1%


async def test_latency_p99(prometheus: PrometheusServer, exporter: SyntheticModelExporter) -> None:
    model, started = _model(), _started()
    observations = {0.03: 900, 0.2: 80, 0.7: 20}
    counted_from_zero(
        prometheus,
        lambda: exporter.observe_latencies(model, CANDIDATE, {}),
        lambda: exporter.observe_latencies(model, CANDIDATE, observations),
        _sel(model, "model_latency_seconds_count"),
        1,
        1000,
    )
    result = await judge(prometheus, "latency-p99", model, started)
    expected = histogram_p99(observations, LATENCY_BUCKETS)
    assert expected == pytest.approx(0.75)  # 0.5 + 0.5 * (990 - 980) / (1000 - 980)
    assert result.value == pytest.approx(expected, rel=1e-9)
    assert result.verdict is Verdict.FAILED  # 0.75 s > max 0.5 s


STABLE_SCORES = (50, 100, 150, 200, 200, 150, 100, 30, 15, 5)
# Scores moved up: the first bin empty (the clamp), the top bins fuller.
DRIFTED_SCORES = (0, 40, 80, 120, 160, 200, 180, 120, 60, 40)


@pytest.mark.parametrize(
    ("candidate", "verdict"),
    [(STABLE_SCORES, Verdict.PASSED), (DRIFTED_SCORES, Verdict.FAILED)],
    ids=["same", "drifted"],
)
async def test_prediction_drift_psi(
    prometheus: PrometheusServer,
    exporter: SyntheticModelExporter,
    candidate: Sequence[int],
    verdict: Verdict,
) -> None:
    model, started = _model(), _started()
    for version, counts in ((STABLE, STABLE_SCORES), (CANDIDATE, candidate)):
        scores = dict(zip(SCORE_BINS, counts, strict=True))
        counted_from_zero(
            prometheus,
            partial(exporter.observe_scores, model, version, {}),
            partial(exporter.observe_scores, model, version, scores),
            f'model_prediction_score_count{{model="{model}",version="{version}"}}',
            1,
            sum(counts),
        )
    result = await judge(prometheus, "prediction-drift-psi", model, started)
    expected = psi(STABLE_SCORES, candidate)
    assert result.value == pytest.approx(expected, rel=1e-9, abs=1e-12)
    assert result.verdict is verdict
    if verdict is Verdict.FAILED:
        assert expected > 0.2  # the default max: a real shift, not a rounding artefact


@pytest.mark.parametrize(
    ("labeled", "reason"),
    [(800, CheckReason.WITHIN_THRESHOLD), (300, CheckReason.TOO_FEW_SAMPLES)],
)
async def test_label_coverage_gates(
    prometheus: PrometheusServer,
    exporter: SyntheticModelExporter,
    labeled: int,
    reason: CheckReason,
) -> None:
    model, started = _model(), _started()
    counted_from_zero(
        prometheus,
        lambda: exporter.add_predictions(model, CANDIDATE, 0),
        lambda: exporter.add_predictions(model, CANDIDATE, 1000, labeled),
        _sel(model, "model_predictions_total"),
        1,
        1000,
    )
    settle(prometheus, f"sum({_sel(model, 'model_labeled_samples_total')})", labeled)
    result = await judge(prometheus, "label-coverage", model, started)
    assert result.reason == reason  # below 50% labelled: Inconclusive, never Failed
    assert result.verdict is not Verdict.FAILED
    if reason is CheckReason.WITHIN_THRESHOLD:
        assert result.value == pytest.approx(labeled / 1000, rel=1e-9)
    assert result.samples == pytest.approx(100 * labeled / 1000, rel=1e-9)


def test_every_library_template_is_tested_here() -> None:
    tested = {
        "accuracy",
        "precision",
        "recall",
        "f1-score",
        "error-rate",
        "latency-p99",
        "prediction-drift-psi",
        "label-coverage",
    }
    in_library = {p.stem for p in LIBRARY.glob("*.yaml")} - {"kustomization"}
    assert in_library == tested
