"""End-to-end: the kill switch on the real API server, kwok pods and a real operator process.

Every switch is flipped the way an SRE does it during an incident: a merge patch of
spec.killSwitch (``kubectl patch mdep ... --type=merge``). Times that the product promises
("within a watch event", "on restart") are measured and asserted, not just waited for.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from modelguard_testenv import PrometheusServer, SyntheticModelExporter, wait_for
from modelguard_testenv.operator_process import OperatorProcess
from tests.e2e.cluster import Cluster
from tests.e2e.scenarios import (
    DEPLOYMENT,
    MD,
    accuracy_spec,
    events,
    image,
    promote_v1,
    v,
    version,
)

pytestmark = pytest.mark.e2e

FALLBACK = "fraud-rules"
MODEL_SELECTOR = {"app": DEPLOYMENT}
FALLBACK_SELECTOR = {"app": FALLBACK}
REASON = "INC-4711: scorer flags every card as fraud"
# What the product promises for enforcement: a manual scale-up or a restart is undone
# within one watch event plus one reconcile; 5 s leaves room for a loaded CI machine.
ENFORCE_WITHIN = 5.0


# ----------------------------------------------------------------- helpers


def kill_switch_only(kill_switch: dict[str, Any] | None = None) -> dict[str, Any]:
    """A ModelDeployment without analysis: it only guards the Deployment's kill switch."""
    spec: dict[str, Any] = {"targetRef": {"name": DEPLOYMENT, "container": "server"}}
    if kill_switch is not None:
        spec["killSwitch"] = kill_switch
    return spec


def fallback_switch(enabled: bool = False) -> dict[str, Any]:
    switch: dict[str, Any] = {
        "mode": "fallback",
        "fallback": {"serviceName": DEPLOYMENT, "selector": FALLBACK_SELECTOR},
    }
    if enabled:
        switch |= {"enabled": True, "reason": REASON}
    return switch


def patch_kill_switch(cluster: Cluster, fields: dict[str, Any]) -> float:
    """`kubectl patch mdep fraud --type=merge`; returns time.monotonic() when it returned."""
    cluster.control_plane.kubectl(
        "patch",
        "mdep",
        MD,
        "-n",
        cluster.namespace,
        "--type=merge",
        "-p",
        json.dumps({"spec": {"killSwitch": fields}}),
    )
    return time.monotonic()


def engage(cluster: Cluster, **extra: Any) -> float:
    return patch_kill_switch(cluster, {"enabled": True, "reason": REASON, **extra})


def release(cluster: Cluster) -> float:
    return patch_kill_switch(cluster, {"enabled": False})


def kill_status(cluster: Cluster) -> dict[str, Any]:
    return dict(cluster.status(MD).get("killSwitch") or {})


def engaged(cluster: Cluster) -> dict[str, Any] | None:
    ks = kill_status(cluster)
    return ks if ks.get("engaged") else None


def released(cluster: Cluster) -> bool:
    return not kill_status(cluster).get("engaged")


