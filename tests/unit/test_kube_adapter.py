"""The kube adapter's read logic against recording fakes of the kubernetes client's APIs:
which API calls a reconcile costs, and which failures it tolerates."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from modelguard.adapters.kube import KubeAdapter
from modelguard.core.api import KillSwitchStatus, ModelDeploymentSpec, ModelDeploymentStatus

NS = "ml"
DEPLOYMENT = {
    "metadata": {"name": "fraud-scorer"},
    "spec": {
        "replicas": 3,
        "template": {"spec": {"containers": [{"name": "server", "image": "reg/fraud:1.0"}]}},
    },
    "status": {"readyReplicas": 3},
}
FALLBACK = {"serviceName": "fraud", "selector": {"app": "fraud-rules"}}


class Recorder:
    """Stands in for AppsV1Api / CoreV1Api / AutoscalingV2Api: records each call."""

    def __init__(self, calls: list[str], refuse: set[str] | None = None) -> None:
        self.calls = calls
        self.refuse = refuse or set()

    def _call(self, name: str, result: dict[str, Any]) -> dict[str, Any]:
        self.calls.append(name)
        if name in self.refuse:
            raise ApiException(status=403, reason="Forbidden")
        return result

    def read_namespaced_deployment(self, name: str, namespace: str) -> dict[str, Any]:
        return self._call("read_deployment", DEPLOYMENT)

    def read_namespaced_service(self, name: str, namespace: str) -> dict[str, Any]:
        return self._call("read_service", {"spec": {"selector": {"app": "fraud-scorer"}}})

    def list_namespaced_pod(self, namespace: str, label_selector: str) -> dict[str, Any]:
        return self._call("list_pods", {"items": []})

    def list_namespaced_horizontal_pod_autoscaler(self, namespace: str) -> dict[str, Any]:
        return self._call("list_hpas", {"items": []})


def adapter(calls: list[str], refuse: set[str] | None = None) -> KubeAdapter:
    kube = KubeAdapter(client.ApiClient())
    recorder = Recorder(calls, refuse)
    kube._apps = kube._core = kube._autoscaling = recorder  # type: ignore[assignment]
    return kube


def spec(kill: dict[str, Any]) -> ModelDeploymentSpec:
    return ModelDeploymentSpec.model_validate(
        {"targetRef": {"name": "fraud-scorer", "container": "server"}, "killSwitch": kill}
    )


PRECONFIGURED = {"mode": "fallback", "fallback": FALLBACK}


def test_a_preconfigured_fallback_costs_nothing_while_the_switch_is_off() -> None:
    calls: list[str] = []
    workload = asyncio.run(
        adapter(calls).read_workload(NS, spec(PRECONFIGURED), ModelDeploymentStatus())
    )
    assert workload.exists
    assert calls == ["read_deployment"]


@pytest.mark.parametrize(
    ("kill", "engaged"),
    [
        ({**PRECONFIGURED, "enabled": True, "reason": "INC-1"}, False),  # engaging
        ({**PRECONFIGURED, "enabled": True, "reason": "INC-1"}, True),  # engaged
        (PRECONFIGURED, True),  # releasing: restore not yet observed
    ],
)
def test_the_service_and_fallback_pods_are_read_while_switching(
    kill: dict[str, Any], engaged: bool
) -> None:
    calls: list[str] = []
    status = ModelDeploymentStatus(kill_switch=KillSwitchStatus(engaged=engaged, mode="fallback"))
    asyncio.run(adapter(calls).read_workload(NS, spec(kill), status))
    assert {"read_service", "list_pods"} <= set(calls)


def test_a_refused_hpa_lookup_does_not_fail_the_engage() -> None:
    calls: list[str] = []
    kill = {"enabled": True, "reason": "INC-1"}
    workload = asyncio.run(
        adapter(calls, refuse={"list_hpas"}).read_workload(NS, spec(kill), ModelDeploymentStatus())
    )
    assert "list_hpas" in calls  # it was asked, and its 403 was tolerated
    assert workload.exists and workload.replicas == 3
    assert workload.autoscaler is None


def test_an_engage_still_names_the_hpa_read_beside_the_deployment() -> None:
    calls: list[str] = []
    kube = adapter(calls)
    hpa = {"metadata": {"name": "fraud-hpa"}, "spec": {"scaleTargetRef": DEPLOYMENT_REF}}
    kube._autoscaling = HpaLister(calls, [hpa])  # type: ignore[assignment]
    kill = {"enabled": True, "reason": "INC-1"}
    workload = asyncio.run(kube.read_workload(NS, spec(kill), ModelDeploymentStatus()))
    assert sorted(calls) == ["list_hpas", "read_deployment"]
    assert workload.autoscaler == "fraud-hpa" and workload.replicas == 3


DEPLOYMENT_REF = {"kind": "Deployment", "name": "fraud-scorer"}


class HpaLister(Recorder):
    def __init__(self, calls: list[str], items: list[dict[str, Any]]) -> None:
        super().__init__(calls)
        self.items = items

    def list_namespaced_horizontal_pod_autoscaler(self, namespace: str) -> dict[str, Any]:
        return self._call("list_hpas", {"items": self.items})


class CustomObjects:
    """Stands in for CustomObjectsApi: one ModelDeployment, every call recorded."""

    def __init__(self, calls: list[str], finalizers: list[str]) -> None:
        self.calls = calls
        self.body = {"metadata": {"resourceVersion": "7", "finalizers": finalizers}}
        self.patches: list[Any] = []

    def get_namespaced_custom_object(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
        self.calls.append("get")
        return self.body

    def patch_namespaced_custom_object(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
        self.calls.append("patch")
        self.patches.append(args[-1])
        return {"metadata": {"resourceVersion": "8"}}


@pytest.mark.parametrize(("known", "reads"), [(["someone/else"], []), (None, ["get"])])
def test_a_fenced_finalizer_write_with_the_list_known_reads_nothing(
    known: list[str] | None, reads: list[str]
) -> None:
    calls: list[str] = []
    kube = adapter(calls)
    custom = CustomObjects(calls, ["someone/else"])
    kube._custom = custom  # type: ignore[assignment]
    version = asyncio.run(
        kube.set_finalizer(NS, "fraud-scorer", "modelguard.io/restore", True, "7", known)
    )
    assert version == "8"
    assert calls == [*reads, "patch"]
    # Fenced on the version, and the other finalizer kept.
    assert custom.patches == [
        [
            {"op": "test", "path": "/metadata/resourceVersion", "value": "7"},
            {
                "op": "add",
                "path": "/metadata/finalizers",
                "value": ["someone/else", "modelguard.io/restore"],
            },
        ]
    ]
