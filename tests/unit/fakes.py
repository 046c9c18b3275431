"""In-memory fakes of our own ports, for fast tests of the reconcile loop.

FakeWorkloads implements core.ports.Workloads the way the kube adapter does against the
API server: it stores the objects, reads exactly the guarded ones (core.guarded) into a
Workload, applies level-based actions to them, round-trips the status through JSON as
the API server does, and refuses a second Event of the same name. It can fail an action
once, to put a crash between "status written" and "action applied". Like the API server it
keeps a resourceVersion per ModelDeployment, bumped on every change, and refuses a write
conditional on an old one (ConflictError); `before_status_write` runs another writer (a
second replica, a user) between a reconcile's read and its write.
"""

from __future__ import annotations

import asyncio
import copy
import itertools
import json
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from modelguard.core import api
from modelguard.core.api import (
    DEFAULT_TRACK_LABEL,
    KillSwitchMode,
    ModelDeploymentSpec,
    ModelDeploymentStatus,
    ModelVersion,
)
from modelguard.core.canary import Owner, build_for, canary_name
from modelguard.core.canary import route as routing
from modelguard.core.canary.manifest import derived_from
from modelguard.core.guarded import DEPLOYMENT, SERVICE, guarded_objects
from modelguard.core.ports import ConflictError, ModelDeploymentBody, QueryResult, Workloads
from modelguard.core.workload import (
    Action,
    CanaryAction,
    CanaryWorkload,
    DeleteCanary,
    DeleteCanaryService,
    EnsureCanaryService,
    Event,
    Progressing,
    Scale,
    ScaleCanary,
    ServiceState,
    SetRouteWeight,
    SetSelector,
    SetVersion,
    Workload,
)
from modelguard.runtime.evaluator import MetricsFactory


class CrashError(Exception):
    """The operator 'dies' here: raised by a fake instead of doing its job."""


@dataclass
class FakeDeployment:
    image: str
    env: dict[str, str] = field(default_factory=dict)
    replicas: int = 3
    container: str = "server"
    # The Deployment controller gave up on the rollout (Progressing=False).
    deadline_exceeded: bool = False


@dataclass
class FakeCanary:
    """The `<target>-canary` Deployment, as the operator built it (manifest kept)."""

    version: ModelVersion
    replicas: int
    manifest: dict[str, Any]
    ready: bool = True  # its pods become Ready at once (unless the image is never_ready)


@dataclass
class Posted:
    name: str | None
    event: Event
    about: str  # kind namespace/name of the object it is posted on


