"""Kill-switch latency on the real local control plane, with the real operator process.

    python benchmarks/kill_switch.py [--sizes 1,100,500] [--kills 30] [--fallback-size 100]

What runs: ``modelguard_testenv.ControlPlane`` (etcd, kube-apiserver, controller-manager,
scheduler, kwok with one fake node), the CRD and ``deploy/rbac.yaml`` applied, and the
operator started by ``OperatorProcess`` exactly as a pod runs it (``kopf run``, all
namespaces) with the ServiceAccount's identity. For each size N, N ModelDeployments are
present, each guarding its own 1-replica Deployment (kill-switch only: no analysis, so no
Prometheus), all reconciled (every one has ``status.phase``) before anything is measured.

What is measured, per kill (a merge patch of spec.killSwitch, as ``kubectl patch`` sends):

- kill: from the PATCH call returning to the arrival of the Deployment watch event that
  shows ``spec.replicas == 0``. The watch is opened before the first patch, and events are
  timestamped as their line arrives, before any parsing;
- restore: from the release PATCH returning to the event with the saved replica count;
- fallback mode: the same, to the Service watch event with the fallback selector, and back.

For reference each sample also keeps the MD's resourceVersion and managedFields time from
the PATCH response and the operator's own log timestamps (``--log-format=json``): when
kopf handled the MD event and when the reconciler applied the action, which splits the
latency into watch delivery, reconcile, and the action's round trip.

Results go to ``benchmarks/results/kill_switch.{md,json}`` (``--output`` changes the stem).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import platform
import random
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from kubernetes import client as k8s
from kubernetes.watch.watch import iter_resp_lines

from modelguard.core import api
from modelguard_testenv import ControlPlane, wait_for
from modelguard_testenv.operator_process import OperatorProcess

ROOT = Path(__file__).resolve().parents[1]
CRD = ROOT / "crds" / "modelguard.io_modeldeployments.yaml"
RBAC = ROOT / "deploy" / "rbac.yaml"
RESULTS = ROOT / "benchmarks" / "results" / "kill_switch"
NAMESPACE = "kill-bench"
OPERATOR_NAMESPACE = "modelguard-system"
FALLBACK = "fallback-rules"
FALLBACK_SELECTOR = {"app": FALLBACK}
FIELD_MANAGER = "kill-bench"
GOAL_P95 = 1.0  # seconds, at the largest size


def log(message: str) -> None:
    print(f"[{datetime.now(UTC).strftime('%H:%M:%S')}] {message}", flush=True)


# ----------------------------------------------------------------------------- watching


@dataclass(frozen=True)
class Seen:
    """One watch event, stamped on arrival (perf_counter and wall clock)."""

    at: float
    wall: float
    type: str
    obj: dict[str, Any]


class Watcher:
    """A raw WATCH in a thread; events are stamped when their line arrives.

    ``start`` opens the stream from a resourceVersion; on a server-side timeout the watch is
    resumed from the last resourceVersion seen, so no event between patches is missed.
    """

    def __init__(self, name: str, open_stream: Callable[[str], Any], resource_version: str):
        self.name = name
        self._open = open_stream
        self._rv = resource_version
        self._events: dict[str, list[Seen]] = {}
        self._cond = threading.Condition()
        self._stop = False
        self._resp: Any = None
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name=f"watch {name}", daemon=True)

    def start(self) -> Watcher:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop = True
        with contextlib.suppress(Exception):
            if self._resp is not None:
                self._resp.shutdown()
        self._thread.join(timeout=5)

    def _run(self) -> None:
        try:
            while not self._stop:
                self._resp = self._open(self._rv)
                try:
                    for line in iter_resp_lines(self._resp):
                        at, wall = time.perf_counter(), time.time()
                        if not line:
                            continue
                        event = json.loads(line)
                        obj = event.get("object") or {}
                        if event.get("type") == "ERROR":
                            raise RuntimeError(f"watch {self.name} failed: {obj}")
                        self._rv = obj.get("metadata", {}).get("resourceVersion", self._rv)
                        if event.get("type") == "BOOKMARK":
                            continue
                        seen = Seen(at, wall, str(event.get("type")), obj)
                        with self._cond:
                            name = obj["metadata"]["name"]
                            self._events.setdefault(name, []).append(seen)
                            self._cond.notify_all()
                        if self._stop:
                            break
                finally:
                    with contextlib.suppress(Exception):
                        self._resp.release_conn()
        except BaseException as exc:  # surfaced to the waiting thread
            if not self._stop:
                self.error = exc
                with self._cond:
                    self._cond.notify_all()

    def wait(
        self, name: str, predicate: Callable[[dict[str, Any]], bool], after: float, timeout: float
    ) -> Seen:
        """The first event of object `name` arriving after `after` that satisfies predicate."""
        deadline = time.perf_counter() + timeout
        with self._cond:
            checked = 0
            while True:
                if self.error is not None:
                    raise RuntimeError(f"watch {self.name} died") from self.error
                events = self._events.get(name, [])
                for seen in events[checked:]:
                    if seen.at >= after and predicate(seen.obj):
                        return seen
                checked = len(events)
                remaining = deadline - time.perf_counter()
                if remaining <= 0:
                    raise TimeoutError(f"{self.name}/{name}: no matching event in {timeout}s")
                self._cond.wait(remaining)


# ----------------------------------------------------------------------------- probes


class Probe:
    """CPU seconds per process and API requests by verb/resource over a phase: who did
    the work while the fleet was being killed."""

    def __init__(self, plane: ControlPlane, operator: OperatorProcess) -> None:
        self.plane = plane
        self.pids = {name: proc.pid for name, proc in plane.processes.items()}
        self.pids["operator"] = operator._proc.pid if operator._proc is not None else None
        self.pids["benchmark"] = os.getpid()

    @staticmethod
    def _cpu(pid: int | None) -> float:
        if pid is None:
            return 0.0
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            return 0.0
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def _requests(self) -> dict[str, float]:
        out: dict[str, float] = {}
        text = self.plane.kubectl("get", "--raw", "/metrics").stdout
        for line in text.splitlines():
            if not line.startswith("apiserver_request_total{"):
                continue
            labels_text, value = line[len("apiserver_request_total{") :].rsplit("} ", 1)
            labels = dict(part.split("=", 1) for part in labels_text.split(",") if "=" in part)
            labels = {k: v.strip('"') for k, v in labels.items()}
            resource = labels.get("resource", "")
            if labels.get("subresource"):
                resource += "/" + labels["subresource"]
            key = f"{labels.get('verb', '')} {resource}"
            out[key] = out.get(key, 0.0) + float(value)
        return out

    def snapshot(self) -> dict[str, Any]:
        return {
            "cpu": {name: self._cpu(pid) for name, pid in self.pids.items()},
            "requests": self._requests(),
            "at": time.perf_counter(),
        }

    @staticmethod
    def delta(before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any]:
        cpu = {k: after["cpu"][k] - before["cpu"].get(k, 0.0) for k in after["cpu"]}
        requests = {
            k: v - before["requests"].get(k, 0.0)
            for k, v in after["requests"].items()
            if v - before["requests"].get(k, 0.0) >= 1
        }
        top = dict(sorted(requests.items(), key=lambda kv: -kv[1])[:14])
        return {
            "seconds": after["at"] - before["at"],
            "cpu_seconds": {k: round(v, 1) for k, v in sorted(cpu.items(), key=lambda kv: -kv[1])},
            "apiserver_requests": {k: int(v) for k, v in top.items()},
        }


# ----------------------------------------------------------------------------- samples


@dataclass
class Sample:
    size: int
    mode: str
    phase: str  # "kill" or "restore"
    md: str
    latency: float  # PATCH returned -> watch event arrived (s)
    latency_from_send: float  # PATCH sent -> watch event arrived (s)
    patch_rtt: float
    patch_wall: float  # wall clock when the PATCH returned
    event_wall: float
    md_resource_version: str
    event_resource_version: str
    managed_fields_time: str | None
    recorded_latency: float | None = None  # PATCH returned -> MD status shows the change
    # From the operator's log (wall clock), filled in after the run.
    handled_wall: float | None = None  # kopf handled the MD event
    applied_wall: float | None = None  # the reconciler applied the action


def percentile(values: list[float], p: float) -> float:
    """Nearest-rank percentile (p in 0..100): a value that was actually measured."""
    ordered = sorted(values)
    rank = max(1, math.ceil(p / 100 * len(ordered)))
    return ordered[rank - 1]


def summary(values: list[float]) -> dict[str, float]:
    return {
        "n": len(values),
        "p50": percentile(values, 50),
        "p95": percentile(values, 95),
        "max": max(values),
        "mean": statistics.fmean(values),
    }


# ----------------------------------------------------------------------------- the bench


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
        self.fleet: dict[str, dict[str, float]] = {}

    # ------------------------------------------------------------- setup

    def create_namespace(self) -> None:
        self.core.create_namespace(k8s.V1Namespace(metadata=k8s.V1ObjectMeta(name=NAMESPACE)))
        self._deployment(FALLBACK, FALLBACK_SELECTOR, replicas=1)
        wait_for(lambda: self._ready(FALLBACK) == 1, timeout=120, what="the fallback's Ready pod")

    def _deployment(self, name: str, labels: dict[str, str], replicas: int) -> None:
        body = {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": name, "namespace": NAMESPACE},
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
        self.apps.create_namespaced_deployment(NAMESPACE, body)

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
            self.core.create_namespaced_service(
                NAMESPACE,
                {
                    "apiVersion": "v1",
                    "kind": "Service",
                    "metadata": {"name": name, "namespace": NAMESPACE},
                    "spec": {"selector": {"app": name}, "ports": [{"port": 80}]},
                },
            )
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
            listed = self.custom.list_namespaced_custom_object(
                api.GROUP, api.VERSION, NAMESPACE, api.PLURAL
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
                if d.metadata.name != FALLBACK and (d.status.ready_replicas or 0) >= 1
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
        clients = [self.plane.api_client() for _ in range(3)]
        apps, core, custom = (
            k8s.AppsV1Api(clients[0]),
            k8s.CoreV1Api(clients[1]),
            k8s.CustomObjectsApi(clients[2]),
        )
        common: dict[str, Any] = {
            "watch": True,
            "allow_watch_bookmarks": True,
            "timeout_seconds": 1800,
            "_preload_content": False,
        }
        deployments = Watcher(
            "deployments",
            lambda rv: apps.list_namespaced_deployment(NAMESPACE, resource_version=rv, **common),
            self.apps.list_namespaced_deployment(NAMESPACE, limit=1).metadata.resource_version,
        )
        services = Watcher(
            "services",
            lambda rv: core.list_namespaced_service(NAMESPACE, resource_version=rv, **common),
            self.core.list_namespaced_service(NAMESPACE, limit=1).metadata.resource_version,
        )
        listed = self.custom.list_namespaced_custom_object(
            api.GROUP, api.VERSION, NAMESPACE, api.PLURAL, limit=1
        )
        mds = Watcher(
            "modeldeployments",
            lambda rv: custom.list_namespaced_custom_object(
                api.GROUP, api.VERSION, NAMESPACE, api.PLURAL, resource_version=rv, **common
            ),
            listed["metadata"]["resourceVersion"],
        )
        watchers = (deployments.start(), services.start(), mds.start())
        time.sleep(0.5)  # the streams are open before the first patch
        try:
            yield watchers
        finally:
            for w in watchers:
                w.stop()
            for c in clients:
                c.close()

    # ------------------------------------------------------------- kills

    def _patch(
        self, name: str, kill_switch: dict[str, Any]
    ) -> tuple[float, float, float, dict[str, Any]]:
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
        return sent, returned, time.time(), dict(body)

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
        patched: tuple[float, float, float, dict[str, Any]],
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
                sent_at: dict[str, tuple[float, float, float, dict[str, Any]]] = {}
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
                        lambda o, r=replicas: (o.get("spec") or {}).get("replicas") == r,
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
                lambda o: (o.get("spec") or {}).get("selector") == FALLBACK_SELECTOR,
                lambda o: (o.get("spec") or {}).get("selector") == {"app": name},
            )
        else:
            watcher, killed, restored = (
                deployments,
                lambda o: (o.get("spec") or {}).get("replicas") == 0,
                lambda o: (o.get("spec") or {}).get("replicas") == 1,
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


# ----------------------------------------------------------------------------- operator log


def attach_operator_timings(samples: list[Sample], log_file: Path) -> None:
    """Fill handled_wall/applied_wall from the operator's JSON log, per sample."""
    handled: dict[str, list[float]] = {}
    applied: dict[str, list[float]] = {}
    with log_file.open(encoding="utf-8", errors="replace") as lines:
        for line in lines:
            if not line.startswith("{"):
                continue
            try:
                entry = json.loads(line)
            except ValueError:
                continue
            message = str(entry.get("message", ""))
            stamp = entry.get("timestamp")
            if not stamp:
                continue
            wall = datetime.fromisoformat(stamp).timestamp()
            obj = entry.get("object") or {}
            if message == "Handler 'model_deployment_event' succeeded." and obj.get("name"):
                handled.setdefault(obj["name"], []).append(wall)
            elif message.startswith("Applying "):
                # "Applying Scale to Deployment ns/name"; here each model's Deployment
                # and ModelDeployment share a name.
                target = entry.get("modeldeployment") or message.rsplit(" ", 1)[-1]
                applied.setdefault(str(target).rsplit("/", 1)[-1], []).append(wall)
    for s in samples:
        sent_wall = s.patch_wall - s.patch_rtt
        s.handled_wall = next((t for t in handled.get(s.md, []) if t >= sent_wall), None)
        s.applied_wall = next((t for t in applied.get(s.md, []) if t >= sent_wall), None)


