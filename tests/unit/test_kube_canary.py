"""The kube adapter's canary writes against a recording stand-in for AppsV1Api: the
canary is created, scaled, re-derived and deleted; the target is only ever read."""

from __future__ import annotations

import asyncio
import copy
from typing import Any

import pytest
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from modelguard.adapters.kube import KubeAdapter
from modelguard.adapters.kube_canary import ForeignCanaryError
from modelguard.core.api import ModelDeploymentSpec, ModelDeploymentStatus, ModelVersion
from modelguard.core.canary import Owner
from modelguard.core.workload import DeleteCanary, EnsureCanary, ScaleCanary

NS = "ml"
TARGET = {
    "metadata": {"name": "fraud-scorer", "namespace": NS},
    "spec": {
        "replicas": 9,
        "selector": {"matchLabels": {"app": "fraud"}},
        "template": {
            "metadata": {"labels": {"app": "fraud"}},
            "spec": {"containers": [{"name": "server", "image": "reg/fraud:1.0"}]},
        },
    },
    "status": {"readyReplicas": 9},
}
OWNER = Owner("modelguard.io/v1alpha1", "ModelDeployment", "fraud", "md-uid")
SPEC = ModelDeploymentSpec.model_validate(
    {
        "targetRef": {"name": "fraud-scorer", "container": "server"},
        "version": {"image": "reg/fraud:2.0"},
        "analysis": {
            "prometheus": {"url": "http://p:9090"},
            "checks": [{"name": "a", "query": "q", "min": 0.5}],
        },
        "canary": {"steps": [10]},
    }
)


class Apps:
    """Deployments by name; records every call with its kind."""

    def __init__(self) -> None:
        self.objects: dict[str, dict[str, Any]] = {"fraud-scorer": copy.deepcopy(TARGET)}
        self.calls: list[tuple[str, str]] = []

    def read_namespaced_deployment(self, name: str, namespace: str) -> dict[str, Any]:
        self.calls.append(("read", name))
        if name not in self.objects:
            raise ApiException(status=404, reason="Not Found")
        return copy.deepcopy(self.objects[name])

    def create_namespaced_deployment(
        self, namespace: str, body: dict[str, Any], field_manager: str
    ) -> None:
        assert field_manager == "modelguard"
        self.calls.append(("create", body["metadata"]["name"]))
        created = copy.deepcopy(body)
        created["metadata"]["uid"] = f"uid-{len(self.calls)}"
        self.objects[body["metadata"]["name"]] = created

    def patch_namespaced_deployment(
        self, name: str, namespace: str, body: Any, field_manager: str, **_: Any
    ) -> None:
        assert field_manager == "modelguard"
        self.calls.append(("patch", name))
        if name not in self.objects:
            raise ApiException(status=404, reason="Not Found")
        obj = self.objects[name]
        if isinstance(body, list):
            for op in body:
                *parents, last = op["path"].strip("/").split("/")
                node = obj
                for key in parents:
                    node = node[key]
                node[last] = op["value"]
        else:
            obj["spec"]["replicas"] = body["spec"]["replicas"]

    def delete_namespaced_deployment(
        self, name: str, namespace: str, propagation_policy: str, body: client.V1DeleteOptions
    ) -> None:
        self.calls.append(("delete", name))
        existing = self.objects.get(name)
        uid = body.preconditions.uid if body.preconditions else None
        if existing is not None and uid is not None and existing["metadata"]["uid"] != uid:
            raise ApiException(status=409, reason="Conflict")  # the API server's precondition
        if self.objects.pop(name, None) is None:
            raise ApiException(status=404, reason="Not Found")


def adapter(apps: Apps) -> KubeAdapter:
    kube = KubeAdapter(client.ApiClient())
    kube._apps = apps  # type: ignore[assignment]
    return kube


def run(kube: KubeAdapter, action: EnsureCanary | ScaleCanary | DeleteCanary) -> None:
    asyncio.run(kube.apply_canary(NS, SPEC, OWNER, action))


V2 = ModelVersion(image="reg/fraud:2.0")


