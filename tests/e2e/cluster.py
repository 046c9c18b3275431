"""A small typed facade over the real API server for end-to-end tests: create the model's
Deployment/Service and its ModelDeployment, read them back, and wait on them."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal, TypeVar

from kubernetes import client as k8s

from modelguard.core import api
from modelguard_testenv import ControlPlane, wait_for
from modelguard_testenv.recording import VersionRecorder, Watcher, as_json

T = TypeVar("T")


class Cluster:
    def __init__(self, control_plane: ControlPlane, namespace: str) -> None:
        self.control_plane = control_plane
        self.namespace = namespace
        self._client = control_plane.api_client()
        self.apps = k8s.AppsV1Api(self._client)
        self.core = k8s.CoreV1Api(self._client)
        self.custom = k8s.CustomObjectsApi(self._client)

    # ------------------------------------------------------------- workloads

    def create_deployment(
        self,
        name: str,
        image: str,
        *,
        replicas: int = 2,
        model_tag: str | None = None,
        labels: dict[str, str] | None = None,
    ) -> None:
        labels = labels or {"app": name}
        env = [{"name": "MODEL_VERSION", "value": model_tag}] if model_tag else []
        body = {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": name, "namespace": self.namespace},
            "spec": {
                "replicas": replicas,
                "selector": {"matchLabels": labels},
                "template": {
                    "metadata": {"labels": labels},
                    "spec": {"containers": [{"name": "server", "image": image, "env": env}]},
                },
            },
        }
        self.apps.create_namespaced_deployment(
            self.namespace, k8s.V1Deployment.model_validate(body)
        )

    def create_service(self, name: str, selector: dict[str, str]) -> None:
        body = {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": name, "namespace": self.namespace},
            "spec": {"selector": selector, "ports": [{"port": 80, "targetPort": 8080}]},
        }
        self.core.create_namespaced_service(self.namespace, k8s.V1Service.model_validate(body))

    def deployment(self, name: str) -> dict[str, Any]:
        obj = self.apps.read_namespaced_deployment(name, self.namespace)
        # As JSON (camelCase, no nulls), the way the API server and kubectl show it; the
        # client's serializer is unannotated.
        return as_json(self._client.sanitize_for_serialization(obj))  # type: ignore[no-untyped-call]

    def running_version(self, name: str) -> tuple[str, str | None]:
        """(image, MODEL_VERSION) of the Deployment's first container."""
        container = self.deployment(name)["spec"]["template"]["spec"]["containers"][0]
        tag = next(
            (e.get("value") for e in container.get("env", []) if e["name"] == "MODEL_VERSION"), None
        )
        return container["image"], tag

    def replicas(self, name: str) -> int:
        return int(self.deployment(name)["spec"].get("replicas", 1))

    def scale(self, name: str, replicas: int) -> None:
        self.apps.patch_namespaced_deployment(
            name, self.namespace, {"spec": {"replicas": replicas}}
        )

    def service_selector(self, name: str) -> dict[str, str]:
        obj = self.core.read_namespaced_service(name, self.namespace)
        return dict((obj.spec.selector if obj.spec else None) or {})

    # ------------------------------------------------------------- ModelDeployments

    def create_md(self, name: str, spec: dict[str, Any]) -> None:
        body = {
            "apiVersion": f"{api.GROUP}/{api.VERSION}",
            "kind": api.KIND,
            "metadata": {"name": name, "namespace": self.namespace},
            "spec": spec,
        }
        self.custom.create_namespaced_custom_object(
            api.GROUP, api.VERSION, self.namespace, api.PLURAL, body
        )

    def md(self, name: str) -> dict[str, Any]:
        return as_json(
            self.custom.get_namespaced_custom_object(
                api.GROUP, api.VERSION, self.namespace, api.PLURAL, name
            )
        )

    def status(self, name: str) -> dict[str, Any]:
        return dict(self.md(name).get("status") or {})

    def patch_spec(self, name: str, spec_patch: dict[str, Any]) -> None:
        self.custom.patch_namespaced_custom_object(
            api.GROUP, api.VERSION, self.namespace, api.PLURAL, name, {"spec": spec_patch}
        )

    def condition(self, name: str, type_: str) -> dict[str, Any] | None:
        return next(
            (c for c in self.status(name).get("conditions", []) if c["type"] == type_), None
        )

    def events(self, name: str) -> list[dict[str, Any]]:
        listed = self.core.list_namespaced_event(
            self.namespace, field_selector=f"involvedObject.name={name}"
        )
        return [{"reason": e.reason, "type": e.type, "message": e.message} for e in listed.items]

    def wait_promoted(self, name: str, version: str, timeout: float = 30) -> None:
        """Until `version` is the ModelDeployment's stable (known-good) version."""
        self.wait(
            lambda: (self.status(name).get("stableVersion") or {}).get("name") == version,
            timeout=timeout,
            what=f"{version} promoted",
        )

    def record_versions(self, name: str) -> VersionRecorder:
        """A watch of the Deployment's template versions, for ``with``: polling could miss
        a version applied and reverted between two polls (an operator fighting itself)."""
        return VersionRecorder(self.control_plane, self.namespace, name)

    def watch_mds(self) -> Watcher:
        """A watch of the namespace's ModelDeployments from now on, for ``with``."""
        listed = as_json(
            self.custom.list_namespaced_custom_object(
                api.GROUP, api.VERSION, self.namespace, api.PLURAL, limit=1
            )
        )
        client = self.control_plane.api_client()  # the watcher's alone; it closes it
        return Watcher(
            "modeldeployments",
            k8s.CustomObjectsApi(client).list_namespaced_custom_object,
            api.GROUP,
            api.VERSION,
            self.namespace,
            api.PLURAL,
            resource_version=listed["metadata"]["resourceVersion"],
            client=client,
        )

    def wait(
        self, condition: Callable[[], T | Literal[False] | None], timeout: float, what: str
    ) -> T:
        return wait_for(condition, timeout=timeout, interval=0.25, what=what)
