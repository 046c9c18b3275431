"""The shared Prometheus pool against a real Prometheus, counted by Prometheus itself:
its own /metrics say how many query requests it served
(`prometheus_http_requests_total{handler="/api/v1/query"}`) and how many connections it
accepted (`net_conntrack_listener_conn_accepted_total`); and the real operator counts
what its evaluations asked against what it sent.
"""

from __future__ import annotations

import asyncio
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from modelguard.adapters.prometheus_pool import PrometheusPool
from modelguard.core.ports import QueryResult
from modelguard_testenv import PrometheusServer, SyntheticModelExporter, UserCredentials
from modelguard_testenv.operator_process import OperatorProcess
from tests.e2e.cluster import Cluster
from tests.e2e.scenarios import MD, accuracy_spec, promote_v1, user_checks

pytestmark = pytest.mark.e2e


def served(prometheus: PrometheusServer, metric: str, **labels: str) -> float:
    """The sum of one counter of Prometheus' own /metrics over the series with `labels`."""
    with urllib.request.urlopen(f"{prometheus.url}/metrics", timeout=5) as response:
        text = response.read().decode()
    return sum(
        sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == metric and all(sample.labels.get(k) == v for k, v in labels.items())
    )


def query_requests(prometheus: PrometheusServer) -> float:
    return served(prometheus, "prometheus_http_requests_total", handler="/api/v1/query")


async def ask_all(
    pool: PrometheusPool, url: str, asks: list[tuple[str, str | None]]
) -> list[QueryResult]:
    """Every (query, token) asked at once, each by a source of its own (one evaluation)."""
    return list(await asyncio.gather(*(pool.source(url, 10, t).query(q) for q, t in asks)))


async def test_one_request_serves_twenty_identical_queries(prometheus: PrometheusServer) -> None:
    now = time.time()  # one instant for every ask: the tick cannot turn between them
    pool = PrometheusPool(clock=lambda: now)
    before = query_requests(prometheus)
    try:
        results = await ask_all(pool, prometheus.url, [("vector(0.25)", None)] * 20)
    finally:
        await pool.close()
    assert [(r.value, r.error) for r in results] == [(0.25, None)] * 20
    assert query_requests(prometheus) - before == 1
    assert (pool.stats.queries, pool.stats.requests) == (20, 1)


async def test_other_queries_and_tokens_are_requests_of_their_own(
    prometheus: PrometheusServer,
) -> None:
    now = time.time()
    pool = PrometheusPool(clock=lambda: now)
    asks: list[tuple[str, str | None]] = [(f"vector({i})", None) for i in range(5)]
    asks += [("vector(0)", "another-token")]  # Prometheus ignores it; the key does not
    asks += [("vector(1) + vector(2)", None)]  # '+' reaches Prometheus as a plus
    before = query_requests(prometheus)
    try:
        results = await ask_all(pool, prometheus.url, asks)
    finally:
        await pool.close()
    assert [r.value for r in results] == [0, 1, 2, 3, 4, 0, 3]
    assert query_requests(prometheus) - before == 7


async def test_evaluations_one_after_another_reuse_one_connection(
    prometheus: PrometheusServer,
) -> None:
    pool = PrometheusPool(tick=0)  # no sharing: ten requests
    accepted = served(prometheus, "net_conntrack_listener_conn_accepted_total")
    before = query_requests(prometheus)
    try:
        for i in range(10):
            source = pool.source(prometheus.url, 10, None)
            assert (await source.query(f"vector({i})")).value == i
            source.close()
        # Prometheus counts the connection when it accepts it: our /metrics reads open
        # connections too (urllib, one each), so count around them.
        opened = served(prometheus, "net_conntrack_listener_conn_accepted_total") - accepted
    finally:
        await pool.close()
    assert query_requests(prometheus) - before == 10
    # The pool's one connection and this read's (a scrape of its own that reconnected
    # may add one); a connection per evaluation would be 11.
    assert opened <= 3, opened


async def test_bad_promql_through_the_pool_is_still_a_spec_problem(
    prometheus: PrometheusServer,
) -> None:
    pool = PrometheusPool()
    try:
        result = await pool.source(prometheus.url, 10, None).query('up{job="x"')
    finally:
        await pool.close()
    assert result.invalid_query
    assert result.error is not None and result.error.startswith("bad PromQL: ")


@pytest.fixture
def metered(
    operator_identity: UserCredentials, namespace: str, tmp_path: Path
) -> Iterator[OperatorProcess]:
    """The operator with its /metrics port."""
    process = OperatorProcess(
        operator_identity.kubeconfig, tmp_path / "op.log", namespaces=[namespace], metrics=True
    )
    process.start()
    try:
        yield process
    finally:
        process.stop()


def operator_counters(operator: OperatorProcess) -> tuple[float, float]:
    """(queries asked, HTTP requests sent) from the operator's own /metrics."""
    url = f"http://127.0.0.1:{operator.metrics_port}/metrics"
    with urllib.request.urlopen(url, timeout=5) as response:
        text = response.read().decode()
    found = {
        sample.name: sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }
    return (
        found.get("modelguard_prometheus_queries_total", 0.0),
        found.get("modelguard_prometheus_requests_total", 0.0),
    )


def test_the_operator_sends_two_checks_of_one_query_once_and_counts_it(
    cluster: Cluster,
    metered: OperatorProcess,
    prometheus: PrometheusServer,
    exporter: SyntheticModelExporter,
) -> None:
    spec = accuracy_spec(prometheus.url, cluster.namespace, "v1")
    same = dict(spec["analysis"]["checks"][0], name="accuracy-again")
    spec["analysis"]["checks"].append(same)  # the same rendered query, twice an evaluation
    promote_v1(cluster, exporter, spec, {"v1": 0.95})

    counted = cluster.wait(
        lambda: (c := operator_counters(metered))[0] >= 10 and c,
        timeout=30,
        what="ten queries asked",
    )
    queries, requests = counted
    assert requests > 0
    # One request per evaluation, not two (one more if an evaluation straddled a tick).
    assert requests <= queries / 2 + 1, counted
    checks = user_checks(cluster.status(MD)["lastEvaluation"])
    assert [(c["name"], c["value"]) for c in checks] == [
        ("accuracy", 0.95),
        ("accuracy-again", 0.95),
    ]
