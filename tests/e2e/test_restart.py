"""End-to-end: exactly once across a crash. The operator is SIGKILLed in the middle of a
degradation and restarted; the state in the CR status carries it on: one rollback decision,
one Event, the Deployment on the last known good version."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from kubernetes import client as k8s

from modelguard_testenv import PrometheusServer, SyntheticModelExporter
from modelguard_testenv.operator_process import OperatorProcess
from tests.e2e.cluster import Cluster
from tests.e2e.conftest import OPERATOR_NAMESPACE
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

OPERATOR_USER = f"system:serviceaccount:{OPERATOR_NAMESPACE}:modelguard"


def start_degradation(
    cluster: Cluster,
    prometheus: PrometheusServer,
    exporter: SyntheticModelExporter,
    failure_threshold: int,
) -> None:
    """v1 known good; v2 (accuracy 0.8 < 0.9) applied."""
    spec = accuracy_spec(
        prometheus.url, cluster.namespace, "v1", failure_threshold=failure_threshold
    )
    promote_v1(cluster, exporter, spec, {"v1": 0.95, "v2": 0.80})
    cluster.patch_spec(MD, {"version": version("v2")})


def assert_exactly_one_rollback(cluster: Cluster) -> dict[str, Any]:
    """The end state after the crash and the restart: one decision, carried out."""
    status = cluster.status(MD)
    assert "pendingAction" not in status
    assert status.get("pendingEvents", []) == []  # every decided Event was posted
    assert status["phase"] == "RolledBack"
    assert status["currentVersion"]["name"] == "v1"
    assert [q["name"] for q in status["quarantinedVersions"]] == ["v2"]
    assert [(h["version"], h["outcome"]) for h in status["history"]] == [
        ("v1", "Promoted"),
        ("v2", "RolledBack"),
        ("v1", "Promoted"),
    ]
    [event] = events(cluster, "RolledBack")
    assert "v2 -> v1" in event["message"]
    assert "0.8 < min 0.9" in event["message"]
    assert len(events(cluster, "VersionApplied")) == 1  # v2, once: not re-applied either
    return status


def test_crash_during_degradation_rolls_back_once(
    cluster: Cluster,
    operator: OperatorProcess,
    prometheus: PrometheusServer,
    exporter: SyntheticModelExporter,
) -> None:
    """Killed after the first failed evaluation, before the threshold: the restarted
    operator continues the count from the status (it neither forgets the failures nor
    decides twice)."""
    start_degradation(cluster, prometheus, exporter, failure_threshold=3)
    cluster.wait(
        lambda: cluster.status(MD).get("consecutiveFailures", 0) >= 1,
        timeout=20,
        what="first failed evaluation",
    )
    operator.kill()
    before = cluster.status(MD)
    assert cluster.running_version(DEPLOYMENT) == v("v2")
    assert 1 <= before["consecutiveFailures"] < 3, "killed too late to test the restart"
    assert "quarantinedVersions" not in before or before["quarantinedVersions"] == []

    time.sleep(2)  # down for a couple of intervals
    assert cluster.running_version(DEPLOYMENT) == v("v2")
    operator.start()
    restarted = time.monotonic()
    cluster.wait(
        lambda: cluster.running_version(DEPLOYMENT) == v("v1"), timeout=30, what="rolled back"
    )
    elapsed = time.monotonic() - restarted
    # The warmup is long over: at most failureThreshold x interval 1s + 10s.
    assert elapsed < 3 * 1 + 10, f"rollback after the restart took {elapsed:.1f}s"
    cluster.wait(
        lambda: cluster.status(MD).get("phase") == "RolledBack", timeout=10, what="settled"
    )
    status = assert_exactly_one_rollback(cluster)
    # The count went on from where the crashed process left it.
    reason = status["quarantinedVersions"][0]["reason"]
    assert reason.startswith("3 consecutive failed evaluations"), reason
    time.sleep(3)  # and nothing more happens
    assert cluster.running_version(DEPLOYMENT) == v("v1")
    assert_exactly_one_rollback(cluster)


# ------------------------------------------------------------------ crash after decision


@pytest.fixture
def blocked_rollback(cluster: Cluster) -> Iterator[Callable[[], None]]:
    """A ValidatingAdmissionPolicy that refuses the operator's patch back to v1 in this
    namespace: the rollback decision gets recorded, and its effect cannot happen until
    the policy goes. Yields a function that lifts the block."""
    admission = k8s.AdmissionregistrationV1Api(cluster.custom.api_client)
    name = f"block-rollback-{cluster.namespace}"
    v1_image = image("v1")
    policy = k8s.V1ValidatingAdmissionPolicy.model_validate(
        {
            "apiVersion": "admissionregistration.k8s.io/v1",
            "kind": "ValidatingAdmissionPolicy",
            "metadata": {"name": name},
            "spec": {
                "failurePolicy": "Fail",
                "matchConstraints": {
                    "resourceRules": [
                        {
                            "apiGroups": ["apps"],
                            "apiVersions": ["v1"],
                            "operations": ["UPDATE"],
                            "resources": ["deployments"],
                        }
                    ]
                },
                "validations": [
                    {
                        "expression": (
                            f"request.userInfo.username != '{OPERATOR_USER}' || "
                            f"object.spec.template.spec.containers[0].image != '{v1_image}' || "
                            f"oldObject.spec.template.spec.containers[0].image == '{v1_image}'"
                        ),
                        "message": "test: the rollback patch is blocked",
                    }
                ],
            },
        }
    )
    admission.create_validating_admission_policy(policy)
    binding = k8s.V1ValidatingAdmissionPolicyBinding.model_validate(
        {
            "apiVersion": "admissionregistration.k8s.io/v1",
            "kind": "ValidatingAdmissionPolicyBinding",
            "metadata": {"name": name},
            "spec": {
                "policyName": name,
                "validationActions": ["Deny"],
                "matchResources": {
                    "namespaceSelector": {
                        "matchLabels": {"kubernetes.io/metadata.name": cluster.namespace}
                    }
                },
            },
        }
    )
    admission.create_validating_admission_policy_binding(binding)

    def lift() -> None:
        for delete in (
            admission.delete_validating_admission_policy_binding,
            admission.delete_validating_admission_policy,
        ):
            try:
                delete(name)
            except k8s.ApiException as exc:
                if exc.status != 404:
                    raise

    try:
        yield lift
    finally:
        lift()


def test_crash_after_the_rollback_is_recorded_finishes_it_without_deciding_again(
    cluster: Cluster,
    operator: OperatorProcess,
    prometheus: PrometheusServer,
    exporter: SyntheticModelExporter,
    blocked_rollback: Callable[[], None],
) -> None:
    """The decision is in the status (pendingAction, quarantine, history), the Deployment
    still runs v2 (its patch is refused), and the operator dies. The restarted one must
    finish that rollback, not decide a second one."""
    with cluster.record_versions(DEPLOYMENT) as recorder:
        start_degradation(cluster, prometheus, exporter, failure_threshold=2)
        pending = cluster.wait(
            lambda: (
                (cluster.status(MD).get("pendingAction") or {}).get("kind") == "rollback"
                and cluster.status(MD)
            ),
            timeout=30,
            what="rollback decision recorded",
        )
        cluster.wait(lambda: events(cluster, "RolledBack"), timeout=5, what="RolledBack Event")
        time.sleep(1)  # the operator retries the refused patch; it must not decide again
        operator.kill()
        before = cluster.status(MD)
        assert before["pendingAction"] == pending["pendingAction"]
        assert before["lastActionTime"] == pending["lastActionTime"]
        assert cluster.running_version(DEPLOYMENT) == v("v2"), "the block did not hold"
        assert before["pendingAction"]["target"]["name"] == "v1"

        blocked_rollback()
        time.sleep(1)  # let the API server drop the policy
        operator.start()
        cluster.wait(lambda: cluster.running_version(DEPLOYMENT) == v("v1"), timeout=30, what="v1")
        cluster.wait(
            lambda: cluster.status(MD).get("phase") == "RolledBack", timeout=10, what="settled"
        )
        time.sleep(3)
        assert recorder.versions == [v("v1"), v("v2"), v("v1")]

    status = assert_exactly_one_rollback(cluster)
    # The same decision, not a second one with the same outcome.
    assert status["lastActionTime"] == before["lastActionTime"]
    assert status["quarantinedVersions"] == before["quarantinedVersions"]
    assert status["history"][:2] == before["history"][:2]


def test_crash_right_after_the_rollback_is_recorded(
    cluster: Cluster,
    operator: OperatorProcess,
    prometheus: PrometheusServer,
    exporter: SyntheticModelExporter,
) -> None:
    """No block this time: a watch on the ModelDeployment kills the operator the instant
    the recorded decision shows up, wherever the process then is (posting the Event,
    patching the Deployment, confirming it)."""

    def rollback_recorded(md: dict[str, Any]) -> bool:
        return ((md.get("status") or {}).get("pendingAction") or {}).get("kind") == "rollback"

    with cluster.watch_mds() as mds:
        start_degradation(cluster, prometheus, exporter, failure_threshold=2)
        # Woken by the watch thread the moment the event's line arrives.
        decided = mds.wait(MD, rollback_recorded, after=0, timeout=40)
        operator.kill()
    seen: dict[str, Any] = decided.obj["status"]
    assert not operator.running
    # The decision and its Event were recorded in one write: the Event cannot be lost.
    assert "RolledBack" in [e["reason"] for e in seen.get("pendingEvents", [])]
    print(f"killed with the Deployment on {cluster.running_version(DEPLOYMENT)}")

    operator.start()
    cluster.wait(lambda: cluster.running_version(DEPLOYMENT) == v("v1"), timeout=30, what="v1")
    cluster.wait(
        lambda: cluster.status(MD).get("phase") == "RolledBack", timeout=10, what="settled"
    )
    time.sleep(3)
    status = assert_exactly_one_rollback(cluster)
    assert status["lastActionTime"] == seen["lastActionTime"]
    assert status["quarantinedVersions"] == seen["quarantinedVersions"]
