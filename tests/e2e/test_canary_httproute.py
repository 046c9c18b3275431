"""End-to-end: httpRoute-mode canaries on the real API server with the Gateway API CRDs
as published in their Go module (hack/build-control-plane.sh copies them): a real
HTTPRoute whose two named backendRefs' weights the real operator (deploy/base/rbac.yaml)
steps up and puts back, watched so that no intermediate weight goes unseen."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from kubernetes import client as k8s

from modelguard_testenv import ControlPlane, PrometheusServer, SyntheticModelExporter, wait_for
from modelguard_testenv.binaries import find_gateway_api_crds
from modelguard_testenv.operator_process import OperatorProcess
from modelguard_testenv.recording import Watcher, as_json
from tests.e2e.cluster import Cluster
from tests.e2e.scenarios import DEPLOYMENT, MD, accuracy_spec, image, version

pytestmark = pytest.mark.e2e

GROUP, VERSION, PLURAL = "gateway.networking.k8s.io", "v1", "httproutes"
CANARY = f"{DEPLOYMENT}-canary"
STABLE_SVC, CANARY_SVC, ROUTE = "fraud-stable", "fraud-canary", "fraud"
TRACK = "modelguard.io/track"
REPLICAS = 4


@pytest.fixture(scope="session")
def gateway_api(control_plane: ControlPlane) -> None:
    """The published Gateway API CRDs; the route needs only its CRD (no Gateway runs)."""
    for path in find_gateway_api_crds():
        control_plane.kubectl("apply", "--server-side", "-f", str(path))

    # Not `kubectl wait`: it fails at once while the new CRD has no conditions yet.
    def established() -> bool:
        crd = k8s.ApiextensionsV1Api(control_plane.api_client()).read_custom_resource_definition(
            f"{PLURAL}.{GROUP}"
        )
        conditions = (crd.status.conditions if crd.status else None) or []
        return any(c.type == "Established" and c.status == "True" for c in conditions)

    wait_for(established, timeout=60, interval=0.25, what="the HTTPRoute CRD Established")


def http_route(namespace: str) -> dict[str, Any]:
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "HTTPRoute",
        "metadata": {"name": ROUTE, "namespace": namespace},
        "spec": {
            "parentRefs": [{"name": "gateway"}],
            "rules": [
                {
                    "backendRefs": [
                        {"name": STABLE_SVC, "port": 80, "weight": 100},
                        {"name": CANARY_SVC, "port": 80, "weight": 0},
                        {"name": "other", "port": 80, "weight": 1},
                    ]
                }
            ],
        },
    }


def weights(route: dict[str, Any]) -> dict[str, int]:
    refs = route["spec"]["rules"][0]["backendRefs"]
    return {ref["name"]: ref.get("weight", 1) for ref in refs}


@pytest.fixture
def route_watch(cluster: Cluster, gateway_api: None) -> Iterator[Watcher]:
    """The user's route and its stable Service (selecting track=stable only), watched."""
    cluster.custom.create_namespaced_custom_object(
        GROUP, VERSION, cluster.namespace, PLURAL, http_route(cluster.namespace)
    )
    cluster.create_service(STABLE_SVC, {"app": DEPLOYMENT, TRACK: "stable"})
    listed = as_json(
        cluster.custom.list_namespaced_custom_object(GROUP, VERSION, cluster.namespace, PLURAL)
    )
    api_client = cluster.control_plane.api_client()
    with Watcher(
        "httproutes",
        k8s.CustomObjectsApi(api_client).list_namespaced_custom_object,
        GROUP,
        VERSION,
        cluster.namespace,
        PLURAL,
        resource_version=listed["metadata"]["resourceVersion"],
        client=api_client,
    ) as watcher:
        yield watcher


def seen_weights(watcher: Watcher) -> list[int]:
    """The canary's weight at every change of the route, repeats collapsed."""
    out: list[int] = []
    for seen in watcher.events(ROUTE):
        w = weights(seen.obj)[CANARY_SVC]
        if not out or out[-1] != w:
            out.append(w)
    return out


def route(cluster: Cluster) -> dict[str, Any]:
    return as_json(
        cluster.custom.get_namespaced_custom_object(
            GROUP, VERSION, cluster.namespace, PLURAL, ROUTE
        )
    )


def service_exists(cluster: Cluster, name: str) -> bool:
    try:
        cluster.core.read_namespaced_service(name, cluster.namespace)
    except k8s.ApiException as exc:
        if exc.status == 404:
            return False
        raise
    return True


def canary_exists(cluster: Cluster) -> bool:
    try:
        cluster.deployment(CANARY)
    except k8s.ApiException as exc:
        if exc.status == 404:
            return False
        raise
    return True


