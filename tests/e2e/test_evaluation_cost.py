"""End-to-end: what an evaluation costs the API server, on the real one.

With the production defaults (watch cache, status refreshed every 5 minutes, slots),
an operator evaluating a healthy model every second makes no GET of the ModelDeployment
or its Deployment and no PATCH: counted by the API server itself (apiserver_request_total)
and seen on the object (its resourceVersion does not move) while the operator's own
counter shows the evaluations going on. A verdict change is still written at once.
"""

from __future__ import annotations

import time
import urllib.request
from typing import Any, cast

import pytest
from prometheus_client.parser import text_string_to_metric_families

from modelguard_testenv import ControlPlane, PrometheusServer, SyntheticModelExporter
from modelguard_testenv._process import free_port
from modelguard_testenv.operator_process import OperatorProcess
from tests.e2e.cluster import Cluster
from tests.e2e.scenarios import MD, accuracy_spec, promote_v1

pytestmark = pytest.mark.e2e

PRODUCTION = {
    "MODELGUARD_STATUS_REFRESH_SECONDS": "300",
    "MODELGUARD_SPREAD_EVALUATIONS": "true",
    "MODELGUARD_STARTUP_SPREAD_SECONDS": "30",
    "MODELGUARD_METRICS_PORT": str(free_port()),
}
STEADY_SECONDS = 8.0


def api_requests(control_plane: ControlPlane) -> dict[tuple[str, str], float]:
    """(verb, resource) -> requests the API server has served, for the two kinds."""
    text = control_plane.kubectl("get", "--raw", "/metrics").stdout
    counts: dict[tuple[str, str], float] = {}
    for family in text_string_to_metric_families(text):
        if family.name != "apiserver_request":
            continue
        for sample in family.samples:
            if not sample.name.endswith("_total"):
                continue
            resource = sample.labels.get("resource", "")
            if resource in ("modeldeployments", "deployments"):
                key = (sample.labels.get("verb", ""), resource)
                counts[key] = counts.get(key, 0.0) + sample.value
    return counts


def operator_counter(operator: OperatorProcess, name: str, **labels: str) -> float:
    url = f"http://127.0.0.1:{operator.metrics_port}/metrics"
    with urllib.request.urlopen(url, timeout=5) as response:
        text = response.read().decode()
    total = 0.0
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                total += sample.value
    return total


def listed_md(cluster: Cluster) -> dict[str, Any]:
    """The ModelDeployment by a LIST, not a GET: the test's reads must not count."""
    listed = cast(
        dict[str, Any],
        cluster.custom.list_namespaced_custom_object(
            "modelguard.io", "v1alpha1", cluster.namespace, "modeldeployments"
        ),
    )
    [item] = [i for i in listed["items"] if i["metadata"]["name"] == MD]
    return cast(dict[str, Any], item)


def resource_version(cluster: Cluster) -> str:
    return str(listed_md(cluster)["metadata"]["resourceVersion"])


def verdict(cluster: Cluster) -> str | None:
    evaluation = (listed_md(cluster).get("status") or {}).get("lastEvaluation") or {}
    return cast(str | None, evaluation.get("verdict"))


@pytest.mark.parametrize("operator", [PRODUCTION], indirect=True)
def test_steady_state_evaluations_make_no_requests_and_a_verdict_change_is_written(
    cluster: Cluster,
    control_plane: ControlPlane,
    operator: OperatorProcess,
    prometheus: PrometheusServer,
    exporter: SyntheticModelExporter,
) -> None:
    spec = accuracy_spec(
        prometheus.url, cluster.namespace, "v1", interval="1s", failure_threshold=1
    )
    promote_v1(cluster, exporter, spec, {"v1": 0.95})
    time.sleep(2.0)  # promoted and written: from here on nothing changes

    requests = api_requests(control_plane)
    version = resource_version(cluster)
    evaluations = operator_counter(operator, "modelguard_evaluations_total")
    misses = operator_counter(operator, "modelguard_cache_reads_total", result="miss")
    time.sleep(STEADY_SECONDS)
    moved = resource_version(cluster) != version  # read first: the counts below include it
    evaluated = operator_counter(operator, "modelguard_evaluations_total") - evaluations
    after = api_requests(control_plane)

    assert evaluated >= STEADY_SECONDS / 2, f"only {evaluated} evaluations"
    spent = {k: after.get(k, 0.0) - requests.get(k, 0.0) for k in after}
    for kind in ("modeldeployments", "deployments"):
        assert spent.get(("GET", kind), 0.0) == 0.0, f"GET {kind}: {spent}"
    assert operator_counter(operator, "modelguard_cache_reads_total", result="miss") == misses
    # Every evaluation wrote its status before; now none does. Only a verdict change is
    # written (on a loaded machine a scrape can fail: Inconclusive, then Passed again,
    # each written with its Event), so the object moves only if the verdict did.
    patches = spent.get(("PATCH", "modeldeployments"), 0.0)
    assert patches <= evaluated / 3, f"{patches} PATCHes for {evaluated} evaluations: {spent}"
    if patches == 0:
        assert not moved  # no write of any kind
    skipped = operator_counter(operator, "modelguard_status_writes_skipped_total")
    assert skipped >= evaluated - patches - 1

    exporter.set(cluster.namespace, "v1", accuracy=0.80)
    changed = time.monotonic()
    cluster.wait(lambda: verdict(cluster) == "Failed", timeout=10, what="the Failed verdict")
    # A scrape (1 s), the interval (1 s) and its slot: written at once, not at the refresh.
    assert time.monotonic() - changed < 6.0
