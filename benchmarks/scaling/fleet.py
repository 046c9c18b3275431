"""The fleet: N models (a 1-replica Deployment on kwok and a ModelDeployment with one
absolute check on a query of its own), created in parallel, and the nodes to hold them."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import Any

from kubernetes import client as k8s

from benchmarks.killswitch.bench import deployment_manifest, log
from modelguard.core import api
from modelguard_testenv import ControlPlane, wait_for
from modelguard_testenv.controlplane import KWOK_NODE_ANNOTATION, KWOK_NODE_ANNOTATION_VALUE
from modelguard_testenv.recording import as_json

NAMESPACE = "scale-bench"
PODS_PER_NODE = 1000  # the testenv node's capacity; more nodes for a larger fleet
# Creates in flight: enough to keep the API server busy, few enough not to queue on its
# max-in-flight limits (400 mutating by default).
PARALLEL = 24


def model(i: int) -> str:
    return f"model-{i:05d}"


def query(name: str) -> str:
    """A distinct query per model: a query dedupe cannot answer two models with one."""
    return f'model_accuracy{{model="{name}"}}'


def deployment(name: str) -> dict[str, Any]:
    return deployment_manifest(name, NAMESPACE, {"app": name}, replicas=1)


def model_deployment(name: str, prometheus: str, interval: str) -> dict[str, Any]:
    return {
        "apiVersion": f"{api.GROUP}/{api.VERSION}",
        "kind": api.KIND,
        "metadata": {"name": name, "namespace": NAMESPACE},
        "spec": {
            "targetRef": {"name": name, "container": "server"},
            "analysis": {
                "prometheus": {"url": prometheus, "timeout": "10s"},
                "interval": interval,
                "warmup": "0s",
                "checks": [{"name": "accuracy", "query": query(name), "min": 0.9}],
            },
        },
    }


class Fleet:
    def __init__(self, plane: ControlPlane) -> None:
        self.plane = plane
        config = plane.client_configuration()
        config.connection_pool_maxsize = PARALLEL
        self.client = k8s.ApiClient(config)
        self._closing = contextlib.ExitStack()
        self._closing.callback(self.client.close)
        self.apps = k8s.AppsV1Api(self.client)
        self.core = k8s.CoreV1Api(self.client)
        self.custom = k8s.CustomObjectsApi(self.client)
        self.present = 0
        self.nodes = 1  # the testenv's own
        self.phases: dict[int, dict[str, float]] = {}

    def create_namespace(self) -> None:
        self.core.create_namespace(k8s.V1Namespace(metadata=k8s.V1ObjectMeta(name=NAMESPACE)))

    def _add_nodes(self, size: int) -> None:
        """kwok nodes like the testenv's, until every pod has room."""
        while self.nodes * PODS_PER_NODE < size + 10:
            name = f"kwok-node-{self.nodes}"
            resources = {"cpu": "64", "memory": "256Gi", "pods": str(PODS_PER_NODE)}
            node = k8s.V1Node(
                metadata=k8s.V1ObjectMeta(
                    name=name,
                    annotations={KWOK_NODE_ANNOTATION: KWOK_NODE_ANNOTATION_VALUE},
                    labels={"type": "kwok", "kubernetes.io/hostname": name},
                ),
                spec=k8s.V1NodeSpec(),
                status=k8s.V1NodeStatus(allocatable=resources, capacity=resources),
            )
            self.core.create_node(node)
            self.nodes += 1

    def _parallel(self, what: str, calls: Iterable[Callable[[], object]]) -> float:
        began = time.monotonic()
        with ThreadPoolExecutor(PARALLEL) as pool:
            for future in [pool.submit(call) for call in calls]:
                future.result()  # the first failure ends the run, loudly
        seconds = time.monotonic() - began
        log(f"  {what} in {seconds:.1f}s")
        return seconds

    def grow_to(self, size: int, prometheus: str, interval: str) -> dict[str, float]:
        """Create models present..size-1 (Deployments first: their pods take longest),
        and wait until every pod is Ready. The seconds each phase took."""
        names = [model(i) for i in range(self.present, size)]
        self._add_nodes(size)
        phases = {
            "deployments_created": self._parallel(
                f"{len(names)} Deployments created",
                [
                    partial(
                        self.apps.create_namespaced_deployment,
                        NAMESPACE,
                        k8s.V1Deployment.model_validate(deployment(n)),
                    )
                    for n in names
                ],
            ),
            "modeldeployments_created": self._parallel(
                f"{len(names)} ModelDeployments created",
                [
                    partial(
                        self.custom.create_namespaced_custom_object,
                        api.GROUP,
                        api.VERSION,
                        NAMESPACE,
                        api.PLURAL,
                        model_deployment(n, prometheus, interval),
                    )
                    for n in names
                ],
            ),
        }
        self.present = size
        began = time.monotonic()
        poll = max(5.0, size / 250)  # a list of thousands costs the shared CPU
        wait_for(lambda: self._ready() >= size, timeout=1800, interval=poll, what="pods Ready")
        phases["pods_ready_after_creates"] = time.monotonic() - began
        log(f"  {size} Deployments Ready {phases['pods_ready_after_creates']:.1f}s later")
        return phases

    def _ready(self) -> int:
        listed = self.apps.list_namespaced_deployment(NAMESPACE)
        done = sum(
            1 for d in listed.items if d.status is not None and (d.status.ready_replicas or 0)
        )
        log(f"    {done}/{self.present} Deployments Ready")
        return done

    def reconciled(self) -> int:
        """ModelDeployments with a status.phase and a last evaluation: the operator has
        listed and evaluated them once."""
        listed = as_json(
            self.custom.list_namespaced_custom_object(api.GROUP, api.VERSION, NAMESPACE, api.PLURAL)
        )
        return sum(
            1
            for o in listed["items"]
            if (o.get("status") or {}).get("phase")
            and (o.get("status") or {}).get("lastEvaluation")
        )

    def close(self) -> None:
        self._closing.close()