def breakdown(samples: list[Sample]) -> dict[str, float] | None:
    """Medians of: PATCH return -> kopf handled the MD event -> action applied -> event seen."""
    rows = [s for s in samples if s.handled_wall and s.applied_wall]
    if not rows:
        return None
    return {
        "watch_to_handler": statistics.median([(s.handled_wall or 0) - s.patch_wall for s in rows]),
        "handler_to_action": statistics.median(
            [(s.applied_wall or 0) - (s.handled_wall or 0) for s in rows]
        ),
        "action_to_event": statistics.median([s.event_wall - (s.applied_wall or 0) for s in rows]),
    }


# ----------------------------------------------------------------------------- report


def source_state() -> str:
    """The commit the operator ran from, and any uncommitted operator files."""

    def git(*args: str) -> str:
        done = subprocess.run(
            ["git", "-C", str(ROOT), *args], capture_output=True, text=True, check=False
        )
        return done.stdout.rstrip("\n")

    head = git("rev-parse", "--short", "HEAD").strip() or "unknown"
    dirty = [line[3:] for line in git("status", "--porcelain", "operator/").splitlines()]
    return head + (f" + uncommitted: {', '.join(dirty)}" if dirty else "")


def machine_facts(plane: ControlPlane) -> dict[str, Any]:
    with plane.api_client() as c:
        server = k8s.VersionApi(c).get_code().git_version
    import kopf  # noqa: PLC0415 - only for its version

    return {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "operator_source": source_state(),
        "nproc": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "kubernetes": server,
        "kopf": getattr(kopf, "__version__", "?"),
        "loadavg_start": os.getloadavg(),
    }


