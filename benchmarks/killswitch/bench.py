"""The scenario driver: N models on the local control plane, then kills and releases, one
at a time or the whole fleet at once, each timed from its PATCH to the watch event that
shows the effect."""

from __future__ import annotations

import contextlib
import random
import statistics
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypedDict

from kubernetes import client as k8s

from benchmarks.killswitch.probe import Probe, Work
from benchmarks.killswitch.samples import Sample
from modelguard.core import api
from modelguard_testenv import ControlPlane, wait_for
from modelguard_testenv.recording import Seen, Watcher, as_json

ROOT = Path(__file__).resolve().parents[2]
NAMESPACE = "kill-bench"
FALLBACK = "fallback-rules"
FALLBACK_SELECTOR = {"app": FALLBACK}
FIELD_MANAGER = "kill-bench"

# (sent, returned: perf_counter; wall clock at return; the response body) of one PATCH.
Patched = tuple[float, float, float, dict[str, Any]]


def deployment_manifest(
    name: str, namespace: str, labels: dict[str, str], replicas: int
) -> dict[str, Any]:
    """A guarded Deployment on kwok: one `server` container at v1 (MODEL_VERSION=v1)."""
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {
                    "containers": [
                        {
                            "name": "server",
                            "image": f"registry.local/{name}:1.0",
                            "env": [{"name": "MODEL_VERSION", "value": "v1"}],
                        }
                    ]
                },
            },
        },
    }


class FleetPhase(TypedDict):
    models: int
    patching_seconds: float
    first_patch_to_last_done_seconds: float
    work: Work


def spec_is(field: str, value: object) -> Callable[[dict[str, Any]], bool]:
    """Whether an object's spec.<field> equals value (a Deployment's replicas, a Service's
    selector), for ``Watcher.wait``."""
    return lambda obj: (obj.get("spec") or {}).get(field) == value


def list_version(listed: k8s.V1DeploymentList | k8s.V1ServiceList) -> str:
    """The resourceVersion of a typed list: where a watch of it starts."""
    if listed.metadata is None or listed.metadata.resource_version is None:
        raise RuntimeError("the API server sent a list without a resourceVersion")
    return listed.metadata.resource_version


def log(message: str) -> None:
    print(f"[{datetime.now(UTC).strftime('%H:%M:%S')}] {message}", flush=True)


