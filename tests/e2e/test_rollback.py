"""End-to-end: metric-driven rollback on the real API server, Prometheus and operator."""

from __future__ import annotations

import time
from typing import Any

import pytest

from modelguard_testenv import PrometheusServer, SyntheticModelExporter
from modelguard_testenv.operator_process import OperatorProcess
from tests.e2e.cluster import Cluster
from tests.e2e.scenarios import (
    DEPLOYMENT,
    MD,
    accuracy_spec,
    condition,
    events,
    promote_v1,
    v,
    version,
)

pytestmark = pytest.mark.e2e


def test_degraded_version_is_rolled_back_to_last_known_good(
    cluster: Cluster,
    operator: OperatorProcess,
    prometheus: PrometheusServer,
    exporter: SyntheticModelExporter,
) -> None:
    spec = accuracy_spec(prometheus.url, cluster.namespace, "v1")
    promote_v1(cluster, exporter, spec, {"v1": 0.95, "v2": 0.80})

    cluster.patch_spec(MD, {"version": version("v2")})
    start = time.monotonic()
    cluster.wait(
        lambda: cluster.running_version(DEPLOYMENT) == v("v2"),
        timeout=10,
        what="v2 applied",
    )
    cluster.wait(
        lambda: cluster.running_version(DEPLOYMENT) == v("v1"),
        timeout=30,
        what="rolled back to v1",
    )
    elapsed = time.monotonic() - start
    # warmup 2s + failureThreshold 2 x interval 1s + 10s
    assert elapsed < 2 + 2 * 1 + 10, f"rollback took {elapsed:.1f}s"

    status = cluster.status(MD)
    assert [q["name"] for q in status["quarantinedVersions"]] == ["v2"]
    assert "0.8 < min 0.9" in status["quarantinedVersions"][0]["reason"]
    rolled_back = cluster.condition(MD, "RolledBack")
    assert rolled_back is not None
    assert rolled_back["status"] == "True"
    assert "0.8 < min 0.9" in rolled_back["message"]
    assert rolled_back["observedGeneration"] == cluster.md(MD)["metadata"]["generation"]
    assert [h["outcome"] for h in status["history"]].count("RolledBack") == 1
    rollback_events = events(cluster, "RolledBack")
    assert len(rollback_events) == 1
    assert "v2 -> v1" in rollback_events[0]["message"]
    assert "0.8 < min 0.9" in rollback_events[0]["message"]


# ------------------------------------------------------------------ helpers


def names(entries: list[dict[str, Any]]) -> list[str]:
    return [e["name"] for e in entries]


def settled_on(cluster: Cluster, name: str, phase: str) -> bool | None:
    """The Deployment runs `name`, the operator has seen it there (no pending change)."""
    status = cluster.status(MD)
    return (
        cluster.running_version(DEPLOYMENT) == v(name)
        and (status.get("currentVersion") or {}).get("name") == name
        and "pendingAction" not in status
        and status.get("phase") == phase
    ) or None


# ------------------------------------------------------------------ quarantine


