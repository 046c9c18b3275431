"""The local control plane runs real rollouts: Deployments get ReplicaSets and Ready pods."""

from __future__ import annotations

import socket
import urllib.parse
from typing import TypeVar

import pytest
from kubernetes import client as k8s

from modelguard_testenv import ControlPlane, wait_for, wait_until_workloads_run

pytestmark = pytest.mark.e2e

ROLLOUT_TIMEOUT = 60.0

T = TypeVar("T")


def present(value: T | None, what: str) -> T:
    """`value`, which the API server must have filled in (the client types every field
    optional)."""
    assert value is not None, f"no {what}"
    return value


def _deployment(name: str, image: str, replicas: int) -> k8s.V1Deployment:
    labels = {"app": name}
    return k8s.V1Deployment(
        metadata=k8s.V1ObjectMeta(name=name),
        spec=k8s.V1DeploymentSpec(
            replicas=replicas,
            selector=k8s.V1LabelSelector(match_labels=labels),
            template=k8s.V1PodTemplateSpec(
                metadata=k8s.V1ObjectMeta(labels=labels),
                spec=k8s.V1PodSpec(containers=[k8s.V1Container(name="server", image=image)]),
            ),
        ),
    )


def _rolled_out(apps: k8s.AppsV1Api, namespace: str, name: str, replicas: int) -> str:
    """'' until the Deployment's current template is fully rolled out and Ready."""
    dep = apps.read_namespaced_deployment(name, namespace)
    status = dep.status
    if status is None or dep.metadata is None or dep.metadata.generation is None:
        return ""
    done = (
        status.observed_generation is not None
        and status.observed_generation >= dep.metadata.generation
        and status.updated_replicas == replicas
        and status.ready_replicas == replicas
        and status.available_replicas == replicas
        and (status.replicas or 0) == replicas  # no old pods left over
    )
    return "rolled out" if done else ""


def _replica_sets(apps: k8s.AppsV1Api, namespace: str, app: str) -> list[k8s.V1ReplicaSet]:
    items = apps.list_namespaced_replica_set(namespace, label_selector=f"app={app}").items

    def revision(rs: k8s.V1ReplicaSet) -> int:
        annotations = present(present(rs.metadata, "metadata").annotations, "annotations")
        return int(annotations["deployment.kubernetes.io/revision"])

    return sorted(items, key=revision)


def test_deployment_gets_ready_pods_and_rolls_out_a_new_image(
    control_plane: ControlPlane, k8s_api: k8s.ApiClient, namespace: str
) -> None:
    apps = k8s.AppsV1Api(k8s_api)
    core = k8s.CoreV1Api(k8s_api)
    apps.create_namespaced_deployment(namespace, _deployment("scorer", "example/scorer:1.0", 3))

    wait_for(
        lambda: _rolled_out(apps, namespace, "scorer", 3),
        timeout=ROLLOUT_TIMEOUT,
        what="3 Ready replicas of scorer:1.0",
    )
    pods = core.list_namespaced_pod(namespace, label_selector="app=scorer").items
    assert len(pods) == 3
    for pod in pods:
        # Scheduled by the real scheduler onto the kwok node, made Ready by kwok.
        assert present(pod.spec, "pod spec").node_name == control_plane.node_name
        pod_status = present(pod.status, "pod status")
        assert pod_status.phase == "Running"
        conditions = present(pod_status.conditions, "pod conditions")
        assert any(c.type == "Ready" and c.status == "True" for c in conditions)
    (first_rs,) = _replica_sets(apps, namespace, "scorer")
    assert present(first_rs.status, "ReplicaSet status").ready_replicas == 3

    patch = {
        "spec": {
            "template": {
                "spec": {"containers": [{"name": "server", "image": "example/scorer:2.0"}]}
            }
        }
    }
    apps.patch_namespaced_deployment("scorer", namespace, patch)

    wait_for(
        lambda: _rolled_out(apps, namespace, "scorer", 3),
        timeout=ROLLOUT_TIMEOUT,
        what="rollout of scorer:2.0",
    )
    old_rs, new_rs = _replica_sets(apps, namespace, "scorer")
    assert present(old_rs.metadata, "metadata").name == present(first_rs.metadata, "meta").name
    assert present(old_rs.spec, "ReplicaSet spec").replicas == 0
    assert (present(old_rs.status, "ReplicaSet status").replicas or 0) == 0
    new_spec = present(new_rs.spec, "ReplicaSet spec")
    pod_spec = present(present(new_spec.template, "pod template").spec, "pod spec")
    assert pod_spec.containers[0].image == "example/scorer:2.0"
    assert new_spec.replicas == 3
    assert present(new_rs.status, "ReplicaSet status").ready_replicas == 3

    def only_new_pods_ready() -> bool:
        pods = core.list_namespaced_pod(namespace, label_selector="app=scorer").items
        live = [p for p in pods if p.metadata is None or p.metadata.deletion_timestamp is None]
        return len(live) == 3 and all(
            p.spec is not None
            and p.spec.containers[0].image == "example/scorer:2.0"
            and p.status is not None
            and any(c.type == "Ready" and c.status == "True" for c in p.status.conditions or [])
            for p in live
        )

    wait_for(only_new_pods_ready, timeout=ROLLOUT_TIMEOUT, what="3 Ready pods of scorer:2.0")


def test_the_apiserver_stops_and_comes_back_with_every_object(
    control_plane: ControlPlane, k8s_api: k8s.ApiClient, namespace: str
) -> None:
    """An outage for tests: the API refuses connections, then answers again on the same
    port and certificates, with what etcd kept."""
    core = k8s.CoreV1Api(k8s_api)
    body = k8s.V1ConfigMap(metadata=k8s.V1ObjectMeta(name="kept"), data={"k": "v"})
    core.create_namespaced_config_map(namespace, body)
    control_plane.stop_apiserver()
    try:
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection(("127.0.0.1", _port(control_plane.server_url)), timeout=2)
    finally:
        seconds = control_plane.start_apiserver()
        recovered = wait_until_workloads_run(control_plane)
    assert seconds < control_plane.startup_timeout
    kept = core.read_namespaced_config_map("kept", namespace)
    assert kept.data == {"k": "v"}
    print(f"API server ready in {seconds:.1f}s; workloads run again after {recovered:.1f}s")


def _port(url: str) -> int:
    port = urllib.parse.urlsplit(url).port
    assert port is not None
    return port