def test_create_scale_rederive_delete_and_never_write_the_target() -> None:
    apps = Apps()
    kube = adapter(apps)
    run(kube, EnsureCanary(V2, "MODEL_VERSION", 1))
    canary = apps.objects["fraud-scorer-canary"]
    assert canary["spec"]["replicas"] == 1
    assert canary["spec"]["template"]["spec"]["containers"][0]["image"] == "reg/fraud:2.0"

    run(kube, EnsureCanary(V2, "MODEL_VERSION", 1))  # repeated: nothing to write
    assert [c for c in apps.calls if c[0] != "read"] == [("create", "fraud-scorer-canary")]

    run(kube, EnsureCanary(V2, "MODEL_VERSION", 4))
    assert apps.objects["fraud-scorer-canary"]["spec"]["replicas"] == 4

    v3 = ModelVersion(image="reg/fraud:3.0")
    run(kube, EnsureCanary(v3, "MODEL_VERSION", 4))  # another version: template replaced
    template = apps.objects["fraud-scorer-canary"]["spec"]["template"]
    assert template["spec"]["containers"][0]["image"] == "reg/fraud:3.0"

    run(kube, ScaleCanary(0))
    assert apps.objects["fraud-scorer-canary"]["spec"]["replicas"] == 0
    run(kube, DeleteCanary())
    run(kube, DeleteCanary())  # gone already: a no-op
    run(kube, ScaleCanary(0))  # likewise
    assert "fraud-scorer-canary" not in apps.objects
    assert apps.objects["fraud-scorer"] == TARGET
    assert all(name != "fraud-scorer" for verb, name in apps.calls if verb != "read")


def test_the_canary_is_read_only_when_one_can_exist() -> None:
    apps = Apps()
    kube = adapter(apps)
    run(kube, EnsureCanary(V2, "MODEL_VERSION", 1))
    apps.objects["fraud-scorer-canary"]["status"] = {"readyReplicas": 1, "updatedReplicas": 1}
    workload = asyncio.run(kube.read_workload(NS, SPEC, ModelDeploymentStatus()))
    assert workload.canary is not None
    assert (workload.canary.replicas, workload.canary.ready_replicas) == (1, 1)
    assert workload.canary.version == V2
    assert workload.canary.current

    # Rolling to a new template: its old pods are Ready, but not what the step is about.
    apps.objects["fraud-scorer-canary"]["status"] = {"readyReplicas": 1, "updatedReplicas": 0}
    workload = asyncio.run(kube.read_workload(NS, SPEC, ModelDeploymentStatus()))
    assert workload.canary is not None and workload.canary.ready_replicas == 0

    # The target's template changed: the canary is no longer derived from it.
    apps.objects["fraud-scorer"]["spec"]["template"]["metadata"]["labels"]["tier"] = "gold"
    workload = asyncio.run(kube.read_workload(NS, SPEC, ModelDeploymentStatus()))
    assert workload.canary is not None and not workload.canary.current

    apps.calls.clear()
    plain = ModelDeploymentSpec.model_validate({"targetRef": {"name": "fraud-scorer"}})
    workload = asyncio.run(kube.read_workload(NS, plain, ModelDeploymentStatus()))
    assert workload.canary is None
    assert apps.calls == [("read", "fraud-scorer")]


def test_a_deployment_of_the_canarys_name_that_is_not_ours_is_never_touched() -> None:
    """RBAC cannot limit Deployment create/delete by name: ownership is checked instead."""
    apps = Apps()
    theirs = copy.deepcopy(TARGET)
    theirs["metadata"] = {"name": "fraud-scorer-canary", "namespace": NS, "uid": "user-uid"}
    apps.objects["fraud-scorer-canary"] = theirs
    kube = adapter(apps)
    for action in (EnsureCanary(V2, "MODEL_VERSION", 1), ScaleCanary(0), DeleteCanary()):
        with pytest.raises(ForeignCanaryError, match="not owned by this ModelDeployment"):
            run(kube, action)
    assert apps.objects["fraud-scorer-canary"] == theirs
    assert all(verb == "read" for verb, _ in apps.calls)
