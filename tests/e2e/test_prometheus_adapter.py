"""The Prometheus adapter against a real Prometheus: a good query, bad PromQL in
Prometheus' own words (not a Python bytes repr of its body), and a stopped server."""

from __future__ import annotations

import pytest

from modelguard.adapters.prometheus import PrometheusMetrics
from modelguard_testenv import PrometheusServer, SyntheticModelExporter

pytestmark = pytest.mark.e2e


async def test_bad_promql_is_reported_in_prometheus_words(prometheus: PrometheusServer) -> None:
    metrics = PrometheusMetrics(prometheus.url, 10)
    try:
        result = await metrics.query('model_accuracy{model="x"')  # no closing brace
    finally:
        metrics.close()
    assert result.error is not None
    assert result.error.startswith("bad PromQL: ")
    assert "parse error" in result.error
    assert "b'" not in result.error
    assert '\\"' not in result.error  # the JSON string decoded, not shown escaped


async def test_a_good_query_and_a_stopped_prometheus(
    prometheus: PrometheusServer, exporter: SyntheticModelExporter
) -> None:
    metrics = PrometheusMetrics(prometheus.url, 10)
    try:
        good = await metrics.query("vector(0.25)")
        assert (good.value, good.series, good.error) == (0.25, 1, None)
        prometheus.stop()  # restarted for the next test by tests/conftest.py
        down = await metrics.query("vector(0.25)")
    finally:
        metrics.close()
    assert down.error == f"Prometheus at {prometheus.url} unreachable: connection refused"
