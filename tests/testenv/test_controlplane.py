"""The local control plane runs real rollouts: Deployments get ReplicaSets and Ready pods."""

from __future__ import annotations

import pytest
from kubernetes import client as k8s

from modelguard_testenv import ControlPlane, wait_for

pytestmark = pytest.mark.e2e

ROLLOUT_TIMEOUT = 60.0


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
    return sorted(
        items, key=lambda rs: int(rs.metadata.annotations["deployment.kubernetes.io/revision"])
    )


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
        assert pod.spec.node_name == control_plane.node_name
        assert pod.status.phase == "Running"
        assert any(c.type == "Ready" and c.status == "True" for c in pod.status.conditions)
    (first_rs,) = _replica_sets(apps, namespace, "scorer")
    assert first_rs.status.ready_replicas == 3

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
    assert old_rs.metadata.name == first_rs.metadata.name
    assert old_rs.spec.replicas == 0
    assert (old_rs.status.replicas or 0) == 0
    assert new_rs.spec.template.spec.containers[0].image == "example/scorer:2.0"
    assert new_rs.spec.replicas == 3
    assert new_rs.status.ready_replicas == 3

    def only_new_pods_ready() -> bool:
        pods = core.list_namespaced_pod(namespace, label_selector="app=scorer").items
        live = [p for p in pods if p.metadata.deletion_timestamp is None]
        return len(live) == 3 and all(
            p.spec.containers[0].image == "example/scorer:2.0"
            and any(c.type == "Ready" and c.status == "True" for c in p.status.conditions or [])
            for p in live
        )

    wait_for(only_new_pods_ready, timeout=ROLLOUT_TIMEOUT, what="3 Ready pods of scorer:2.0")
