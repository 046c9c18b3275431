"""After an API-server outage: wait until the control plane runs workloads again.

kube-apiserver answers /readyz within seconds of a restart, but kube-scheduler, the
controller-manager and kwok each come back through their own client-go backoff, so for
up to a minute a new Deployment gets no pods. A test that causes an outage waits here
before it ends, so the outage never leaks into the next test's timings.
"""

from __future__ import annotations

import time
import uuid

from kubernetes import client as k8s

from modelguard_testenv.controlplane import ControlPlane
from modelguard_testenv.waiting import wait_for


def wait_until_workloads_run(plane: ControlPlane, timeout: float = 180.0) -> float:
    """Create a one-replica Deployment in a scratch namespace, wait for its pod to be
    Ready (scheduler, controller-manager and kwok all working), delete it; return the
    seconds that took."""
    began = time.monotonic()
    name = f"testenv-recovery-{uuid.uuid4().hex[:6]}"
    labels = {"app": name}
    with plane.api_client() as client:
        core, apps = k8s.CoreV1Api(client), k8s.AppsV1Api(client)
        # Retried: right after /readyz, RBAC and quota caches may still refuse a create.
        wait_for(
            lambda: _create_namespace(core, name),
            timeout=timeout,
            interval=1.0,
            what="a namespace can be created",
        )
        try:
            apps.create_namespaced_deployment(
                name,
                k8s.V1Deployment(
                    metadata=k8s.V1ObjectMeta(name=name),
                    spec=k8s.V1DeploymentSpec(
                        replicas=1,
                        selector=k8s.V1LabelSelector(match_labels=labels),
                        template=k8s.V1PodTemplateSpec(
                            metadata=k8s.V1ObjectMeta(labels=labels),
                            spec=k8s.V1PodSpec(
                                containers=[k8s.V1Container(name="c", image="registry.local/probe")]
                            ),
                        ),
                    ),
                ),
            )
            remaining = max(1.0, timeout - (time.monotonic() - began))
            wait_for(
                lambda: _ready(apps, name),
                timeout=remaining,
                interval=0.5,
                what="a Deployment's pod Ready after the outage",
            )
        finally:
            core.delete_namespace(name, propagation_policy="Background")
    return time.monotonic() - began


def _create_namespace(core: k8s.CoreV1Api, name: str) -> bool:
    try:
        core.create_namespace(k8s.V1Namespace(metadata=k8s.V1ObjectMeta(name=name)))
    except k8s.ApiException as exc:
        if exc.status == 409:  # created by an attempt whose answer was lost
            return True
        if exc.status in (403, 429, 500, 503):
            return False
        raise
    return True


def _ready(apps: k8s.AppsV1Api, name: str) -> bool:
    deployment = apps.read_namespaced_deployment(name, name)
    return bool(deployment.status and deployment.status.ready_replicas == 1)