def report(
    samples: list[Sample],
    fleet: dict[str, dict[str, float]],
    facts: dict[str, Any],
    args: argparse.Namespace,
) -> tuple[str, dict[str, Any]]:
    groups: dict[tuple[int, str, str], list[Sample]] = {}
    for s in samples:
        groups.setdefault((s.size, s.mode, s.phase), []).append(s)
    rows = []
    for (size, mode, phase), group in sorted(groups.items()):
        stats = summary([s.latency for s in group])
        recorded = summary([s.recorded_latency or 0.0 for s in group])
        rows.append(
            {
                "size": size,
                "mode": mode,
                "phase": phase,
                **{k: stats[k] for k in ("n", "p50", "p95", "max", "mean")},
                "status_p50": recorded["p50"],
                "patch_rtt_p50": statistics.median([s.patch_rtt for s in group]),
                "breakdown": breakdown(group),
            }
        )

    def ms(x: float) -> str:
        return f"{x * 1000:.0f}"

    largest = max(s.size for s in samples)
    goal_rows = [
        r for r in rows if r["size"] == largest and r["phase"] == "kill" and r["mode"] != "fleet"
    ]
    met = all(r["p95"] < GOAL_P95 for r in goal_rows)
    command = shlex.join(["python", "benchmarks/kill_switch.py", *sys.argv[1:]])
    lines = [
        "# Kill-switch latency",
        "",
        f"`{command}`",
        "",
        "Real local control plane (etcd, kube-apiserver, controller-manager, scheduler, kwok),",
        "real operator process (`kopf run -m modelguard.runtime.handlers --all-namespaces`, as its",
        "ServiceAccount with deploy/rbac.yaml). Latency = PATCH of spec.killSwitch returned ->",
        "arrival of the watch event showing the effect (Deployment spec.replicas 0 / restored,",
        "or the Service selector switched / restored). Nearest-rank percentiles, in ms.",
        "Modes scaleToZero and fallback: one kill at a time (kill, wait, release, wait) on",
        "randomly chosen models while the other N-1 sit idle. Mode fleet: all N patched back",
        "to back, as `modelguard kill --all` does, each model timed from its own PATCH.",
        "",
        "| N | mode | phase | n | p50 | p95 | max | status recorded p50 | PATCH rtt p50 |",
        "|--:|------|-------|--:|----:|----:|----:|--------------------:|--------------:|",
    ]
    for r in rows:
        lines.append(
            f"| {r['size']} | {r['mode']} | {r['phase']} | {r['n']} | {ms(r['p50'])} | "
            f"{ms(r['p95'])} | {ms(r['max'])} | {ms(r['status_p50'])} | "
            f"{ms(r['patch_rtt_p50'])} |"
        )
    lines += [
        "",
        f"Goal: kill p95 < {GOAL_P95 * 1000:.0f} ms at N={largest} (one kill at a time): "
        + ("**met**." if met else "**missed**."),
        "",
        "Where the time goes (medians, ms, from the operator's JSON log timestamps):",
        "",
        "| N | mode | phase | PATCH -> kopf handled MD event | -> action applied | "
        "-> watch event seen |",
        "|--:|------|-------|------:|------:|------:|",
    ]
    for r in rows:
        b = r["breakdown"]
        if b:
            lines.append(
                f"| {r['size']} | {r['mode']} | {r['phase']} | {ms(b['watch_to_handler'])} | "
                f"{ms(b['handler_to_action'])} | {ms(b['action_to_event'])} |"
            )
    for phase, f in fleet.items():
        lines.append(
            f"\nFleet {phase}: {f['models']:.0f} PATCHes sent in {f['patching_seconds']:.2f} s; "
            f"the last model was done {f['first_patch_to_last_done_seconds']:.2f} s after "
            "the first PATCH."
        )
        work = f.get("work")
        if work:
            cpu = ", ".join(f"{k} {v}" for k, v in work["cpu_seconds"].items())
            calls = ", ".join(f"{k} {v}" for k, v in work["apiserver_requests"].items())
            lines.append(
                f"CPU seconds over those {work['seconds']:.1f} s ({os.cpu_count()} cores = "
                f"{(os.cpu_count() or 1) * work['seconds']:.0f} s available): {cpu}."
            )
            lines.append(f"API requests (all clients): {calls}.")
    if args.compare:
        lines += compare_lines(rows, json.loads(args.compare.read_text()))
    lines += ["", "Machine:", ""]
    lines += [f"- {k}: {v}" for k, v in facts.items()]
    lines.append("")
    data = {
        "label": args.label,
        "args": {
            "sizes": args.sizes,
            "kills": args.kills,
            "fallback_size": args.fallback_size,
            "seed": args.seed,
            "operator_env": args.operator_env,
            "fleet": args.fleet,
        },
        "machine": facts,
        "goal": {"kill_p95_seconds_below": GOAL_P95, "size": largest, "met": met},
        "summary": rows,
        "fleet": fleet,
    }
    return "\n".join(lines), data


