"""Prometheus scrapes the synthetic exporter fast enough for second-scale operator tests."""

from __future__ import annotations

import random
import time
import uuid

import pytest
from prometheus_api_client import PrometheusConnect

from modelguard_testenv import PrometheusServer, SyntheticModelExporter

pytestmark = pytest.mark.e2e

MAX_LATENCY = 3.0
POLL = 0.2


def _value(prom: PrometheusConnect, query: str) -> float | None:
    result = prom.custom_query(query)
    return float(result[0]["value"][1]) if result else None


def _seconds_until(prom: PrometheusConnect, query: str, expected: float) -> float:
    """Poll every 0.2 s; return how long it took for ``query`` to return ``expected``."""
    start = time.monotonic()
    while True:
        if _value(prom, query) == expected:
            return time.monotonic() - start
        if time.monotonic() - start > 2 * MAX_LATENCY:
            pytest.fail(f"{query} did not return {expected} within {2 * MAX_LATENCY}s")
        time.sleep(POLL)


def test_exporter_values_are_queryable_within_3s(
    prometheus: PrometheusServer, exporter: SyntheticModelExporter
) -> None:
    model = f"fraud-{uuid.uuid4().hex[:8]}"
    query = f'model_accuracy{{model="{model}",version="v1"}}'
    client = PrometheusConnect(url=prometheus.url)

    accuracy = round(random.uniform(0.80, 0.99), 4)
    exporter.set(model, "v1", accuracy=accuracy, up=1)
    first = _seconds_until(client, query, accuracy)

    # A change is seen as fast as a new series.
    degraded = round(accuracy - 0.2, 4)
    exporter.set(model, "v1", accuracy=degraded)
    change = _seconds_until(client, query, degraded)

    assert first < MAX_LATENCY, f"new series took {first:.2f}s"
    assert change < MAX_LATENCY, f"changed value took {change:.2f}s"

    # The other series the operator's checks use are there too.
    exporter.add_labeled(model, "v1", 500)
    exporter.observe_latency(model, "v1", 0.03, count=10)
    _seconds_until(client, f'model_labeled_samples_total{{model="{model}"}}', 500.0)
    _seconds_until(client, f'model_latency_seconds_count{{model="{model}"}}', 10.0)

    # Removing a version makes its data absent (an empty result), not zero.
    exporter.remove(model, "v1")
    start = time.monotonic()
    while client.custom_query(query):
        assert time.monotonic() - start < MAX_LATENCY, "removed series still returned"
        time.sleep(POLL)
