"""End-to-end: canary rollouts in replicas mode on the real API server (kwok pods become
Ready), real Prometheus scraping the synthetic exporter, and the real operator running
with deploy/base/rbac.yaml."""

from __future__ import annotations

import time
from typing import Any

import pytest
from kubernetes import client as k8s

from modelguard.core.clock import parse_rfc3339
from modelguard_testenv import PrometheusServer, SyntheticModelExporter
from modelguard_testenv.operator_process import OperatorProcess
from tests.e2e.cluster import Cluster
from tests.e2e.scenarios import DEPLOYMENT, MD, accuracy_spec, events, promote_v1, v, version

pytestmark = pytest.mark.e2e

CANARY = f"{DEPLOYMENT}-canary"
REPLICAS = 4  # steps 20 % and 50 %: one canary pod, then four


def canary_spec(prometheus_url: str, model: str, **extra: Any) -> dict[str, Any]:
    spec = accuracy_spec(prometheus_url, model, "v1", failure_threshold=2)
    spec["canary"] = {"steps": [20, 50], "stepDuration": "2s", "readyDeadline": "60s", **extra}
    return spec


def canary(cluster: Cluster) -> dict[str, Any] | None:
    try:
        return cluster.deployment(CANARY)
    except k8s.ApiException as exc:
        if exc.status == 404:
            return None
        raise


def at_step(cluster: Cluster, step: int) -> dict[str, Any] | None:
    status = cluster.status(MD).get("canary")
    if status and status["step"] == step and status.get("readyAt"):
        return dict(status)
    return None


def wait_at_step(cluster: Cluster, step: int, timeout: float, what: str = "") -> dict[str, Any]:
    """status.canary once step `step` (0-based) is Ready."""
    what = what or f"step {step + 1} Ready"
    return cluster.wait(lambda: at_step(cluster, step), timeout=timeout, what=what)


def wait_canary_gone(cluster: Cluster, timeout: float, what: str) -> None:
    """Until the canary is over: status.canary cleared and its Deployment deleted."""
    cluster.wait(
        lambda: "canary" not in cluster.status(MD) and canary(cluster) is None,
        timeout=timeout,
        what=what,
    )


def start_canary(
    cluster: Cluster,
    prometheus: PrometheusServer,
    exporter: SyntheticModelExporter,
    accuracy: dict[str, float],
) -> None:
    spec = canary_spec(prometheus.url, cluster.namespace)
    promote_v1(cluster, exporter, spec, {"v1": 0.95, **accuracy}, replicas=REPLICAS)
    cluster.patch_spec(MD, {"version": version("v2")})


def test_a_canary_that_passes_every_step_is_promoted(
    cluster: Cluster,
    operator: OperatorProcess,
    prometheus: PrometheusServer,
    exporter: SyntheticModelExporter,
) -> None:
    with cluster.record_versions(DEPLOYMENT) as recorder:
        start_canary(cluster, prometheus, exporter, {"v2": 0.96})
        first = wait_at_step(cluster, 0, timeout=30)
        assert (first["desiredWeight"], first["canaryReplicas"]) == (20, 1)
        assert first["actualWeight"] == 20.0
        body = canary(cluster)
        assert body is not None
        owner = body["metadata"]["ownerReferences"][0]
        assert (owner["kind"], owner["name"], owner["controller"]) == ("ModelDeployment", MD, True)
        assert body["spec"]["selector"]["matchLabels"] == {
            "app": DEPLOYMENT,
            "modelguard.io/track": "canary",
        }
        container = body["spec"]["template"]["spec"]["containers"][0]
        assert container["image"] == v("v2")[0]
        assert cluster.running_version(DEPLOYMENT) == v("v1")  # the target is untouched

        second = wait_at_step(cluster, 1, timeout=40)
        assert (second["desiredWeight"], second["canaryReplicas"]) == (50, 4)
        assert cluster.running_version(DEPLOYMENT) == v("v1")
        last = cluster.status(MD).get("lastEvaluation") or {}
        assert last.get("version") == "v2"  # the canary is what the checks judge

        wait_canary_gone(cluster, timeout=60, what="promoted and the canary removed")
        assert cluster.running_version(DEPLOYMENT) == v("v2")
        cluster.wait_promoted(MD, "v2")
        assert recorder.versions == [v("v1"), v("v2")]  # the target changed once
    for reason in ("CanaryStarted", "CanaryStepAdvanced", "CanaryPromoted", "CanaryCompleted"):
        assert len(events(cluster, reason)) == 1, reason
    assert len(events(cluster, "VersionApplied")) == 1
    assert cluster.condition(MD, "Canary") is not None
    assert cluster.condition(MD, "Canary")["reason"] == "CanaryPromoted"  # type: ignore[index]