def compare_lines(rows: list[dict[str, Any]], before: dict[str, Any]) -> list[str]:
    """A before/after table against an earlier run's JSON (--compare)."""
    old = {(r["size"], r["mode"], r["phase"]): r for r in before.get("summary", [])}
    out = [
        "",
        f"Compared with {before.get('label') or 'an earlier run'} "
        f"({before.get('machine', {}).get('date', '?')}, operator "
        f"{before.get('machine', {}).get('operator_source', '?')}), ms:",
        "",
        "| N | mode | phase | p50 before | p50 after | p95 before | p95 after | "
        "max before | max after |",
        "|--:|------|-------|--:|--:|--:|--:|--:|--:|",
    ]
    for r in rows:
        b = old.get((r["size"], r["mode"], r["phase"]))
        if b is None:
            continue
        out.append(
            f"| {r['size']} | {r['mode']} | {r['phase']} | {b['p50'] * 1000:.0f} | "
            f"{r['p50'] * 1000:.0f} | {b['p95'] * 1000:.0f} | {r['p95'] * 1000:.0f} | "
            f"{b['max'] * 1000:.0f} | {r['max'] * 1000:.0f} |"
        )
    for phase, f in (before.get("fleet") or {}).items():
        out.append(
            f"\nBefore, fleet {phase}: last model done "
            f"{f['first_patch_to_last_done_seconds']:.2f} s after the first PATCH."
        )
    return out


