"""Record every version a Deployment's pod template shows, from a watch: polling could miss
a version that was applied and reverted between two polls (an operator fighting itself)."""

from __future__ import annotations

import threading
from types import TracebackType
from typing import Any, Self

from kubernetes import client as k8s
from kubernetes import watch

from tests.e2e.cluster import Cluster


def _version(deployment: Any) -> tuple[str, str | None]:
    container = deployment.spec.template.spec.containers[0]
    tag = next((e.value for e in container.env or [] if e.name == "MODEL_VERSION"), None)
    return str(container.image), tag


def _state(deployment: Any) -> tuple[int, str, str | None]:
    return (int(deployment.spec.replicas), *_version(deployment))


class VersionRecorder:
    """Watches one Deployment in a thread; ``versions`` lists each (image, MODEL_VERSION)
    the template took, consecutive repeats (scale, status updates) collapsed; ``states``
    each (replicas, image, MODEL_VERSION) its spec took, collapsed the same way."""

    def __init__(self, cluster: Cluster, name: str) -> None:
        self._cluster = cluster
        self._name = name
        self._client = cluster.control_plane.api_client()  # not shared with the test thread
        self._apps = k8s.AppsV1Api(self._client)
        self._watch = watch.Watch()
        self._stopped = threading.Event()
        self._lock = threading.Lock()
        self._versions: list[tuple[str, str | None]] = []
        self._states: list[tuple[int, str, str | None]] = []
        self._thread = threading.Thread(target=self._run, name=f"watch {name}", daemon=True)
        self.error: BaseException | None = None

    def __enter__(self) -> Self:
        listed = self._apps.list_namespaced_deployment(
            self._cluster.namespace, field_selector=f"metadata.name={self._name}"
        )
        for item in listed.items:
            self._add(item)
        self._resource_version = listed.metadata.resource_version
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._stopped.set()
        self._watch.stop()
        self._thread.join(timeout=10)
        self._client.close()

    def _add(self, deployment: Any) -> None:
        version, state = _version(deployment), _state(deployment)
        with self._lock:
            if not self._versions or self._versions[-1] != version:
                self._versions.append(version)
            if not self._states or self._states[-1] != state:
                self._states.append(state)

    def _run(self) -> None:
        try:
            while not self._stopped.is_set():
                for event in self._watch.stream(
                    self._apps.list_namespaced_deployment,
                    self._cluster.namespace,
                    field_selector=f"metadata.name={self._name}",
                    resource_version=self._resource_version,
                    timeout_seconds=5,
                ):
                    obj = event["object"]
                    self._resource_version = obj.metadata.resource_version
                    if event["type"] in ("ADDED", "MODIFIED"):
                        self._add(obj)
                    if self._stopped.is_set():
                        break
        except BaseException as exc:  # surfaced by .versions: a silent recorder proves nothing
            if not self._stopped.is_set():
                self.error = exc

    @property
    def versions(self) -> list[tuple[str, str | None]]:
        if self.error is not None:
            raise AssertionError(f"the Deployment watch failed: {self.error!r}")
        with self._lock:
            return list(self._versions)

    @property
    def states(self) -> list[tuple[int, str, str | None]]:
        if self.error is not None:
            raise AssertionError(f"the Deployment watch failed: {self.error!r}")
        with self._lock:
            return list(self._states)
