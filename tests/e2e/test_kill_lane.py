"""End-to-end: the kill switch never waits, on the real API server and operator process.

The worst Prometheus is one that accepts connections and never answers: every query
runs out its timeout (10 s here) while holding a connection. With enough
ModelDeployments under analysis at a short interval, each asking its own query (one it
shares with no other object, so single flight cannot fold them), every evaluation slot
and every Prometheus connection is held all the time. A kill must still be enforced
within a second: it runs in a lane of its own, on Kubernetes threads of their own, and
never waits for an evaluation. The same holds right after an API-server outage, when kopf's watches
would otherwise sit out their retry backoff (up to 21 s).

Latency is what an SRE sees: from the PATCH returning to a watch of the Deployment
showing spec.replicas == 0.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any, cast

import pytest
import urllib3
from kubernetes import client as k8s

from modelguard_testenv import SilentServer, wait_for, wait_until_workloads_run
from modelguard_testenv.operator_process import OperatorProcess
from modelguard_testenv.recording import Watcher, as_json
from tests.e2e.cluster import Cluster

pytestmark = pytest.mark.e2e

MODELS = 30
KILL_WITHIN = 1.0  # seconds: the promise under test, not a tolerance for slow machines
REASON = "INC-9: stop it now"


@pytest.fixture
def silent() -> Iterator[SilentServer]:
    with SilentServer() as server:
        yield server


class ScaledToZero:
    """A watch of the namespace's Deployments (the harness's Watcher, events stamped on
    arrival): the latency from a PATCH to the first event showing spec.replicas == 0."""

    def __init__(self, cluster: Cluster) -> None:
        client = cluster.control_plane.api_client()  # the watcher's alone; it closes it
        apps = k8s.AppsV1Api(client)
        listed = as_json(
            json.loads(
                cast(
                    urllib3.BaseHTTPResponse,
                    apps.list_namespaced_deployment(cluster.namespace, _preload_content=False),
                ).data
            )
        )
        self._watcher = Watcher(
            "deployments",
            apps.list_namespaced_deployment,
            cluster.namespace,
            resource_version=listed["metadata"]["resourceVersion"],
            client=client,
        ).start()

    def latency(self, name: str, since: float, timeout: float = 30.0) -> float:
        seen = self._watcher.wait(
            name, lambda obj: obj["spec"].get("replicas") == 0, after=since, timeout=timeout
        )
        return seen.at - since

    def stop(self) -> None:
        self._watcher.stop()


def model(i: int) -> str:
    return f"model-{i:02d}"


def analysed(url: str, interval: str) -> dict[str, Any]:
    """Watch mode (no desired version), no warmup: analysis is due from the first tick."""
    return {
        "analysis": {
            "prometheus": {"url": url, "timeout": "10s"},
            "interval": interval,
            "warmup": "0s",
            "checks": [
                {"name": "accuracy", "query": 'model_accuracy{model="{{name}}"}', "min": 0.9}
            ],
        },
    }


def create_models(cluster: Cluster, count: int, url: str) -> None:
    for i in range(count):
        name = model(i)
        cluster.create_deployment(name, f"registry.local/{name}:1.0", replicas=1)
        spec = {"targetRef": {"name": name, "container": "server"}} | analysed(url, "1s")
        cluster.create_md(name, spec)

    def adopted() -> bool:
        listed = as_json(
            cluster.custom.list_namespaced_custom_object(
                "modelguard.io", "v1alpha1", cluster.namespace, "modeldeployments"
            )
        )
        items = listed["items"]
        return len(items) == count and all(
            (i.get("status") or {}).get("currentVersion") for i in items
        )

    cluster.wait(adopted, timeout=60, what=f"all {count} models adopted")


def kill(cluster: Cluster, name: str) -> float:
    """A merge patch of spec.killSwitch, as kubectl patch sends; when it returned, on the
    watcher's clock (perf_counter)."""
    cluster.patch_spec(name, {"killSwitch": {"enabled": True, "reason": REASON}})
    return time.perf_counter()


def under_analysis(silent: SilentServer, at_least: int) -> None:
    """Evaluations hold connections to the silent Prometheus: its pool is taken."""
    wait_for(
        lambda: silent.accepted >= at_least,
        timeout=30,
        what=f"{at_least} hanging Prometheus queries",
    )


def test_a_kill_is_enforced_within_a_second_while_prometheus_hangs(
    cluster: Cluster, operator: OperatorProcess, silent: SilentServer
) -> None:
    create_models(cluster, MODELS, silent.url)
    under_analysis(silent, 16)  # every evaluation slot and Prometheus connection is held
    watcher = ScaledToZero(cluster)
    try:
        latencies = {}
        for i in (3, 17, 29):
            sent = kill(cluster, model(i))
            latencies[model(i)] = watcher.latency(model(i), sent)
            time.sleep(1.0)  # one kill at a time; evaluations keep hanging meanwhile
    finally:
        watcher.stop()
    assert max(latencies.values()) < KILL_WITHIN, latencies
    assert cluster.replicas(model(0)) == 1  # nothing else was stopped
    assert silent.accepted >= 16


def test_a_kill_right_after_an_api_server_outage_is_enforced_within_a_second(
    cluster: Cluster, operator: OperatorProcess, silent: SilentServer
) -> None:
    create_models(cluster, 10, silent.url)
    plane = cluster.control_plane
    plane.stop_apiserver()
    try:
        # Long enough for kopf's default retries to back off to 13 s between attempts.
        time.sleep(25)
    finally:
        plane.start_apiserver()
    watcher = ScaledToZero(cluster)
    try:
        sent = kill(cluster, model(4))
        latency = watcher.latency(model(4), sent)
    finally:
        watcher.stop()
        # The scheduler, controller-manager and kwok recover on their own backoff: wait
        # for them here, or the next test's pods wait for them instead.
        wait_until_workloads_run(plane)
    assert latency < KILL_WITHIN, f"{latency:.3f}s"
    assert operator.running
