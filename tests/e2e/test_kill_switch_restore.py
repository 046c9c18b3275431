"""End-to-end: what the kill switch saved is restored when its ModelDeployment is deleted
(a GitOps prune during an incident), and a release that comes with a new desired version
brings the model back on that version, never on the one that was stopped.

Real API server, kwok pods and a real operator process running as its ServiceAccount
(deploy/base/rbac.yaml), so the finalizer patch is proved to be allowed too.
"""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from kubernetes.client.exceptions import ApiException

from modelguard_testenv.operator_process import OperatorProcess
from tests.e2e.cluster import Cluster
from tests.e2e.scenarios import DEPLOYMENT, image, version

pytestmark = pytest.mark.e2e

MD = "fraud"
FINALIZER = "modelguard.io/restore"
# A delete held by the finalizer: one watch event, a restore and its confirmation, a
# status write and the finalizer patch; the kill switch's own bound is 5 s per step.
DELETE_WITHIN = 10.0
OTHER = "example.com/keep"  # someone else's finalizer, e.g. a backup tool's
REASON = "INC-4712: scorer flags every card as fraud"


def kill_switch_only(**extra: Any) -> dict[str, Any]:
    return {"targetRef": {"name": DEPLOYMENT, "container": "server"}, **extra}


def switch(cluster: Cluster, enabled: bool) -> None:
    fields: dict[str, Any] = {"enabled": enabled}
    if enabled:
        fields["reason"] = REASON
    cluster.patch_spec(MD, {"killSwitch": fields})


def finalizers(cluster: Cluster) -> list[str]:
    """As `kubectl get -o json` shows them: what a GitOps diff sees."""
    got = cluster.control_plane.kubectl("get", "mdep", MD, "-n", cluster.namespace, "-o", "json")
    return list(json.loads(got.stdout)["metadata"].get("finalizers") or [])


def engaged(cluster: Cluster) -> bool:
    return bool((cluster.status(MD).get("killSwitch") or {}).get("engaged"))


def gone(cluster: Cluster) -> bool:
    try:
        cluster.md(MD)
    except ApiException as exc:
        if exc.status == 404:
            return True
        raise
    return False


def ready(cluster: Cluster) -> dict[str, Any] | None:
    condition = cluster.condition(MD, "Ready")
    return condition if condition is not None and condition["status"] == "True" else None


def ready_replicas(cluster: Cluster) -> int:
    return int(cluster.deployment(DEPLOYMENT).get("status", {}).get("readyReplicas") or 0)


def adopted(cluster: Cluster) -> bool:
    status = cluster.status(MD)
    return bool(status.get("phase") and status.get("currentVersion"))


def test_deleting_a_killed_model_deployment_restores_the_replicas_and_says_so(
    cluster: Cluster, operator: OperatorProcess
) -> None:
    cluster.create_deployment(DEPLOYMENT, image("v1"), replicas=3, model_tag="v1")
    cluster.create_md(MD, kill_switch_only())
    cluster.wait(lambda: adopted(cluster), timeout=20, what="the operator to adopt the model")
    assert finalizers(cluster) == []  # nothing engaged: nothing for a GitOps diff to see

    switch(cluster, enabled=True)
    cluster.wait(lambda: cluster.replicas(DEPLOYMENT) == 0, timeout=10, what="replicas 0")
    cluster.wait(lambda: engaged(cluster), timeout=5, what="status.killSwitch.engaged")
    assert finalizers(cluster) == [FINALIZER]

    # A GitOps prune: kubectl delete waits (by default) until the object is really gone.
    started = time.monotonic()
    cluster.control_plane.kubectl(
        "delete", "mdep", MD, "-n", cluster.namespace, "--timeout=30s", timeout=40
    )
    took = time.monotonic() - started
    print(f"kubectl delete with the kill switch engaged took {took:.2f}s")
    assert took < DELETE_WITHIN, f"the delete took {took:.2f}s"
    assert gone(cluster)
    assert cluster.replicas(DEPLOYMENT) == 3
    (event,) = cluster.wait(
        lambda: [e for e in cluster.events(DEPLOYMENT) if e["reason"] == "RestoredOnDelete"],
        timeout=5,
        what="a RestoredOnDelete Event on the Deployment",
    )
    assert event["type"] == "Normal"
    assert f"ModelDeployment {MD} was deleted while its kill switch was engaged" in event["message"]
    assert REASON in event["message"]
    assert "restored replicas 3" in event["message"]

    # Re-created (the next sync): it adopts a model that serves, and says Ready truthfully.
    cluster.create_md(MD, kill_switch_only())
    cluster.wait(lambda: ready(cluster), timeout=20, what="Ready=True")
    assert cluster.status(MD)["phase"] == "Healthy"
    assert cluster.replicas(DEPLOYMENT) == 3
    cluster.wait(lambda: ready_replicas(cluster) == 3, timeout=30, what="3 Ready pods")
    assert finalizers(cluster) == []