def test_quarantined_version_is_not_reapplied_while_desired_stays(
    cluster: Cluster,
    operator: OperatorProcess,
    prometheus: PrometheusServer,
    exporter: SyntheticModelExporter,
) -> None:
    """GitOps keeps spec.version = v2 after the rollback: the operator must not fight it
    by re-applying v2 on every evaluation; a new desired version is applied at once."""
    spec = accuracy_spec(prometheus.url, cluster.namespace, "v1")
    promote_v1(cluster, exporter, spec, {"v1": 0.95, "v2": 0.80, "v3": 0.96})

    with cluster.record_versions(DEPLOYMENT) as recorder:
        cluster.patch_spec(MD, {"version": version("v2")})
        cluster.wait(
            lambda: settled_on(cluster, "v1", "RolledBack"), timeout=30, what="rolled back"
        )
        rolled_back_at = cluster.status(MD)["lastActionTime"]

        # ~8 s = 8 evaluation intervals; v1 is evaluated (and passes) all along.
        evaluations: set[str] = set()
        deadline = time.monotonic() + 8
        while time.monotonic() < deadline:
            assert cluster.running_version(DEPLOYMENT) == v("v1")
            status = cluster.status(MD)
            assert status["phase"] == "RolledBack"
            assert status["currentVersion"]["name"] == "v1"
            assert status["desiredVersion"]["name"] == "v2"
            rolled_back = condition(cluster, "RolledBack")
            assert rolled_back["status"] == "True"
            assert rolled_back["reason"] == "DesiredVersionQuarantined"
            assert "desired v2 was rolled back" in rolled_back["message"]
            assert condition(cluster, "Ready")["status"] == "True"  # v1 serves, known good
            last = status.get("lastEvaluation") or {}
            if last.get("version") == "v1":
                assert last["verdict"] == "Passed"
                evaluations.add(last["time"])
            time.sleep(0.5)
        assert len(evaluations) >= 3, f"v1 was hardly evaluated: {sorted(evaluations)}"
        status = cluster.status(MD)
        assert status["lastActionTime"] == rolled_back_at  # no new action in between
        assert names(status["quarantinedVersions"]) == ["v2"]
        assert len(events(cluster, "VersionApplied")) == 1  # v2, once
        assert len(events(cluster, "RolledBack")) == 1

        cluster.patch_spec(MD, {"version": version("v3")})
        start = time.monotonic()
        cluster.wait(lambda: cluster.running_version(DEPLOYMENT) == v("v3"), timeout=10, what="v3")
        assert time.monotonic() - start < 5, "a new desired version is applied at once"
        cluster.wait_promoted(MD, "v3")
        assert recorder.versions == [v("v1"), v("v2"), v("v1"), v("v3")]

    status = cluster.status(MD)
    assert status["phase"] == "Healthy"
    assert names(status["quarantinedVersions"]) == ["v2"]  # still on record
    rolled_back = condition(cluster, "RolledBack")
    assert rolled_back["status"] == "False"
    assert rolled_back["reason"] == "NewVersion"
    assert [(h["version"], h["outcome"]) for h in status["history"]] == [
        ("v1", "Promoted"),
        ("v2", "RolledBack"),
        ("v1", "Promoted"),
        ("v3", "Promoted"),
    ]