class Bench:
    def __init__(self, plane: ControlPlane, probe: Probe, seed: int) -> None:
        self.plane = plane
        self.probe = probe
        self.client = plane.api_client()
        self.apps = k8s.AppsV1Api(self.client)
        self.core = k8s.CoreV1Api(self.client)
        self.custom = k8s.CustomObjectsApi(self.client)
        self.rng = random.Random(seed)
        self.present = 0
        self.samples: list[Sample] = []
        self.fleet: dict[str, FleetPhase] = {}

    # ------------------------------------------------------------- setup

    def create_namespace(self) -> None:
        self.core.create_namespace(k8s.V1Namespace(metadata=k8s.V1ObjectMeta(name=NAMESPACE)))
        self._deployment(FALLBACK, FALLBACK_SELECTOR, replicas=1)
        wait_for(lambda: self._ready(FALLBACK) == 1, timeout=120, what="the fallback's Ready pod")

    def _deployment(self, name: str, labels: dict[str, str], replicas: int) -> None:
        body = deployment_manifest(name, NAMESPACE, labels, replicas)
        self.apps.create_namespaced_deployment(NAMESPACE, k8s.V1Deployment.model_validate(body))

    def _ready(self, name: str) -> int:
        obj = self.apps.read_namespaced_deployment(name, NAMESPACE)
        return int((obj.status.ready_replicas if obj.status else 0) or 0)

    @staticmethod
    def model(i: int) -> str:
        return f"model-{i:04d}"

    def grow_to(self, size: int) -> None:
        """Create models present..size-1: a Deployment, its Service and its ModelDeployment."""
        began = time.monotonic()
        for i in range(self.present, size):
            name = self.model(i)
            self._deployment(name, {"app": name}, replicas=1)
            service = {
                "apiVersion": "v1",
                "kind": "Service",
                "metadata": {"name": name, "namespace": NAMESPACE},
                "spec": {"selector": {"app": name}, "ports": [{"port": 80}]},
            }
            self.core.create_namespaced_service(NAMESPACE, k8s.V1Service.model_validate(service))
            self.custom.create_namespaced_custom_object(
                api.GROUP,
                api.VERSION,
                NAMESPACE,
                api.PLURAL,
                {
                    "apiVersion": f"{api.GROUP}/{api.VERSION}",
                    "kind": api.KIND,
                    "metadata": {"name": name, "namespace": NAMESPACE},
                    "spec": {"targetRef": {"name": name, "container": "server"}},
                },
            )
        self.present = size
        log(f"created {size} models in {time.monotonic() - began:.1f}s; waiting for them")
        self._wait_settled(size)

    def _wait_settled(self, size: int) -> None:
        """Every MD reconciled (status.phase) and every Deployment's pod Ready: the cluster
        is quiet before anything is measured."""
        began = time.monotonic()

        def reconciled() -> bool:
            listed = as_json(
                self.custom.list_namespaced_custom_object(
                    api.GROUP, api.VERSION, NAMESPACE, api.PLURAL
                )
            )
            done = sum(1 for o in listed["items"] if (o.get("status") or {}).get("phase"))
            log(f"  {done}/{size} ModelDeployments reconciled")
            return done >= size

        wait_for(reconciled, timeout=600, interval=2.0, what="all ModelDeployments reconciled")
        reconciled_after = time.monotonic() - began

        def ready() -> bool:
            listed = self.apps.list_namespaced_deployment(NAMESPACE)
            done = sum(
                1
                for d in listed.items
                if d.metadata is not None
                and d.metadata.name != FALLBACK
                and d.status is not None
                and (d.status.ready_replicas or 0) >= 1
            )
            log(f"  {done}/{size} Deployments Ready")
            return done >= size

        wait_for(ready, timeout=900, interval=3.0, what="all Deployments Ready")
        time.sleep(3.0)  # let the last status updates drain
        log(
            f"settled: reconciled after {reconciled_after:.1f}s, "
            f"Ready after {time.monotonic() - began:.1f}s"
        )

    # ------------------------------------------------------------- watches

    @contextlib.contextmanager
    def watches(self) -> Iterator[tuple[Watcher, Watcher, Watcher]]:
        """Deployments, Services and ModelDeployments, watched from now on."""
        listed = as_json(
            self.custom.list_namespaced_custom_object(
                api.GROUP, api.VERSION, NAMESPACE, api.PLURAL, limit=1
            )
        )
        # One client per watch (each Watcher closes its own): a stream holds its
        # connection for the whole run.
        clients = [self.plane.api_client() for _ in range(3)]
        watchers = (
            Watcher(
                "deployments",
                k8s.AppsV1Api(clients[0]).list_namespaced_deployment,
                NAMESPACE,
                resource_version=list_version(
                    self.apps.list_namespaced_deployment(NAMESPACE, limit=1)
                ),
                client=clients[0],
            ),
            Watcher(
                "services",
                k8s.CoreV1Api(clients[1]).list_namespaced_service,
                NAMESPACE,
                resource_version=list_version(
                    self.core.list_namespaced_service(NAMESPACE, limit=1)
                ),
                client=clients[1],
            ),
            Watcher(
                "modeldeployments",
                k8s.CustomObjectsApi(clients[2]).list_namespaced_custom_object,
                api.GROUP,
                api.VERSION,
                NAMESPACE,
                api.PLURAL,
                resource_version=listed["metadata"]["resourceVersion"],
                client=clients[2],
            ),
        )
        with contextlib.ExitStack() as stack:
            for watcher in watchers:
                stack.enter_context(watcher)
            time.sleep(0.5)  # the streams are open before the first patch
            yield watchers

    # ------------------------------------------------------------- kills

    def _patch(self, name: str, kill_switch: dict[str, Any]) -> Patched:
        """Merge-patch spec.killSwitch; (sent, returned, wall at return, response)."""
        sent = time.perf_counter()
        body = self.custom.patch_namespaced_custom_object(
            api.GROUP,
            api.VERSION,
            NAMESPACE,
            api.PLURAL,
            name,
            {"spec": {"killSwitch": kill_switch}},
            field_manager=FIELD_MANAGER,
            _content_type="application/merge-patch+json",
        )
        returned = time.perf_counter()
        return sent, returned, time.time(), as_json(body)

    @staticmethod
    def _recorded(mds: Watcher, name: str, engaged: bool, sent: float, timeout: float) -> Seen:
        """Wait until the ModelDeployment's status says the switch is (dis)engaged."""
        return mds.wait(
            name,
            lambda o: (
                bool(((o.get("status") or {}).get("killSwitch") or {}).get("engaged")) == engaged
            ),
            after=sent,
            timeout=timeout,
        )

    def _keep(
        self,
        size: int,
        mode: str,
        phase: str,
        name: str,
        patched: Patched,
        seen: Seen,
        recorded: Seen,
    ) -> None:
        """One sample from a PATCH (sent, returned, wall clock, body) and what followed."""
        sent, returned, wall, body = patched
        self.samples.append(
            Sample(
                size=size,
                mode=mode,
                phase=phase,
                md=name,
                latency=seen.at - returned,
                latency_from_send=seen.at - sent,
                patch_rtt=returned - sent,
                patch_wall=wall,
                event_wall=seen.wall,
                md_resource_version=body["metadata"]["resourceVersion"],
                event_resource_version=seen.obj["metadata"]["resourceVersion"],
                managed_fields_time=self._managed_time(body),
                recorded_latency=recorded.at - returned,
            )
        )

    @staticmethod
    def _managed_time(body: dict[str, Any]) -> str | None:
        for entry in body.get("metadata", {}).get("managedFields") or []:
            if entry.get("manager") == FIELD_MANAGER and entry.get("operation") == "Update":
                return str(entry.get("time"))
        return None

    def run(self, size: int, mode: str, kills: int) -> None:
        names = [self.model(i) for i in range(size)]
        chosen = (
            self.rng.sample(names, kills)
            if len(names) >= kills
            else [names[k % len(names)] for k in range(kills)]
        )
        log(f"N={size} {mode}: {kills} kills")
        with self.watches() as (deployments, services, mds):
            for k, name in enumerate(chosen):
                self._one(size, mode, name, deployments, services, mds)
                if (k + 1) % 10 == 0:
                    done = [s for s in self.samples if (s.size, s.mode) == (size, mode)]
                    kill = [s.latency for s in done if s.phase == "kill"]
                    log(f"  {k + 1}/{kills}: kill p50 {statistics.median(kill) * 1000:.0f} ms")

    def run_fleet(self, size: int) -> None:
        """Fleet-wide stop: all N patched back to back from one client, as the CLI's
        `modelguard kill --all` does, then all released. Per model: its PATCH returning ->
        its Deployment at 0 (restored); and from the first PATCH to the last model done."""
        names = [self.model(i) for i in range(size)]
        log(f"N={size} fleet: all {size} killed at once, then released")
        with self.watches() as (deployments, _services, mds):
            for phase, patch, replicas, engaged in (
                ("kill", {"enabled": True, "reason": "fleet", "mode": "scaleToZero"}, 0, True),
                ("restore", {"enabled": False}, 1, False),
            ):
                sent_at: dict[str, Patched] = {}
                before = self.probe.snapshot()
                for name in names:
                    sent_at[name] = self._patch(name, patch)
                patched = time.perf_counter()
                first = min(sent for sent, _, _, _ in sent_at.values())
                last = first
                for name in names:
                    sent = sent_at[name][0]
                    seen = deployments.wait(
                        name,
                        spec_is("replicas", replicas),
                        after=sent,
                        timeout=300,
                    )
                    recorded = self._recorded(mds, name, engaged, sent, timeout=300)
                    last = max(last, seen.at)
                    self._keep(size, "fleet", phase, name, sent_at[name], seen, recorded)
                self.fleet[phase] = {
                    "models": size,
                    "patching_seconds": patched - first,
                    "first_patch_to_last_done_seconds": last - first,
                    "work": self.probe.delta(before, self.probe.snapshot()),
                }
                log(
                    f"  {phase}: {size} patches in {patched - first:.1f}s, "
                    f"last model done {last - first:.1f}s after the first patch"
                )

    def _one(
        self,
        size: int,
        mode: str,
        name: str,
        deployments: Watcher,
        services: Watcher,
        mds: Watcher,
    ) -> None:
        switch: dict[str, Any] = {"enabled": True, "reason": "benchmark kill", "mode": mode}
        if mode == "fallback":
            switch["fallback"] = {"serviceName": name, "selector": FALLBACK_SELECTOR}
            watcher, killed, restored = (
                services,
                spec_is("selector", FALLBACK_SELECTOR),
                spec_is("selector", {"app": name}),
            )
        else:
            watcher, killed, restored = (
                deployments,
                spec_is("replicas", 0),
                spec_is("replicas", 1),
            )

        for phase, patch, reached, engaged in (
            ("kill", switch, killed, True),
            ("restore", {"enabled": False}, restored, False),
        ):
            sent, returned, wall, body = self._patch(name, patch)
            seen = watcher.wait(name, reached, after=sent, timeout=30)
            recorded = self._recorded(mds, name, engaged, sent, timeout=30)
            self._keep(size, mode, phase, name, (sent, returned, wall, body), seen, recorded)
            time.sleep(0.2)  # let the operator's own follow-up events drain