def test_a_delete_while_the_operator_is_down_restores_when_it_starts(
    cluster: Cluster, operator: OperatorProcess
) -> None:
    """Level-based: the object waits, finalizer and saved state included, for whoever
    reconciles it next; someone else's finalizer is left alone throughout."""
    cluster.create_deployment(DEPLOYMENT, image("v1"), replicas=3, model_tag="v1")
    cluster.create_md(MD, kill_switch_only())
    cluster.custom.patch_namespaced_custom_object(
        "modelguard.io", "v1alpha1", cluster.namespace, "modeldeployments", MD,
        {"metadata": {"finalizers": [OTHER]}},
    )  # fmt: skip
    cluster.wait(lambda: adopted(cluster), timeout=20, what="the operator to adopt the model")
    switch(cluster, enabled=True)
    cluster.wait(lambda: cluster.replicas(DEPLOYMENT) == 0, timeout=10, what="replicas 0")
    cluster.wait(lambda: engaged(cluster), timeout=5, what="status.killSwitch.engaged")
    assert finalizers(cluster) == [OTHER, FINALIZER]

    operator.stop()
    cluster.control_plane.kubectl("delete", "mdep", MD, "-n", cluster.namespace, "--wait=false")
    holds_zero = [cluster.replicas(DEPLOYMENT) for _ in range(3)]
    assert holds_zero == [0, 0, 0]
    assert cluster.md(MD)["metadata"].get("deletionTimestamp")
    operator.start()
    cluster.wait(lambda: cluster.replicas(DEPLOYMENT) == 3, timeout=15, what="replicas 3")
    cluster.wait(lambda: finalizers(cluster) == [OTHER], timeout=5, what="only the other one")
    assert cluster.replicas(DEPLOYMENT) == 3

    # The other finalizer's owner lets go: the object is gone, nothing was restored twice.
    cluster.custom.patch_namespaced_custom_object(
        "modelguard.io", "v1alpha1", cluster.namespace, "modeldeployments", MD,
        {"metadata": {"finalizers": None}},
    )  # fmt: skip
    cluster.wait(lambda: gone(cluster), timeout=10, what="the ModelDeployment gone")
    restored = [e for e in cluster.events(DEPLOYMENT) if e["reason"] == "RestoredOnDelete"]
    assert len(restored) == 1, restored


def test_release_with_a_new_version_never_serves_the_killed_version(
    cluster: Cluster, operator: OperatorProcess
) -> None:
    cluster.create_deployment(DEPLOYMENT, image("v2"), replicas=3, model_tag="v2")
    cluster.create_md(MD, kill_switch_only(version=version("v2")))
    cluster.wait(lambda: adopted(cluster), timeout=20, what="the operator to adopt the model")

    switch(cluster, enabled=True)  # v2 is what someone stopped
    cluster.wait(lambda: cluster.replicas(DEPLOYMENT) == 0, timeout=10, what="replicas 0")
    cluster.wait(lambda: engaged(cluster), timeout=5, what="status.killSwitch.engaged")
    cluster.patch_spec(MD, {"version": version("v3")})  # the fix, merged while killed
    cluster.wait(
        lambda: (cluster.status(MD).get("desiredVersion") or {}).get("name") == "v3",
        timeout=10,
        what="status.desiredVersion v3",
    )

    with cluster.record_versions(DEPLOYMENT) as recorder:
        switch(cluster, enabled=False)
        cluster.wait(
            lambda: (
                cluster.replicas(DEPLOYMENT) == 3
                and cluster.running_version(DEPLOYMENT) == (image("v3"), "v3")
            ),
            timeout=10,
            what="v3 at 3 replicas",
        )
        cluster.wait(lambda: not engaged(cluster), timeout=5, what="released")
        states = recorder.states
    assert states[0] == (0, image("v2"), "v2")
    assert states[-1] == (3, image("v3"), "v3")
    served_v2 = [s for s in states if s[0] > 0 and s[1:] == (image("v2"), "v2")]
    assert served_v2 == [], f"the killed v2 was scaled up again: {states}"
    assert cluster.status(MD)["currentVersion"]["name"] == "v3"
    cluster.wait(lambda: ready_replicas(cluster) == 3, timeout=30, what="3 Ready pods")