def start(
    cluster: Cluster, prometheus: PrometheusServer, exporter: SyntheticModelExporter, v2: float
) -> None:
    spec = accuracy_spec(prometheus.url, cluster.namespace, "v1", failure_threshold=2)
    traffic = {
        "mode": "httpRoute",
        "httpRoute": {"name": ROUTE, "stableBackend": STABLE_SVC, "canaryBackend": CANARY_SVC},
    }
    spec["canary"] = {
        "steps": [20, 50],
        "stepDuration": "2s",
        "readyDeadline": "60s",
        "traffic": traffic,
    }
    exporter.set(cluster.namespace, "v1", accuracy=0.95)
    exporter.set(cluster.namespace, "v2", accuracy=v2)
    # The Kubernetes-docs pattern: the stable pods carry track=stable, which the stable
    # Service selects, so it never selects the canary's pods (track=canary).
    labels = {"app": DEPLOYMENT, TRACK: "stable"}
    cluster.create_deployment(
        DEPLOYMENT, image("v1"), replicas=REPLICAS, model_tag="v1", labels=labels
    )
    cluster.create_md(MD, spec)
    cluster.wait_promoted(MD, "v1")
    cluster.patch_spec(MD, {"version": version("v2")})


def test_route_weights_step_up_and_promotion_gives_the_stable_all_of_it(
    cluster: Cluster,
    operator: OperatorProcess,
    prometheus: PrometheusServer,
    exporter: SyntheticModelExporter,
    route_watch: Watcher,
) -> None:
    before = route(cluster)
    start(cluster, prometheus, exporter, v2=0.96)
    cluster.wait(lambda: weights(route(cluster))[CANARY_SVC] == 20, timeout=40, what="weight 20")
    during = route(cluster)
    assert weights(during) == {STABLE_SVC: 80, CANARY_SVC: 20, "other": 1}
    assert during["metadata"]["labels"]["modelguard.io/canary"] == "in-progress"
    svc = cluster.core.api_client.sanitize_for_serialization(
        cluster.core.read_namespaced_service(CANARY_SVC, cluster.namespace)
    )
    assert svc["spec"]["selector"] == {TRACK: "canary", "modelguard.io/model-deployment": MD}
    assert svc["metadata"]["ownerReferences"][0]["name"] == MD
    assert cluster.deployment(CANARY)["spec"]["replicas"] == 1  # ceil(4 * 20 / 100)

    cluster.wait(
        lambda: "canary" not in cluster.status(MD) and not canary_exists(cluster),
        timeout=90,
        what="promoted and the canary removed",
    )
    after = route(cluster)
    assert weights(after) == {STABLE_SVC: 100, CANARY_SVC: 0, "other": 1}
    assert "modelguard.io/canary" not in (after["metadata"].get("labels") or {})
    assert not service_exists(cluster, CANARY_SVC)
    assert cluster.running_version(DEPLOYMENT)[0] == image("v2")
    # Nothing else on the route moved.
    assert after["spec"]["parentRefs"] == before["spec"]["parentRefs"]
    assert [r["name"] for r in after["spec"]["rules"][0]["backendRefs"]] == [
        STABLE_SVC,
        CANARY_SVC,
        "other",
    ]
    # Readiness gating and order: 0 until the canary is Ready, each step, then 0.
    assert seen_weights(route_watch) == [20, 50, 0]


def test_an_abort_puts_the_weight_to_zero_before_the_canary_goes(
    cluster: Cluster,
    operator: OperatorProcess,
    prometheus: PrometheusServer,
    exporter: SyntheticModelExporter,
    route_watch: Watcher,
) -> None:
    start(cluster, prometheus, exporter, v2=0.96)
    cluster.wait(lambda: weights(route(cluster))[CANARY_SVC] == 20, timeout=40, what="weight 20")
    listed = cluster.apps.list_namespaced_deployment(cluster.namespace)
    assert listed.metadata is not None and listed.metadata.resource_version is not None
    api_client = cluster.control_plane.api_client()
    with Watcher(
        "deployments",
        k8s.AppsV1Api(api_client).list_namespaced_deployment,
        cluster.namespace,
        resource_version=listed.metadata.resource_version,
        client=api_client,
    ) as deployments:
        exporter.set(cluster.namespace, "v2", accuracy=0.80)
        cluster.wait(
            lambda: "canary" not in cluster.status(MD) and not canary_exists(cluster),
            timeout=60,
            what="aborted and the canary removed",
        )
        zero = next(s.at for s in route_watch.events(ROUTE) if weights(s.obj)[CANARY_SVC] == 0)
        # The first change of the canary Deployment after the verdict: scaled to 0.
        shrink = [
            s.at
            for s in deployments.events(CANARY)
            if s.type == "DELETED" or (s.obj.get("spec") or {}).get("replicas") == 0
        ]
        assert shrink and zero < min(shrink)
    assert weights(route(cluster)) == {STABLE_SVC: 100, CANARY_SVC: 0, "other": 1}
    assert not service_exists(cluster, CANARY_SVC)
    assert cluster.running_version(DEPLOYMENT)[0] == image("v1")
    quarantined = cluster.status(MD).get("quarantinedVersions") or []
    assert [q["name"] for q in quarantined] == ["v2"]
