"""End-to-end: rollout health on the real API server, controller-manager and operator.

A version whose pods never become Ready exports no metrics, so its quality checks stay
Inconclusive (noData=hold); the built-in rollout check must still roll it back. The pods
are kwok's: an image containing NEVER_READY gets pods that stay Ready=False
(modelguard_testenv.stages).
"""

from __future__ import annotations

import time

import pytest

from modelguard_testenv import NEVER_READY, PrometheusServer, SyntheticModelExporter
from modelguard_testenv.operator_process import OperatorProcess
from tests.e2e.cluster import Cluster
from tests.e2e.scenarios import DEPLOYMENT, MD, accuracy_spec, image

pytestmark = pytest.mark.e2e

STUCK_IMAGE = f"registry.local/fraud-scorer:2.0-{NEVER_READY}"


def _unready_pods(cluster: Cluster) -> int:
    pods = cluster.core.list_namespaced_pod(cluster.namespace).items
    count = 0
    for pod in pods:
        assert pod.spec is not None and pod.status is not None  # the API server fills both
        conditions = pod.status.conditions or []
        if pod.spec.containers[0].image == STUCK_IMAGE and any(
            c.type == "Ready" and c.status == "False" for c in conditions
        ):
            count += 1
    return count


def test_a_version_whose_pods_never_get_ready_is_rolled_back(
    cluster: Cluster,
    operator: OperatorProcess,
    prometheus: PrometheusServer,
    exporter: SyntheticModelExporter,
) -> None:
    model = cluster.namespace
    exporter.set(model, "v1", accuracy=0.95)  # v2 exports nothing: its pods never run
    cluster.create_deployment(DEPLOYMENT, image("v1"), model_tag="v1")
    spec = accuracy_spec(prometheus.url, model, "v1")  # noData: hold
    spec["analysis"]["rolloutTimeout"] = "5s"
    cluster.create_md(MD, spec)
    cluster.wait_promoted(MD, "v1")
    v1_checks = cluster.status(MD)["lastEvaluation"]["checks"]
    assert [(c["name"], c["verdict"]) for c in v1_checks] == [
        ("accuracy", "Passed"),
        ("rollout", "Passed"),
    ]

    cluster.patch_spec(MD, {"version": {"image": STUCK_IMAGE, "modelTag": "v2"}})
    cluster.wait(
        lambda: cluster.running_version(DEPLOYMENT) == (STUCK_IMAGE, "v2"),
        timeout=10,
        what="v2 applied",
    )
    start = time.monotonic()
    # The harness really keeps them unready (else this test would prove nothing).
    cluster.wait(lambda: _unready_pods(cluster) > 0, timeout=15, what="an unready v2 pod")
    cluster.wait(
        lambda: "rolloutIncompleteSince" in cluster.status(MD),
        timeout=15,
        what="the incomplete rollout recorded",
    )
    cluster.wait(
        lambda: cluster.running_version(DEPLOYMENT) == (image("v1"), "v1"),
        timeout=40,
        what="rolled back to v1",
    )
    elapsed = time.monotonic() - start
    # rolloutTimeout 5s + failureThreshold 2 x interval 1s + 15s of slack
    assert elapsed < 5 + 2 * 1 + 15, f"rollback took {elapsed:.1f}s"

    status = cluster.status(MD)
    assert [q["name"] for q in status["quarantinedVersions"]] == ["v2"]
    reason = status["quarantinedVersions"][0]["reason"]
    assert "rollout: Failed (rollout incomplete for" in reason
    assert "accuracy: Inconclusive (query returned no series)" in reason
    rolled_back = [e for e in cluster.events(MD) if e["reason"] == "RolledBack"]
    assert len(rolled_back) == 1
    assert "rollout: Failed" in rolled_back[0]["message"]
    # v1 runs again with Ready pods: its rollout completes and nothing is left to time.
    cluster.wait(
        lambda: "rolloutIncompleteSince" not in cluster.status(MD),
        timeout=15,
        what="v1's rollout complete",
    )
