"""The shared watch recorder (e2e tier and benchmark) on the real API server: it sees a
change that a poll would miss, and stamps events after the request that caused them."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest
from kubernetes import client as k8s

from modelguard_testenv import ControlPlane
from modelguard_testenv.recording import VersionRecorder, Watcher

pytestmark = pytest.mark.e2e


def _deployment(name: str, image: str) -> k8s.V1Deployment:
    labels = {"app": name}
    return k8s.V1Deployment(
        metadata=k8s.V1ObjectMeta(name=name),
        spec=k8s.V1DeploymentSpec(
            replicas=0,
            selector=k8s.V1LabelSelector(match_labels=labels),
            template=k8s.V1PodTemplateSpec(
                metadata=k8s.V1ObjectMeta(labels=labels),
                spec=k8s.V1PodSpec(
                    containers=[
                        k8s.V1Container(
                            name="server",
                            image=image,
                            env=[k8s.V1EnvVar(name="MODEL_VERSION", value="v1")],
                        )
                    ]
                ),
            ),
        ),
    )


def _set_image(apps: k8s.AppsV1Api, namespace: str, name: str, image: str) -> None:
    patch = {"spec": {"template": {"spec": {"containers": [{"name": "server", "image": image}]}}}}
    apps.patch_namespaced_deployment(name, namespace, patch)


def test_version_recorder_sees_a_change_reverted_at_once(
    control_plane: ControlPlane, k8s_api: k8s.ApiClient, namespace: str
) -> None:
    apps = k8s.AppsV1Api(k8s_api)
    apps.create_namespaced_deployment(namespace, _deployment("scorer", "scorer:1.0"))
    other = _deployment("other", "other:1.0")
    apps.create_namespaced_deployment(namespace, other)

    with VersionRecorder(control_plane, namespace, "scorer") as recorder:
        _set_image(apps, namespace, "scorer", "scorer:2.0")
        _set_image(apps, namespace, "scorer", "scorer:1.0")  # no poll would see 2.0
        _set_image(apps, namespace, "other", "other:2.0")  # another Deployment: not recorded
        apps.patch_namespaced_deployment("scorer", namespace, {"spec": {"replicas": 1}})
        deadline = time.monotonic() + 10
        while len(recorder.versions) < 3 and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.5)  # and the scale-up adds no version
        assert recorder.versions == [
            ("scorer:1.0", "v1"),
            ("scorer:2.0", "v1"),
            ("scorer:1.0", "v1"),
        ]


def test_watcher_waits_for_the_first_matching_event_after_a_time(
    k8s_api: k8s.ApiClient, namespace: str, control_plane: ControlPlane
) -> None:
    apps = k8s.AppsV1Api(k8s_api)
    apps.create_namespaced_deployment(namespace, _deployment("scorer", "scorer:1.0"))
    listed = apps.list_namespaced_deployment(namespace)
    assert listed.metadata is not None
    assert listed.metadata.resource_version is not None

    def replicas(n: int) -> Callable[[dict[str, Any]], bool]:
        return lambda obj: obj["spec"]["replicas"] == n

    client = control_plane.api_client()
    with Watcher(
        "deployments",
        k8s.AppsV1Api(client).list_namespaced_deployment,
        namespace,
        resource_version=listed.metadata.resource_version,
        client=client,
    ) as deployments:
        apps.patch_namespaced_deployment("scorer", namespace, {"spec": {"replicas": 2}})
        first = deployments.wait("scorer", replicas(2), after=0, timeout=10)
        sent = time.perf_counter()
        apps.patch_namespaced_deployment("scorer", namespace, {"spec": {"replicas": 3}})
        third = deployments.wait("scorer", replicas(3), after=sent, timeout=10)
        assert first.at < sent <= third.at
        assert first.type == third.type == "MODIFIED"
        with pytest.raises(TimeoutError, match="no matching event"):
            deployments.wait("scorer", replicas(5), after=0, timeout=0.5)
