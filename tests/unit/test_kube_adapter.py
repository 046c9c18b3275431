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