def print_table(rows: list[dict[str, Any]]) -> None:
    print(f"{'N':>5} {'mode':<12} {'phase':<8} {'n':>3} {'p50':>7} {'p95':>7} {'max':>7}  (ms)")
    for r in rows:
        print(
            f"{r['size']:>5} {r['mode']:<12} {r['phase']:<8} {r['n']:>3} "
            f"{r['p50'] * 1000:>7.0f} {r['p95'] * 1000:>7.0f} {r['max'] * 1000:>7.0f}"
        )


# ----------------------------------------------------------------------------- main


def start_operator(plane: ControlPlane, log_file: Path, env: dict[str, str]) -> OperatorProcess:
    """CRD, RBAC, and the operator as its ServiceAccount, watching all namespaces."""
    plane.kubectl("apply", "--server-side", "-f", str(CRD))
    plane.kubectl(
        "wait", "--for=condition=Established", "crd/modeldeployments.modelguard.io", "--timeout=60s"
    )
    plane.kubectl("create", "namespace", OPERATOR_NAMESPACE)
    plane.kubectl("apply", "-f", str(RBAC))
    identity = plane.service_account_credentials(OPERATOR_NAMESPACE, "modelguard")
    return OperatorProcess(identity.kubeconfig, log_file, env=env).start()


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1,100,500", help="comma-separated N (ascending)")
    parser.add_argument("--kills", type=int, default=30, help="kills per size and mode")
    parser.add_argument(
        "--fallback-size", type=int, default=100, help="N at which fallback mode is measured"
    )
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--output", type=Path, default=RESULTS, help="stem of the .md/.json")
    parser.add_argument("--label", default="", help="a name for this run in the results")
    parser.add_argument(
        "--operator-env",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="extra environment for the operator process (e.g. MODELGUARD_CONCURRENCY=32)",
    )
    parser.add_argument(
        "--fleet",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="at the largest N, also kill and release all N at once",
    )
    parser.add_argument("--compare", type=Path, help="an earlier run's .json: before/after table")
    parser.add_argument("--samples", type=Path, help="also write every raw sample to this file")
    parser.add_argument("--keep-logs", action="store_true", help="keep operator/plane logs")
    args = parser.parse_args(argv)
    args.size_list = sorted(int(s) for s in args.sizes.split(","))
    if args.fallback_size and args.fallback_size not in args.size_list:
        parser.error("--fallback-size must be one of --sizes")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)

    workdir = Path(tempfile.mkdtemp(prefix="modelguard-kill-bench-"))
    operator_log = workdir / "operator.log"
    # The controller-manager's default client QPS (20) makes 500 Deployments take minutes
    # to roll out; it is not on the measured path (the operator patches the Deployment).
    plane = ControlPlane(
        extra_args={"kube-controller-manager": ["--kube-api-qps=200", "--kube-api-burst=400"]}
    )
    log("starting the control plane")
    plane.start()
    operator: OperatorProcess | None = None
    ok = False
    try:
        facts = machine_facts(plane)
        env = dict(item.split("=", 1) for item in args.operator_env)
        operator = start_operator(plane, operator_log, env)
        log(f"operator started (log: {operator_log})")

        bench = Bench(plane, Probe(plane, operator), args.seed)
        bench.create_namespace()
        for size in args.size_list:
            bench.grow_to(size)
            bench.run(size, "scaleToZero", args.kills)
            if size == args.fallback_size:
                bench.run(size, "fallback", args.kills)
        if args.fleet:
            bench.run_fleet(args.size_list[-1])
        facts["loadavg_end"] = os.getloadavg()
        facts["operator_env"] = env or "defaults"
        attach_operator_timings(bench.samples, operator_log)
        text, data = report(bench.samples, bench.fleet, facts, args)
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.with_suffix(".md").write_text(text)
        args.output.with_suffix(".json").write_text(json.dumps(data, indent=1, default=str))
        if args.samples is not None:
            # Every raw sample: large, so kept out of the committed results by default.
            raw = [asdict(s) for s in bench.samples]
            args.samples.write_text(json.dumps(raw, default=str))
        print()
        print_table(data["summary"])
        print(f"\nwrote {args.output.with_suffix('.md')} and .json")
        ok = bool(data["goal"]["met"])
    finally:
        if operator is not None:
            operator.stop()
        plane.stop(keep_logs=args.keep_logs or None)
        if args.keep_logs:
            log(f"operator log kept in {operator_log}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