class FakeWorkloads:
    """One namespace's worth of objects. Implements modelguard.core.ports.Workloads."""

    def __init__(self) -> None:
        self.models: dict[tuple[str, str], ModelDeploymentBody] = {}
        self.deployments: dict[tuple[str, str], FakeDeployment] = {}
        self.services: dict[tuple[str, str], dict[str, str]] = {}  # name -> selector
        self.ready_pods: dict[str, list[dict[str, str]]] = {}  # namespace -> pod labels
        self.autoscalers: dict[tuple[str, str], str] = {}  # Deployment -> HPA name
        self.secrets: dict[tuple[str, str], dict[str, str]] = {}
        # (namespace or "" for cluster-scoped, kind, name) -> the stored template body
        self.templates: dict[tuple[str, str, str], dict[str, Any]] = {}
        self.template_reads = 0
        self.canaries: dict[tuple[str, str], FakeCanary] = {}  # by the canary's name
        self.routes: dict[tuple[str, str], dict[str, Any]] = {}  # HTTPRoutes, as objects
        self.route_writes: list[int] = []  # the canary weight of every route write
        # Ready pods of the target, when fewer than its replicas (a rollout, pods lost).
        self.target_ready: dict[tuple[str, str], int] = {}
        # Images whose pods never become Ready (crash loop, image pull error), like the
        # harness's kwok stage: the rollout to them never completes.
        self.never_ready: set[str] = set()
        # What happened, in order.
        self.status_writes: list[ModelDeploymentStatus] = []
        self.applied: list[Action] = []  # actions that took effect
        self.posted: list[Posted] = []
        self.refused_events = 0
        self.finalizer_writes: list[tuple[str, bool]] = []
        # Status writes, finalizer changes and actions, in order: "status", "+f", "Scale(...)".
        self.timeline: list[str] = []
        self.reads: list[tuple[str, str]] = []  # (kind, name) of every object read
        self.model_reads = 0  # get_model_deployment calls
        # Crash injection: the next matching action raises CrashError, once: instead of
        # taking effect (_crash_on) or just after it took effect (_crash_after).
        self._crash_on: Callable[[Action], bool] | None = None
        self._crash_after: Callable[[Action], bool] | None = None
        self.crash_on_emit = False
        self._versions = itertools.count(1)
        # Run once, before the next status write is checked and stored.
        self.before_status_write: Callable[[], Awaitable[None]] | None = None
        self.conflicts = 0  # conditional writes refused

    # ------------------------------------------------------------------ test setup

    def create_model(
        self,
        namespace: str,
        name: str,
        spec: Mapping[str, Any],
        annotations: Mapping[str, str] | None = None,
    ) -> None:
        self.models[namespace, name] = {
            "apiVersion": f"{api.GROUP}/{api.VERSION}",
            "kind": api.KIND,
            "metadata": {
                "namespace": namespace,
                "name": name,
                "uid": f"uid-{name}",
                "generation": 1,
                "annotations": dict(annotations or {}),
                "resourceVersion": self._next_version(),
            },
            "spec": copy.deepcopy(dict(spec)),
        }

    def _next_version(self) -> str:
        return str(next(self._versions))

    def _bump(self, namespace: str, name: str) -> str:
        version = self._next_version()
        self.models[namespace, name]["metadata"]["resourceVersion"] = version
        return version

    def _check(self, namespace: str, name: str, expected: str | None) -> None:
        stored = self.models[namespace, name]["metadata"].get("resourceVersion")
        if expected is not None and expected != stored:
            self.conflicts += 1
            raise ConflictError(f"{namespace}/{name} is at {stored}, not {expected}")

    def edit_spec(self, namespace: str, name: str, spec: Mapping[str, Any]) -> None:
        """kubectl apply: a new spec is a new generation."""
        body = self.models[namespace, name]
        body["spec"] = copy.deepcopy(dict(spec))
        body["metadata"]["generation"] += 1
        self._bump(namespace, name)

    def delete_model(self, namespace: str, name: str) -> None:
        """kubectl delete: gone at once, unless a finalizer holds it (deletionTimestamp
        set, generation bumped, as the API server does)."""
        meta = self.models[namespace, name]["metadata"]
        if not meta.get("finalizers"):
            del self.models[namespace, name]
        elif not meta.get("deletionTimestamp"):
            meta["deletionTimestamp"] = "2026-03-01T12:00:00Z"
            meta["generation"] += 1
            self._bump(namespace, name)

    def finalizers(self, namespace: str, name: str) -> list[str]:
        return list(self.models[namespace, name]["metadata"].get("finalizers") or [])

    def annotate(self, namespace: str, name: str, key: str, value: str) -> None:
        self.models[namespace, name]["metadata"]["annotations"][key] = value
        self._bump(namespace, name)

    def stored_status(self, namespace: str, name: str) -> ModelDeploymentStatus:
        return ModelDeploymentStatus.model_validate(
            self.models[namespace, name].get("status") or {}
        )

    def crash_once_on(self, matches: Callable[[Action], bool]) -> None:
        self._crash_on = matches

    def crash_once_after(self, matches: Callable[[Action], bool]) -> None:
        self._crash_after = matches

    def events(self) -> list[str]:
        return [p.event.reason for p in self.posted]

    # ------------------------------------------------------------------ the port

    async def get_model_deployment(
        self, namespace: str, name: str, *, fresh: bool = False
    ) -> ModelDeploymentBody | None:
        self.model_reads += 1
        body = self.models.get((namespace, name))
        # A copy, as from the API server: the reconciler's body does not change under it.
        return copy.deepcopy(body) if body is not None else None

    async def write_status(
        self,
        namespace: str,
        name: str,
        status: ModelDeploymentStatus,
        resource_version: str | None = None,
    ) -> str | None:
        if self.before_status_write is not None:
            other, self.before_status_write = self.before_status_write, None
            await other()
        body = self.models[namespace, name]  # KeyError: 404, as a patch of a deleted object
        self._check(namespace, name, resource_version)
        # Through JSON, as through the API server: what is read back is what was stored.
        body["status"] = json.loads(status.model_dump_json(by_alias=True))
        self.status_writes.append(ModelDeploymentStatus.model_validate(body["status"]))
        self.timeline.append("status")
        return self._bump(namespace, name)

    async def set_finalizer(
        self,
        namespace: str,
        name: str,
        finalizer: str,
        present: bool,
        resource_version: str | None = None,
        known: Sequence[str] | None = None,
    ) -> str | None:
        body = self.models.get((namespace, name))
        if body is None:
            return None
        self._check(namespace, name, resource_version)
        meta = body["metadata"]
        # What the caller believes the list is at that version must be what it is.
        assert known is None or list(known) == list(meta.get("finalizers") or []), known
        finalizers = list(meta.get("finalizers") or [])
        if (finalizer in finalizers) == present:
            return None
        if present and meta.get("deletionTimestamp"):
            return None  # refused by the API server
        if present:
            finalizers.append(finalizer)
        else:
            finalizers.remove(finalizer)
        meta["finalizers"] = finalizers
        self.finalizer_writes.append((finalizer, present))
        self.timeline.append(f"{'+' if present else '-'}{finalizer}")
        if not finalizers and meta.get("deletionTimestamp"):
            del self.models[namespace, name]  # the last finalizer went: deleted
            return None
        return self._bump(namespace, name)

    async def read_workload(
        self,
        namespace: str,
        spec: ModelDeploymentSpec,
        status: ModelDeploymentStatus,
        *,
        fresh: bool = False,
    ) -> Workload:
        guarded = dict(guarded_objects(spec.target_ref.name, spec.kill_switch, status.kill_switch))
        # As the adapter: the Service and the fallback's pods only while switching.
        switching = spec.kill_switch.enabled or status.kill_switch.engaged
        if not switching:
            guarded.pop(SERVICE, None)
        self.reads.extend(guarded.items())
        deployment = self.deployments.get((namespace, guarded[DEPLOYMENT]))
        if deployment is None:
            return Workload(exists=False)
        wanted = spec.target_ref.container
        if wanted is not None and wanted != deployment.container:
            return Workload(exists=False, problem=f"no container {wanted!r}")
        tag_env = spec.version.model_tag_env if spec.version else "MODEL_VERSION"
        service: ServiceState | None = None
        service_name = guarded.get(SERVICE)
        if service_name is not None:
            selector = self.services.get((namespace, service_name))
            service = ServiceState(service_name, selector is not None, dict(selector or {}))
        fallback = spec.kill_switch.fallback
        fallback_ready: int | None = None
        if (
            switching
            and fallback is not None
            and KillSwitchMode.FALLBACK
            in (
                spec.kill_switch.mode,
                status.kill_switch.mode,
            )
        ):
            fallback_ready = sum(
                1
                for labels in self.ready_pods.get(namespace, [])
                if fallback.selector.items() <= labels.items()
            )
        autoscaler = None
        if spec.kill_switch.enabled and not status.kill_switch.engaged:
            autoscaler = self.autoscalers.get((namespace, guarded[DEPLOYMENT]))
        canary: CanaryWorkload | None = None
        fake = self.canaries.get((namespace, canary_name(guarded[DEPLOYMENT])))
        if fake is not None and (spec.canary is not None or status.canary is not None):
            self.reads.append(("canary", canary_name(guarded[DEPLOYMENT])))
            ready = fake.ready and fake.version.image not in self.never_ready
            source = _as_manifest(namespace, guarded[DEPLOYMENT], deployment)
            canary = CanaryWorkload(
                fake.replicas,
                fake.replicas if ready else 0,
                fake.version,
                current=derived_from(fake.manifest, source),
            )
        route = None
        http = routing.route_in_play(spec, status)
        if http is not None:
            track = spec.canary.track_label if spec.canary else DEFAULT_TRACK_LABEL
            source = _as_manifest(namespace, guarded[DEPLOYMENT], deployment)
            route = routing.observe(
                http,
                self.routes.get((namespace, http.name)),
                self.services.get((namespace, http.stable_backend)),
                (namespace, http.canary_backend) in self.services,
                source["spec"]["template"]["metadata"]["labels"],
                track,
            )
        rollout = self._rollout(deployment)
        if (namespace, guarded[DEPLOYMENT]) in self.target_ready:
            rollout["ready_replicas"] = self.target_ready[namespace, guarded[DEPLOYMENT]]
        return Workload(
            exists=True,
            uid=f"uid-{guarded[DEPLOYMENT]}",
            container=deployment.container,
            version=ModelVersion(image=deployment.image, model_tag=deployment.env.get(tag_env)),
            canary=canary,
            route=route,
            **rollout,
            service=service,
            fallback_ready_pods=fallback_ready,
            autoscaler=autoscaler,
        )

    def _rollout(self, deployment: FakeDeployment) -> dict[str, Any]:
        """Pods start at once here, except those of a never-Ready image: then one surge pod
        of the new template hangs beside the old ones, as with a RollingUpdate."""
        n = deployment.replicas
        stuck = deployment.image in self.never_ready and n > 0
        progressing = Progressing("True", "NewReplicaSetAvailable")
        if deployment.deadline_exceeded:
            progressing = Progressing("False", "ProgressDeadlineExceeded", "deadline exceeded")
        return {
            "replicas": n,
            "ready_replicas": n,
            "updated_replicas": 1 if stuck else n,
            "available_replicas": n,
            "total_replicas": n + 1 if stuck else n,
            "progressing": progressing,
        }

    async def apply(self, namespace: str, spec: ModelDeploymentSpec, action: Action) -> None:
        if self._crash_on is not None and self._crash_on(action):
            self._crash_on = None
            raise CrashError(f"crashed before applying {action!r}")
        if isinstance(action, SetSelector):
            if (namespace, action.service) not in self.services:
                raise LookupError(f"Service {action.service!r} not found")
            self.services[namespace, action.service] = dict(action.selector)
        else:
            deployment = self.deployments.get((namespace, spec.target_ref.name))
            if deployment is None:
                raise LookupError(f"Deployment {spec.target_ref.name!r} not found")
            if isinstance(action, Scale):
                deployment.replicas = action.replicas
            elif isinstance(action, SetVersion):
                if action.version.image is not None:
                    deployment.image = action.version.image
                if action.version.model_tag is not None:
                    deployment.env[action.tag_env] = action.version.model_tag
        self.applied.append(action)
        self.timeline.append(repr(action))
        if self._crash_after is not None and self._crash_after(action):
            self._crash_after = None
            raise CrashError(f"crashed after applying {action!r}")

    async def apply_canary(
        self, namespace: str, spec: ModelDeploymentSpec, owner: Owner, action: CanaryAction
    ) -> None:
        """As the adapter: the canary is built from the target (only read) and written."""
        if self._crash_on is not None and self._crash_on(action):
            self._crash_on = None
            raise CrashError(f"crashed before applying {action!r}")
        key = (namespace, canary_name(spec.target_ref.name))
        if isinstance(action, SetRouteWeight):
            r = action.route
            self.routes[namespace, r.name] = routing.with_weights(
                self.routes[namespace, r.name],
                r.stable_backend,
                r.canary_backend,
                action.weight,
                in_progress=action.in_progress,
            )
            self.route_writes.append(action.weight)
        elif isinstance(action, EnsureCanaryService):
            assert spec.canary is not None
            stable = {"spec": {"ports": [{"port": 80}]}}
            built = routing.canary_service(
                action.route.canary_backend, namespace, stable, spec.canary.track_label, owner
            )
            self.services[namespace, action.route.canary_backend] = built["spec"]["selector"]
        elif isinstance(action, DeleteCanaryService):
            self.services.pop((namespace, action.route.canary_backend), None)
        elif isinstance(action, DeleteCanary):
            self.canaries.pop(key, None)
        elif isinstance(action, ScaleCanary):
            if key in self.canaries:
                self.canaries[key].replicas = action.replicas
        else:
            target = self.deployments.get((namespace, spec.target_ref.name))
            if target is None:
                raise LookupError(f"Deployment {spec.target_ref.name!r} not found")
            manifest = build_for(
                _as_manifest(namespace, spec.target_ref.name, target), spec, owner, action
            )
            self.canaries[key] = FakeCanary(action.version, action.replicas, manifest)
        self.applied.append(action)
        self.timeline.append(repr(action))
        if self._crash_after is not None and self._crash_after(action):
            self._crash_after = None
            raise CrashError(f"crashed after applying {action!r}")

    async def read_secret_key(self, namespace: str, name: str, key: str) -> str:
        value = self.secrets.get((namespace, name), {}).get(key)
        if value is None:
            raise LookupError(f"Secret {name!r} not found or has no key {key!r}")
        return value

    async def read_check_template(
        self, namespace: str, kind: str, name: str
    ) -> dict[str, Any] | None:
        self.template_reads += 1
        scope = "" if kind == "ClusterModelCheckTemplate" else namespace
        return self.templates.get((scope, kind, name))

    async def emit(self, body: ModelDeploymentBody, event: Event, name: str | None = None) -> None:
        if self.crash_on_emit:
            raise CrashError("crashed before posting an Event")
        if name is not None and any(p.name == name for p in self.posted):
            self.refused_events += 1  # 409 AlreadyExists, swallowed by the real adapter
            return
        meta = body["metadata"]
        kind = body.get("kind", api.KIND)
        self.posted.append(Posted(name, event, f"{kind} {meta['namespace']}/{meta['name']}"))