def test_second_degradation_rolls_back_further_never_to_a_quarantined_version(
    cluster: Cluster,
    operator: OperatorProcess,
    prometheus: PrometheusServer,
    exporter: SyntheticModelExporter,
) -> None:
    """v1 good, v2 promoted, v3 bad -> back to v2; then v2 degrades -> back to v1. The
    rollback target is the last known good version that was never rolled back from:
    never v3, which is still the desired version."""
    model = cluster.namespace
    spec = accuracy_spec(prometheus.url, model, "v1")
    promote_v1(cluster, exporter, spec, {"v1": 0.95, "v2": 0.96, "v3": 0.80})

    with cluster.record_versions(DEPLOYMENT) as recorder:
        cluster.patch_spec(MD, {"version": version("v2")})
        cluster.wait_promoted(MD, "v2")

        cluster.patch_spec(MD, {"version": version("v3")})
        cluster.wait(lambda: settled_on(cluster, "v2", "RolledBack"), timeout=30, what="back to v2")
        status = cluster.status(MD)
        assert names(status["quarantinedVersions"]) == ["v3"]
        assert status["stableVersion"]["name"] == "v2"

        exporter.set(model, "v2", accuracy=0.70)
        start = time.monotonic()
        cluster.wait(lambda: cluster.running_version(DEPLOYMENT) == v("v1"), timeout=30, what="v1")
        elapsed = time.monotonic() - start
        # warmup 2s + failureThreshold 2 x interval 1s + 10s (v2's warmup already ran)
        assert elapsed < 2 + 2 * 1 + 10, f"second rollback took {elapsed:.1f}s"
        cluster.wait(
            lambda: settled_on(cluster, "v1", "RolledBack"), timeout=15, what="settled on v1"
        )
        # v3 is still desired and v2 still failing in Prometheus: neither comes back.
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            assert cluster.running_version(DEPLOYMENT) == v("v1")
            time.sleep(0.25)
        seen = recorder.versions

    assert seen == [v("v1"), v("v2"), v("v3"), v("v2"), v("v1")], seen
    assert seen.count(v("v3")) == 1  # only its own rollout
    status = cluster.status(MD)
    assert names(status["quarantinedVersions"]) == ["v3", "v2"]
    assert "0.7 < min 0.9" in status["quarantinedVersions"][1]["reason"]
    assert status["stableVersion"]["name"] == "v1"
    assert status["desiredVersion"]["name"] == "v3"
    rolled_back = condition(cluster, "RolledBack")
    assert rolled_back["status"] == "True"
    assert rolled_back["reason"] == "DesiredVersionQuarantined"
    assert "running v1" in rolled_back["message"]
    assert [(h["version"], h["outcome"]) for h in status["history"]] == [
        ("v1", "Promoted"),
        ("v2", "Promoted"),
        ("v3", "RolledBack"),
        ("v2", "RolledBack"),
        ("v1", "Promoted"),
    ]
    messages = sorted(m["message"] for m in events(cluster, "RolledBack"))
    assert len(messages) == 2, messages
    assert "v2 -> v1" in messages[0]
    assert "0.7 < min 0.9" in messages[0]
    assert "v3 -> v2" in messages[1]
    assert "0.8 < min 0.9" in messages[1]


# ------------------------------------------------------------------ report only


def test_report_only_reports_degradation_and_leaves_the_deployment(
    cluster: Cluster,
    operator: OperatorProcess,
    prometheus: PrometheusServer,
    exporter: SyntheticModelExporter,
) -> None:
    model = cluster.namespace
    spec = accuracy_spec(prometheus.url, model, "v1", automatic=False)
    promote_v1(cluster, exporter, spec, {"v1": 0.95, "v2": 0.80})

    cluster.patch_spec(MD, {"version": version("v2")})
    cluster.wait(
        lambda: (c := cluster.condition(MD, "Degraded")) and c["status"] == "True" and c,
        timeout=20,
        what="Degraded=True",
    )
    detected = cluster.wait(
        lambda: events(cluster, "DegradationDetected"), timeout=10, what="Event"
    )
    assert detected[0]["type"] == "Warning"
    assert "v2" in detected[0]["message"]
    assert "0.8 < min 0.9" in detected[0]["message"]
    assert "would roll back to v1" in detected[0]["message"]

    # Several more failing evaluations: still on v2, still reported, one Event.
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        assert cluster.running_version(DEPLOYMENT) == v("v2")
        time.sleep(0.25)
    status = cluster.status(MD)
    assert status["phase"] == "Degraded"
    assert status["consecutiveFailures"] >= 4
    assert status["currentVersion"]["name"] == "v2"
    assert status.get("quarantinedVersions", []) == []
    assert status["stableVersion"]["name"] == "v1"
    degraded = condition(cluster, "Degraded")
    assert degraded["reason"] == "ChecksFailing"
    assert "0.8 < min 0.9" in degraded["message"]
    assert condition(cluster, "Ready")["status"] == "False"
    assert condition(cluster, "RolledBack")["status"] == "False"
    assert len(events(cluster, "DegradationDetected")) == 1
    assert events(cluster, "RolledBack") == []

    # The model recovers: the report clears by itself.
    exporter.set(model, "v2", accuracy=0.97)
    cluster.wait(
        lambda: (c := cluster.condition(MD, "Degraded")) and c["status"] == "False" and c,
        timeout=15,
        what="Degraded=False",
    )
    assert cluster.running_version(DEPLOYMENT) == v("v2")