def test_a_canary_that_degrades_at_step_two_is_aborted(
    cluster: Cluster,
    operator: OperatorProcess,
    prometheus: PrometheusServer,
    exporter: SyntheticModelExporter,
) -> None:
    with cluster.record_versions(DEPLOYMENT) as recorder:
        start_canary(cluster, prometheus, exporter, {"v2": 0.96})
        wait_at_step(cluster, 1, timeout=60)
        exporter.set(cluster.namespace, "v2", accuracy=0.80)
        wait_canary_gone(cluster, timeout=30, what="aborted and the canary removed")
        time.sleep(3)  # nothing comes back: the spec still asks for v2
        assert canary(cluster) is None
        assert recorder.versions == [v("v1")]  # the target was never touched
    status = cluster.status(MD)
    assert [q["name"] for q in status["quarantinedVersions"]] == ["v2"]
    assert status["phase"] == "RolledBack"
    [aborted] = events(cluster, "CanaryAborted")
    assert "step 2" in aborted["message"] and "0.8 < min 0.9" in aborted["message"]
    assert events(cluster, "VersionApplied") == []


def test_a_kill_during_a_canary_stops_it_and_the_release_restores_it(
    cluster: Cluster,
    operator: OperatorProcess,
    prometheus: PrometheusServer,
    exporter: SyntheticModelExporter,
) -> None:
    start_canary(cluster, prometheus, exporter, {"v2": 0.96})
    # A long first step, so that the canary is still at it when the kill comes.
    cluster.patch_spec(MD, {"canary": {"stepDuration": "10m"}})
    wait_at_step(cluster, 0, timeout=30)

    cluster.patch_spec(MD, {"killSwitch": {"enabled": True, "reason": "INC-9"}})
    cluster.wait(
        lambda: cluster.replicas(DEPLOYMENT) == 0 and canary_replicas(cluster) == 0,
        timeout=15,
        what="model and canary at 0",
    )
    saved = cluster.status(MD)["canary"]["savedReplicas"]
    assert saved == 1

    cluster.patch_spec(MD, {"killSwitch": {"enabled": False, "reason": ""}})
    cluster.wait(
        lambda: cluster.replicas(DEPLOYMENT) == REPLICAS and canary_replicas(cluster) == 1,
        timeout=20,
        what="model and canary restored",
    )
    restored = wait_at_step(cluster, 0, timeout=30, what="step 1 again")
    assert "savedReplicas" not in restored
    # The step starts over after the release, with a fresh warmup.
    released_at = cluster.status(MD)["killSwitchHistory"][-1]["releasedAt"]
    assert parse_rfc3339(restored["stepStartedAt"]) >= parse_rfc3339(released_at)


def canary_replicas(cluster: Cluster) -> int | None:
    body = canary(cluster)
    return None if body is None else int(body["spec"].get("replicas", 1))


def test_a_sigkill_during_promotion_converges_once(
    cluster: Cluster,
    operator: OperatorProcess,
    prometheus: PrometheusServer,
    exporter: SyntheticModelExporter,
) -> None:
    with cluster.record_versions(DEPLOYMENT) as recorder:
        start_canary(cluster, prometheus, exporter, {"v2": 0.96})
        cluster.wait(
            lambda: (cluster.status(MD).get("canary") or {}).get("phase") == "Promoting",
            timeout=60,
            what="promoting",
        )
        operator.kill()
        assert canary(cluster) is not None  # killed before the canary was removed
        time.sleep(2)
        operator.start()
        wait_canary_gone(cluster, timeout=60, what="promotion finished after the restart")
        assert cluster.running_version(DEPLOYMENT) == v("v2")
        assert recorder.versions == [v("v1"), v("v2")]
    # The canary is removed before its Events are posted and cleared from the outbox
    # (write-ahead): the outbox empties moments after, never to be posted twice.
    cluster.wait(
        lambda: cluster.status(MD).get("pendingEvents", []) == [],
        timeout=15,
        what="the outbox emptied",
    )
    for reason in ("CanaryPromoted", "VersionApplied", "CanaryCompleted"):
        assert len(events(cluster, reason)) == 1, reason