def _as_manifest(namespace: str, name: str, deployment: FakeDeployment) -> dict[str, Any]:
    """The fake Deployment as the API server would return it (the canary's source)."""
    env = [{"name": k, "value": v} for k, v in deployment.env.items()]
    return {
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "replicas": deployment.replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name, "pod-template-hash": "abc"}},
                "spec": {
                    "containers": [
                        {"name": deployment.container, "image": deployment.image, "env": env}
                    ]
                },
            },
        },
    }


class FakeMetrics:
    """A MetricsSource answering each query from a function of the PromQL text; with a
    `hold`, each query first waits for it (a Prometheus that accepts and never answers)."""

    def __init__(
        self,
        answer: Callable[[str, datetime | None], QueryResult],
        hold: asyncio.Event | None = None,
    ) -> None:
        self._answer = answer
        self._hold = hold
        self.queries: list[str] = []
        self.times: dict[str, datetime | None] = {}  # query -> the time it was read at
        self.waiting = 0  # queries held right now
        self.closed = False

    async def query(self, promql: str, at: datetime | None = None) -> QueryResult:
        assert not self.closed, "queried after close()"
        self.queries.append(promql)
        self.times[promql] = at
        if self._hold is not None:
            self.waiting += 1
            try:
                await self._hold.wait()
            finally:
                self.waiting -= 1
        return self._answer(promql, at)

    def close(self) -> None:
        self.closed = True