def parse_time(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def guarded(cluster: Cluster) -> bool:
    """The operator has adopted the Deployment (first reconcile written)."""
    status = cluster.status(MD)
    return bool(status.get("phase") and status.get("currentVersion"))


def ready_replicas(cluster: Cluster, name: str) -> int:
    return int(cluster.deployment(name).get("status", {}).get("readyReplicas") or 0)


def live_pods(cluster: Cluster, selector: dict[str, str]) -> int:
    label_selector = ",".join(f"{k}={v}" for k, v in sorted(selector.items()))
    pods = cluster.core.list_namespaced_pod(cluster.namespace, label_selector=label_selector)
    return sum(1 for p in pods.items if p.metadata and p.metadata.deletion_timestamp is None)


def holds(condition: Callable[[], bool], seconds: float, what: str, interval: float = 0.25) -> None:
    """Assert that `condition` stays true for `seconds` (a bounded "never happens")."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        assert condition(), f"{what} stopped holding"
        time.sleep(interval)


def time_until(condition: Callable[[], object], since: float, timeout: float, what: str) -> float:
    """Poll quickly until `condition`; return the seconds elapsed from monotonic `since`."""
    wait_for(condition, timeout=timeout, interval=0.05, what=what)
    return time.monotonic() - since


def create_model(cluster: Cluster, replicas: int, spec: dict[str, Any]) -> None:
    cluster.create_deployment(DEPLOYMENT, image("v1"), replicas=replicas, model_tag="v1")
    cluster.create_md(MD, spec)
    cluster.wait(lambda: guarded(cluster), timeout=20, what="the operator to adopt the model")


def create_fallback(cluster: Cluster, replicas: int | None) -> None:
    """The model's Service plus the rule-based fallback (None: no fallback Deployment)."""
    if replicas is not None:
        cluster.create_deployment(
            FALLBACK, "registry.local/fraud-rules:1.0", replicas=replicas, labels=FALLBACK_SELECTOR
        )
        cluster.wait(
            lambda: ready_replicas(cluster, FALLBACK) == replicas,
            timeout=30,
            what=f"{replicas} Ready fallback pods",
        )
    cluster.create_service(DEPLOYMENT, MODEL_SELECTOR)


# ----------------------------------------------------------------- 1. scaleToZero


def test_scale_to_zero_engages_and_release_restores_exact_replicas(
    cluster: Cluster, operator: OperatorProcess
) -> None:
    create_model(cluster, 7, kill_switch_only())
    cluster.wait(lambda: ready_replicas(cluster, DEPLOYMENT) == 7, timeout=30, what="7 Ready")

    before = datetime.now(UTC)
    patched = engage(cluster)
    took = time_until(lambda: cluster.replicas(DEPLOYMENT) == 0, patched, 10, "replicas 0")
    assert took < ENFORCE_WITHIN, f"scale to zero took {took:.2f}s"
    ks = cluster.wait(lambda: engaged(cluster), timeout=5, what="status.killSwitch.engaged")
    assert ks["mode"] == "scaleToZero"
    assert ks["reason"] == REASON
    # `kubectl patch` names a tool, not a person: no made-up name.
    assert ks["requestedBy"] == "unknown (field manager kubectl-patch)"
    assert ks["saved"] == {"replicas": 7}
    assert before - timedelta(seconds=1) <= parse_time(ks["since"]) <= datetime.now(UTC)

    status = cluster.status(MD)
    assert status["phase"] == "Killed"
    condition = cluster.condition(MD, "KillSwitchEngaged")
    assert condition is not None
    assert (condition["status"], condition["reason"]) == ("True", "ScaledToZero")
    assert REASON in condition["message"]
    assert "saved replicas 7" in condition["message"]
    assert condition["observedGeneration"] == cluster.md(MD)["metadata"]["generation"]
    ready = cluster.condition(MD, "Ready")
    assert ready is not None
    assert ready["status"] == "False"

    (event,) = cluster.wait(
        lambda: events(cluster, "KillSwitchEngaged"), 5, "a KillSwitchEngaged Event"
    )
    assert event["type"] == "Warning"
    assert REASON in event["message"]
    assert "by unknown (field manager kubectl-patch)" in event["message"]
    assert "7 -> 0" in event["message"]
    # The model really stops serving: its pods go away.
    cluster.wait(lambda: live_pods(cluster, MODEL_SELECTOR) == 0, timeout=30, what="no pods")

    patched = release(cluster)
    took = time_until(lambda: cluster.replicas(DEPLOYMENT) == 7, patched, 10, "replicas 7")
    assert took < ENFORCE_WITHIN, f"restore took {took:.2f}s"
    cluster.wait(lambda: released(cluster), timeout=5, what="status.killSwitch released")
    assert "saved" not in kill_status(cluster)
    condition = cluster.condition(MD, "KillSwitchEngaged")
    assert condition is not None
    assert (condition["status"], condition["reason"]) == ("False", "Released")
    (event,) = cluster.wait(lambda: events(cluster, "KillSwitchReleased"), 5, "released Event")
    assert event["type"] == "Normal"
    assert "restored replicas 7" in event["message"]
    assert cluster.status(MD)["phase"] == "Healthy"
    # The record outlives the release (and the Events' hour), through the CRD's schema.
    (record,) = cluster.status(MD)["killSwitchHistory"]
    assert record["engagedBy"] == record["releasedBy"] == "unknown (field manager kubectl-patch)"
    assert (record["reason"], record["mode"]) == (REASON, "scaleToZero")
    assert parse_time(record["engagedAt"]) == parse_time(ks["since"])
    assert parse_time(record["releasedAt"]) >= parse_time(record["engagedAt"])
    cluster.wait(lambda: ready_replicas(cluster, DEPLOYMENT) == 7, timeout=30, what="7 Ready")
    holds(lambda: cluster.replicas(DEPLOYMENT) == 7, 1.5, "replicas 7 after the release")
    assert len(events(cluster, "KillSwitchEngaged")) == 1


# ----------------------------------------------------------------- 2./3. fallback


def test_fallback_switches_the_service_and_leaves_the_model_running(
    cluster: Cluster, operator: OperatorProcess
) -> None:
    create_fallback(cluster, replicas=2)
    create_model(cluster, 3, kill_switch_only())

    # The whole fallback block arrives with the incident patch, nothing preconfigured.
    patched = engage(cluster, **fallback_switch())
    took = time_until(
        lambda: cluster.service_selector(DEPLOYMENT) == FALLBACK_SELECTOR,
        patched,
        10,
        "Service on the fallback",
    )
    assert took < ENFORCE_WITHIN, f"switching the Service took {took:.2f}s"
    ks = cluster.wait(lambda: engaged(cluster), timeout=5, what="status.killSwitch.engaged")
    assert ks["mode"] == "fallback"
    # No replicas saved: the model was not touched.
    assert ks["saved"] == {"selector": MODEL_SELECTOR, "service": DEPLOYMENT}
    assert ks["fallbackReady"] is True
    condition = cluster.condition(MD, "KillSwitchEngaged")
    assert condition is not None
    assert (condition["status"], condition["reason"]) == ("True", "TrafficOnFallback")
    assert cluster.status(MD)["phase"] == "Killed"
    (event,) = cluster.wait(
        lambda: events(cluster, "KillSwitchEngaged"), 5, "a KillSwitchEngaged Event"
    )
    assert f"Service {DEPLOYMENT} switched from app={DEPLOYMENT} to fallback" in event["message"]
    assert not events(cluster, "FallbackUnavailable")
    # The model keeps running (warm, for a fast release), only out of the traffic path.
    holds(lambda: cluster.replicas(DEPLOYMENT) == 3, 2.0, "the model at 3 replicas")
    assert cluster.service_selector(DEPLOYMENT) == FALLBACK_SELECTOR

    patched = release(cluster)
    took = time_until(
        lambda: cluster.service_selector(DEPLOYMENT) == MODEL_SELECTOR,
        patched,
        10,
        "Service back on the model",
    )
    assert took < ENFORCE_WITHIN, f"restoring the Service took {took:.2f}s"
    cluster.wait(lambda: released(cluster), timeout=5, what="status.killSwitch released")
    (event,) = cluster.wait(lambda: events(cluster, "KillSwitchReleased"), 5, "released Event")
    assert f"selector app={DEPLOYMENT}" in event["message"]
    assert cluster.replicas(DEPLOYMENT) == 3
    holds(
        lambda: cluster.service_selector(DEPLOYMENT) == MODEL_SELECTOR,
        1.5,
        "the original selector after the release",
    )


@pytest.mark.parametrize("fallback_replicas", [None, 0], ids=["fallback-absent", "fallback-at-0"])
def test_fallback_without_ready_pods_also_scales_the_model_to_zero(
    cluster: Cluster, operator: OperatorProcess, fallback_replicas: int | None
) -> None:
    create_fallback(cluster, replicas=fallback_replicas)
    # Preconfigured in Git; the incident patch only flips `enabled`.
    create_model(cluster, 3, kill_switch_only(fallback_switch()))

    patched = engage(cluster)
    took = time_until(
        lambda: (
            cluster.service_selector(DEPLOYMENT) == FALLBACK_SELECTOR
            and cluster.replicas(DEPLOYMENT) == 0
        ),
        patched,
        10,
        "Service on the fallback and the model at 0",
    )
    assert took < ENFORCE_WITHIN, f"the kill took {took:.2f}s"
    ks = cluster.wait(lambda: engaged(cluster), timeout=5, what="status.killSwitch.engaged")
    assert ks["saved"] == {"replicas": 3, "selector": MODEL_SELECTOR, "service": DEPLOYMENT}
    assert ks["fallbackReady"] is False
    condition = cluster.condition(MD, "KillSwitchEngaged")
    assert condition is not None
    assert (condition["status"], condition["reason"]) == ("True", "FallbackUnavailable")
    assert "fallback has no Ready pods" in condition["message"]
    # The decision's Events are posted after its actions and status write: wait for them.
    (warning,) = cluster.wait(
        lambda: events(cluster, "FallbackUnavailable"), 5, "a FallbackUnavailable Event"
    )
    assert warning["type"] == "Warning"
    assert f"app={FALLBACK} has no Ready pods" in warning["message"]
    (event,) = cluster.wait(
        lambda: events(cluster, "KillSwitchEngaged"), 5, "a KillSwitchEngaged Event"
    )
    assert "scaled 3 -> 0 replicas" in event["message"]

    patched = release(cluster)
    took = time_until(
        lambda: (
            cluster.service_selector(DEPLOYMENT) == MODEL_SELECTOR
            and cluster.replicas(DEPLOYMENT) == 3
        ),
        patched,
        10,
        "Service and replicas restored",
    )
    assert took < ENFORCE_WITHIN, f"the restore took {took:.2f}s"
    cluster.wait(lambda: released(cluster), timeout=5, what="status.killSwitch released")
    (event,) = cluster.wait(lambda: events(cluster, "KillSwitchReleased"), 5, "released Event")
    assert "restored replicas 3" in event["message"]
    assert f"selector app={DEPLOYMENT}" in event["message"]
    condition = cluster.condition(MD, "KillSwitchEngaged")
    assert condition is not None
    assert condition["status"] == "False"


def test_release_by_removing_the_whole_kill_switch_block_restores_the_service(
    cluster: Cluster, operator: OperatorProcess
) -> None:
    """GitOps: the incident commit adds the killSwitch block, and `git revert` removes it,
    fallback settings included. The release must still restore the saved selector."""
    create_fallback(cluster, replicas=1)
    create_model(cluster, 2, kill_switch_only())
    engage(cluster, **fallback_switch())
    cluster.wait(
        lambda: cluster.service_selector(DEPLOYMENT) == FALLBACK_SELECTOR,
        timeout=10,
        what="Service on the fallback",
    )
    cluster.wait(lambda: engaged(cluster), timeout=5, what="status.killSwitch.engaged")

    cluster.control_plane.kubectl(
        "patch",
        "mdep",
        MD,
        "-n",
        cluster.namespace,
        "--type=json",
        "-p",
        json.dumps([{"op": "remove", "path": "/spec/killSwitch"}]),
    )
    cluster.wait(
        lambda: cluster.service_selector(DEPLOYMENT) == MODEL_SELECTOR,
        timeout=10,
        what="Service back on the model",
    )
    cluster.wait(lambda: released(cluster), timeout=5, what="status.killSwitch released")
    (event,) = cluster.wait(lambda: events(cluster, "KillSwitchReleased"), 5, "released Event")
    assert f"selector app={DEPLOYMENT}" in event["message"]
    assert cluster.replicas(DEPLOYMENT) == 2


# ----------------------------------------------------------------- 4. enforcement


def test_manual_scale_up_while_engaged_is_reverted(
    cluster: Cluster, operator: OperatorProcess
) -> None:
    create_model(cluster, 7, kill_switch_only())
    engage(cluster)
    cluster.wait(lambda: cluster.replicas(DEPLOYMENT) == 0, timeout=10, what="replicas 0")
    cluster.wait(lambda: engaged(cluster), timeout=5, what="status.killSwitch.engaged")

    cluster.control_plane.kubectl(
        "scale", f"deployment/{DEPLOYMENT}", "--replicas=5", "-n", cluster.namespace
    )
    scaled = time.monotonic()
    took = time_until(lambda: cluster.replicas(DEPLOYMENT) == 0, scaled, 10, "reverted to 0")
    assert took < ENFORCE_WITHIN, f"the manual scale-up stood for {took:.2f}s"
    # The Event is the proof that the operator saw 5 and undid it.
    enforced = cluster.wait(
        lambda: events(cluster, "KillSwitchEnforced"), 5, "a KillSwitchEnforced Event"
    )
    assert any("scaled to 5" in e["message"] for e in enforced), enforced
    # The saved count is the one from before the kill, not the manual 5.
    assert kill_status(cluster)["saved"] == {"replicas": 7}
    holds(lambda: cluster.replicas(DEPLOYMENT) == 0, 1.5, "replicas 0 after the revert")

    release(cluster)
    cluster.wait(lambda: cluster.replicas(DEPLOYMENT) == 7, timeout=10, what="replicas 7")
    cluster.wait(lambda: released(cluster), timeout=5, what="status.killSwitch released")
    holds(lambda: cluster.replicas(DEPLOYMENT) == 7, 1.5, "replicas 7 after the release")


def test_manual_selector_edit_while_on_fallback_is_reverted(
    cluster: Cluster, operator: OperatorProcess
) -> None:
    create_fallback(cluster, replicas=1)
    create_model(cluster, 2, kill_switch_only(fallback_switch()))
    engage(cluster)
    cluster.wait(
        lambda: cluster.service_selector(DEPLOYMENT) == FALLBACK_SELECTOR,
        timeout=10,
        what="Service on the fallback",
    )
    cluster.wait(lambda: engaged(cluster), timeout=5, what="status.killSwitch.engaged")

    # Someone points the Service back at the model by hand, whole selector replaced.
    cluster.control_plane.kubectl(
        "patch",
        "service",
        DEPLOYMENT,
        "-n",
        cluster.namespace,
        "--type=json",
        "-p",
        json.dumps([{"op": "replace", "path": "/spec/selector", "value": MODEL_SELECTOR}]),
    )
    edited = time.monotonic()
    took = time_until(
        lambda: cluster.service_selector(DEPLOYMENT) == FALLBACK_SELECTOR,
        edited,
        10,
        "the selector switched back to the fallback",
    )
    assert took < ENFORCE_WITHIN, f"the manual selector edit stood for {took:.2f}s"
    enforced = cluster.wait(
        lambda: events(cluster, "KillSwitchEnforced"), 5, "a KillSwitchEnforced Event"
    )
    assert any(f"selector was app={DEPLOYMENT}" in e["message"] for e in enforced), enforced
    assert kill_status(cluster)["saved"] == {"selector": MODEL_SELECTOR, "service": DEPLOYMENT}
    assert cluster.replicas(DEPLOYMENT) == 2
    holds(
        lambda: cluster.service_selector(DEPLOYMENT) == FALLBACK_SELECTOR,
        1.5,
        "the fallback selector after the revert",
    )

    release(cluster)
    cluster.wait(
        lambda: cluster.service_selector(DEPLOYMENT) == MODEL_SELECTOR,
        timeout=10,
        what="Service back on the model",
    )
    cluster.wait(lambda: released(cluster), timeout=5, what="status.killSwitch released")
    assert cluster.replicas(DEPLOYMENT) == 2


# ----------------------------------------------------------------- 5. restarts


def test_switch_flipped_while_the_operator_is_down_is_enforced_on_start(
    cluster: Cluster, operator: OperatorProcess
) -> None:
    create_model(cluster, 7, kill_switch_only())

    operator.stop()
    engage(cluster)
    holds(lambda: cluster.replicas(DEPLOYMENT) == 7, 1.0, "nobody acts while it is down")
    operator.start()
    started = time.monotonic()
    took = time_until(lambda: cluster.replicas(DEPLOYMENT) == 0, started, 10, "replicas 0")
    assert took < ENFORCE_WITHIN, f"the model was stopped {took:.2f}s after the start"
    ks = cluster.wait(lambda: engaged(cluster), timeout=5, what="status.killSwitch.engaged")
    assert ks["saved"] == {"replicas": 7}
    # The Event is posted after the patch (it never delays a kill): wait for it, as above.
    cluster.wait(lambda: events(cluster, "KillSwitchEngaged"), 5, "engaged Event")
    assert len(events(cluster, "KillSwitchEngaged")) == 1

    operator.stop()
    release(cluster)
    holds(lambda: cluster.replicas(DEPLOYMENT) == 0, 1.0, "nobody acts while it is down")
    operator.start()
    started = time.monotonic()
    took = time_until(lambda: cluster.replicas(DEPLOYMENT) == 7, started, 10, "replicas 7")
    assert took < ENFORCE_WITHIN, f"the restore came {took:.2f}s after the start"
    cluster.wait(lambda: released(cluster), timeout=5, what="status.killSwitch released")
    condition = cluster.condition(MD, "KillSwitchEngaged")
    assert condition is not None
    assert condition["status"] == "False"
    assert cluster.running_version(DEPLOYMENT) == v("v1")
    holds(lambda: cluster.replicas(DEPLOYMENT) == 7, 1.5, "replicas 7 after the release")


# ----------------------------------------------------------------- 6. kill beats rollback


def test_kill_switch_preempts_a_pending_rollback(
    cluster: Cluster,
    operator: OperatorProcess,
    prometheus: PrometheusServer,
    exporter: SyntheticModelExporter,
) -> None:
    warmup = 3.0
    spec = accuracy_spec(
        prometheus.url, cluster.namespace, "v1", interval="1s", warmup="3s", failure_threshold=3
    )
    promote_v1(cluster, exporter, spec, {"v1": 0.95, "v2": 0.80})

    cluster.patch_spec(MD, {"version": version("v2")})
    cluster.wait(
        lambda: cluster.running_version(DEPLOYMENT) == v("v2"),
        timeout=10,
        what="v2 applied",
    )
    # The first failed evaluation starts the countdown to a rollback (2 more intervals);
    # the switch is hit right then, with a fast poll and an API call (no kubectl fork).
    wait_for(
        lambda: cluster.status(MD).get("consecutiveFailures", 0) >= 1,
        timeout=20,
        interval=0.05,
        what="v2's first failed evaluation",
    )
    cluster.patch_spec(MD, {"killSwitch": {"enabled": True, "reason": REASON}})
    cluster.wait(lambda: cluster.replicas(DEPLOYMENT) == 0, timeout=5, what="replicas 0")
    cluster.wait(lambda: engaged(cluster), timeout=5, what="status.killSwitch.engaged")
    at_kill = cluster.status(MD)
    failures = at_kill["consecutiveFailures"]
    assert 1 <= failures < 3
    evaluated = at_kill["lastEvaluation"]["time"]

    def still_killed_on_v2() -> bool:
        status = cluster.status(MD)
        return (
            cluster.running_version(DEPLOYMENT) == v("v2")
            and cluster.replicas(DEPLOYMENT) == 0
            and not status.get("quarantinedVersions")
            and status["lastEvaluation"]["time"] == evaluated  # no analysis while killed
            and status["consecutiveFailures"] == failures
            and status["phase"] == "Killed"
        )

    holds(still_killed_on_v2, 5.0, "killed on v2 with no evaluation and no rollback")
    assert not events(cluster, "RolledBack")

    released_at = datetime.now(UTC)
    cluster.patch_spec(MD, {"killSwitch": {"enabled": False}})
    cluster.wait(lambda: cluster.replicas(DEPLOYMENT) == 2, timeout=5, what="replicas 2")
    cluster.wait(lambda: released(cluster), timeout=5, what="status.killSwitch released")
    status = cluster.status(MD)
    assert status["consecutiveFailures"] == 0
    assert parse_time(status["currentVersion"]["since"]) >= released_at
    assert status["currentVersion"]["name"] == "v2"

    # A fresh warmup: the stopped model's metrics say nothing about the restarted one.
    warm_until = released_at + timedelta(seconds=warmup)
    remaining = (warm_until - datetime.now(UTC)).total_seconds() - 0.2
    assert remaining > 0.5, "the release took most of the warmup; cannot observe it"
    holds(
        lambda: cluster.status(MD)["lastEvaluation"]["time"] == evaluated,
        remaining,
        "no evaluation during the fresh warmup",
        interval=0.1,
    )
    resumed = cluster.wait(
        lambda: (
            (cluster.status(MD).get("lastEvaluation") or {}).get("time") != evaluated
            and cluster.status(MD)["lastEvaluation"]
        ),
        timeout=warmup + 10,
        what="analysis to resume",
    )
    assert parse_time(resumed["time"]) >= warm_until
    assert resumed["version"] == "v2"

    # v2 is still bad: counted from zero again, it is rolled back after 3 more failures.
    cluster.wait(
        lambda: cluster.running_version(DEPLOYMENT) == v("v1"),
        timeout=15,
        what="rollback to v1 after the release",
    )
    (rolled_back,) = cluster.wait(lambda: events(cluster, "RolledBack"), 5, "RolledBack Event")
    assert "3 consecutive failed evaluations" in rolled_back["message"]
    assert [q["name"] for q in cluster.status(MD)["quarantinedVersions"]] == ["v2"]


# ----------------------------------------------------------------- 7. desired version


def test_desired_version_change_while_killed_is_recorded_and_applied_on_release(
    cluster: Cluster, operator: OperatorProcess
) -> None:
    create_model(cluster, 3, {**kill_switch_only(), "version": version("v1")})
    engage(cluster)
    cluster.wait(lambda: cluster.replicas(DEPLOYMENT) == 0, timeout=10, what="replicas 0")
    cluster.wait(lambda: engaged(cluster), timeout=5, what="status.killSwitch.engaged")

    cluster.patch_spec(MD, {"version": version("v2")})
    cluster.wait(
        lambda: (cluster.status(MD).get("desiredVersion") or {}).get("name") == "v2",
        timeout=10,
        what="status.desiredVersion v2",
    )
    desired = cluster.status(MD)["desiredVersion"]
    assert (desired["image"], desired["modelTag"]) == v("v2")

    def killed_on_v1() -> bool:
        status = cluster.status(MD)
        return (
            cluster.running_version(DEPLOYMENT) == v("v1")
            and cluster.replicas(DEPLOYMENT) == 0
            and status["currentVersion"]["name"] == "v1"
            and status["phase"] == "Killed"
        )

    holds(killed_on_v1, 2.0, "v1 at 0 replicas while killed")
    assert not events(cluster, "VersionApplied")

    release(cluster)
    cluster.wait(
        lambda: (
            cluster.running_version(DEPLOYMENT) == v("v2") and cluster.replicas(DEPLOYMENT) == 3
        ),
        timeout=10,
        what="v2 applied at 3 replicas",
    )
    cluster.wait(
        lambda: cluster.status(MD)["currentVersion"]["name"] == "v2" and released(cluster),
        timeout=5,
        what="status: released, running v2",
    )
    (applied,) = events(cluster, "VersionApplied")
    assert "v2" in applied["message"]
    cluster.wait(lambda: ready_replicas(cluster, DEPLOYMENT) == 3, timeout=30, what="3 Ready")
