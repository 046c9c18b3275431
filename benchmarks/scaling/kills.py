"""Kills during the steady window: a merge patch of spec.killSwitch, timed from the PATCH
returning to the Deployment watch event with spec.replicas == 0 (as benchmarks.killswitch
measures it), then the release, waited for until the replica is back."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from typing import Any

from kubernetes import client as k8s

from benchmarks.killswitch.bench import list_version, spec_is
from benchmarks.scaling.fleet import NAMESPACE
from modelguard.core import api
from modelguard_testenv import ControlPlane
from modelguard_testenv.recording import Watcher


class Killer:
    def __init__(self, plane: ControlPlane, timeout: float) -> None:
        self.plane = plane
        self.timeout = timeout
        self.client = plane.api_client()
        self._closing = contextlib.ExitStack()
        self._closing.callback(self.client.close)
        self.custom = k8s.CustomObjectsApi(self.client)
        self.latencies: list[float] = []
        self.timeouts = 0
        # name -> (wall clock from, to): the kill's own API requests, to count apart.
        self.spans: list[tuple[str, float, float]] = []

    @contextlib.contextmanager
    def watching(self) -> Iterator[Watcher]:
        client = self.plane.api_client()  # the watcher's alone; it closes it
        apps = k8s.AppsV1Api(client)
        with Watcher(
            "deployments",
            apps.list_namespaced_deployment,
            NAMESPACE,
            resource_version=list_version(apps.list_namespaced_deployment(NAMESPACE, limit=1)),
            client=client,
        ) as watcher:
            time.sleep(0.3)  # the stream is open before the first patch
            yield watcher

    def _patch(self, name: str, switch: dict[str, Any]) -> float:
        self.custom.patch_namespaced_custom_object(
            api.GROUP,
            api.VERSION,
            NAMESPACE,
            api.PLURAL,
            name,
            {"spec": {"killSwitch": switch}},
            _content_type="application/merge-patch+json",
        )
        return time.perf_counter()

    def kill(self, name: str, watcher: Watcher) -> float:
        """Kill `name`, time it, release it and wait until it serves again."""
        began = time.time()
        returned = self._patch(name, {"enabled": True, "reason": "scale benchmark"})
        try:
            latency = watcher.wait(name, spec_is("replicas", 0), returned, self.timeout).at
            latency -= returned
        except TimeoutError:
            latency = self.timeout
            self.timeouts += 1
        self.latencies.append(latency)
        released = self._patch(name, {"enabled": False})
        with contextlib.suppress(TimeoutError):
            watcher.wait(name, spec_is("replicas", 1), released, self.timeout)
        # The reconciles that follow the restore (status write, the Deployment's new
        # generation) land within a second or two.
        self.spans.append((name, began, time.time() + 2.0))
        return latency

    def close(self) -> None:
        self._closing.close()