class FakePrometheus:
    """A metrics factory (url, timeout, token) -> FakeMetrics; keeps every source opened."""

    def __init__(self) -> None:
        # Answer per query substring (e.g. a version label); no match: no series.
        self.answers: dict[str, QueryResult] = {}
        # Series that ended (the version stopped serving): per fragment, the last time
        # they existed. Read now (no time) or later, such a query finds no series.
        self.ended: dict[str, datetime] = {}
        self.opened: list[tuple[str, float, str | None]] = []
        self.sources: list[FakeMetrics] = []
        self.hold: asyncio.Event | None = None  # sources opened while set wait for it

    def __call__(self, url: str, timeout: float, token: str | None) -> FakeMetrics:
        self.opened.append((url, timeout, token))
        source = FakeMetrics(self._answer, self.hold)
        self.sources.append(source)
        return source

    def _answer(self, promql: str, at: datetime | None) -> QueryResult:
        for fragment, end in self.ended.items():
            if fragment in promql and (at is None or at > end):
                return QueryResult()
        for fragment, result in self.answers.items():
            if fragment in promql:
                return result
        return QueryResult()

    def times(self) -> dict[str, datetime | None]:
        """Each query's evaluation time (None: now), as last asked."""
        return {q: t for s in self.sources for q, t in s.times.items()}

    def queries(self) -> list[str]:
        return [q for s in self.sources for q in s.queries]

    def waiting(self) -> int:
        """Queries held right now, over every source."""
        return sum(s.waiting for s in self.sources)


class Clock:
    """An injected clock that moves only when the test says so."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, delta: timedelta) -> None:
        self.now += delta


def _implements_the_ports(kube: FakeWorkloads, metrics: FakePrometheus) -> None:
    """Never called: mypy checks here that the fakes fit the Protocols structurally."""
    _: Workloads = kube
    __: MetricsFactory = metrics
