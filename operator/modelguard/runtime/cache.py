"""A watch cache in front of the Workloads port: steady-state reconciles make no GETs.

kopf already watches the ModelDeployments and the Deployments they guard (handlers.py),
so what a reconcile would GET is mostly in memory already. `CachedWorkloads` wraps the
real port and answers from what the watches delivered:

- ModelDeployments: the bodies the watch delivers (managedFields too: they tell who
  engaged a kill switch, core.metadata), kept up to date
  by our own status and finalizer writes too, so that the next fenced write carries the
  resourceVersion the API server has and does not 409. A write refreshes the entry only
  when the entry is the version the write was fenced on: if the watch delivered anything
  newer meanwhile (a user's edit), that stays; a write-back of an older body over a newer
  one, with no further event to come, would hide the edit.
- Workloads (what read_workload makes of the Deployment): kept per Deployment while
  nothing switches, canaries or routes (then the read depends on more objects than the
  watch feeds us, and it is rare), dropped by any watch event that changes the Deployment
  (a new resourceVersion) and by our own actions on it. A Deployment body is ten times
  the size of the few fields the Workload keeps, and nothing else reads it.

A read goes to the API server when the cache has no entry, when the entry is older than
`max_age` (a DELETED event lost in a watch gap must not keep a ghost alive; our writes
and the watch refresh live entries), after a write was refused as a conflict, and when
the caller asks for `fresh`: the reconciler does for every decision that acts, so an
action is only ever decided on reads from the API server, exactly as without the cache.
Writes are never cached: they all go to the API server, fenced as the caller asked.

A GET in flight when an event changes the object must not store its older answer over
the event's newer one: an event on an object being read marks it, and a GET stores its
answer only if no mark was made while it ran.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from modelguard.core.api import ModelDeploymentSpec, ModelDeploymentStatus
from modelguard.core.canary import Owner
from modelguard.core.canary.route import route_in_play
from modelguard.core.ports import ConflictError, ModelDeploymentBody, Workloads
from modelguard.core.workload import Action, CanaryAction, Event, Workload
from modelguard.runtime import telemetry

Key = tuple[str, str]
#: Entries older than this are read again (a ghost of a missed DELETED lives this long).
MAX_AGE_SECONDS = 600.0


class CachedWorkloads:
    """Implements modelguard.core.ports.Workloads on top of another implementation."""

    def __init__(
        self,
        inner: Workloads,
        *,
        max_age: float = MAX_AGE_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._inner = inner
        self._max_age = max_age
        self._clock = clock
        self._models: dict[Key, tuple[float, ModelDeploymentBody]] = {}
        # By Deployment: (when, what it was read for, the Workload).
        self._workloads: dict[Key, tuple[float, object, Workload]] = {}
        self._deployment_versions: dict[Key, str | None] = {}  # last seen, by Deployment
        # Objects being read (how many reads in flight), and those changed meanwhile.
        self._reading: dict[tuple[str, str, str], int] = {}
        self._dirty: set[tuple[str, str, str]] = set()

    # ------------------------------------------------------------- fed by the watches

    def model_event(self, kind: str | None, body: Mapping[str, Any]) -> None:
        """A watch event of a ModelDeployment (kind None: the initial listing)."""
        key = _key(body)
        self._changed("modeldeployment", key)
        if kind == "DELETED":
            self._models.pop(key, None)
            return
        self._models[key] = (self._clock(), copy.deepcopy(dict(body)))

    def deployment_event(self, kind: str | None, body: Mapping[str, Any]) -> None:
        """A watch event of a guarded Deployment: any new version makes the Workloads
        read from it stale (its status too: ready replicas, rollout progress)."""
        namespace, name = _key(body)
        version = (body.get("metadata") or {}).get("resourceVersion")
        seen = self._deployment_versions.get((namespace, name), _UNSEEN)
        if kind != "DELETED" and seen == version:
            return  # a relist or a repeat: nothing changed
        self._deployment_versions[namespace, name] = None if kind == "DELETED" else version
        self.forget_deployment(namespace, name)

    def forget_deployment(self, namespace: str, name: str) -> None:
        self._changed("deployment", (namespace, name))
        self._workloads.pop((namespace, name), None)

    def forget(self, namespace: str, name: str) -> None:
        """Drop the cached ModelDeployment (deleted, or to be read afresh)."""
        self._changed("modeldeployment", (namespace, name))
        self._models.pop((namespace, name), None)

    def _changed(self, kind: str, key: Key) -> None:
        if (kind, *key) in self._reading:
            self._dirty.add((kind, *key))

    def _begin(self, obj: tuple[str, str, str]) -> None:
        self._reading[obj] = self._reading.get(obj, 0) + 1

    def _end(self, obj: tuple[str, str, str]) -> bool:
        """Ends a read; whether the object stayed unchanged while it ran."""
        unchanged = obj not in self._dirty
        self._reading[obj] -= 1
        if not self._reading[obj]:
            del self._reading[obj]
            self._dirty.discard(obj)
        return unchanged

    @property
    def size(self) -> int:
        return len(self._models) + len(self._workloads)

    # ------------------------------------------------------------- reads

    async def get_model_deployment(
        self, namespace: str, name: str, *, fresh: bool = False
    ) -> ModelDeploymentBody | None:
        key = (namespace, name)
        entry = self._models.get(key)
        if entry is not None and not fresh and self._clock() - entry[0] < self._max_age:
            telemetry.CACHE_READS.labels("modeldeployment", "hit").inc()
            return copy.deepcopy(entry[1])
        telemetry.CACHE_READS.labels("modeldeployment", "miss").inc()
        obj = ("modeldeployment", *key)
        self._begin(obj)
        try:
            body = await self._inner.get_model_deployment(namespace, name, fresh=True)
        finally:
            unchanged = self._end(obj)
        if not unchanged:
            return body  # an event arrived meanwhile: its body is at least as new
        if body is None:
            self._models.pop(key, None)
        else:
            self._models[key] = (self._clock(), copy.deepcopy(body))
        return body

    async def read_workload(
        self,
        namespace: str,
        spec: ModelDeploymentSpec,
        status: ModelDeploymentStatus,
        *,
        fresh: bool = False,
    ) -> Workload:
        # Cached only while the read depends on the Deployment alone; then it depends on
        # no more of the spec than the target and the model-tag variable.
        key = (namespace, spec.target_ref.name)
        wanted: object = (spec.target_ref, spec.version)
        cacheable = not (
            spec.kill_switch.enabled
            or status.kill_switch.engaged
            or spec.canary is not None
            or status.canary is not None
            or route_in_play(spec, status) is not None
        )
        entry = self._workloads.get(key)
        if (
            cacheable
            and not fresh
            and entry is not None
            and entry[1] == wanted
            and self._clock() - entry[0] < self._max_age
        ):
            telemetry.CACHE_READS.labels("workload", "hit").inc()
            return entry[2]
        telemetry.CACHE_READS.labels("workload", "miss").inc()
        obj = ("deployment", *key)
        self._begin(obj)
        try:
            workload = await self._inner.read_workload(namespace, spec, status, fresh=True)
        finally:
            unchanged = self._end(obj)
        self._workloads.pop(key, None)
        if cacheable and unchanged:
            self._workloads[key] = (self._clock(), wanted, workload)
        return workload

    async def read_secret_key(self, namespace: str, name: str, key: str) -> str:
        return await self._inner.read_secret_key(namespace, name, key)

    async def read_check_template(
        self, namespace: str, kind: str, name: str
    ) -> dict[str, Any] | None:
        return await self._inner.read_check_template(namespace, kind, name)

    # ------------------------------------------------------------- writes

    async def write_status(
        self,
        namespace: str,
        name: str,
        status: ModelDeploymentStatus,
        resource_version: str | None = None,
    ) -> str | None:
        key = (namespace, name)
        try:
            version = await self._inner.write_status(namespace, name, status, resource_version)
        except ConflictError:
            self.forget(namespace, name)
            raise
        except Exception:
            self.forget(namespace, name)  # a 404, a timeout: whether it took is unknown
            raise
        entry = self._models.get(key)
        if _is_at(entry, resource_version) and version is not None and entry is not None:
            # The merge patch replaced the status whole (explicit nulls clear fields),
            # on the version it was fenced on: the stored object is this one.
            body = entry[1]
            body["status"] = status.model_dump(mode="json", by_alias=True, exclude_none=True)
            body["metadata"]["resourceVersion"] = version
            self._models[key] = (self._clock(), body)
        elif not _is_at(entry, version):
            self._models.pop(key, None)  # unfenced, or the watch is elsewhere: read again
        return version

    async def set_finalizer(
        self,
        namespace: str,
        name: str,
        finalizer: str,
        present: bool,
        resource_version: str | None = None,
        known: Sequence[str] | None = None,
    ) -> str | None:
        key = (namespace, name)
        try:
            version = await self._inner.set_finalizer(
                namespace, name, finalizer, present, resource_version, known
            )
        except Exception:
            self.forget(namespace, name)
            raise
        entry = self._models.get(key)
        if version is not None and entry is not None and _is_at(entry, resource_version):
            meta = entry[1]["metadata"]
            finalizers = [f for f in meta.get("finalizers") or [] if f != finalizer]
            meta["finalizers"] = [*finalizers, finalizer] if present else finalizers
            meta["resourceVersion"] = version
            self._models[key] = (self._clock(), entry[1])
        elif not _is_at(entry, version):
            self._models.pop(key, None)
        return version

    async def apply(self, namespace: str, spec: ModelDeploymentSpec, action: Action) -> None:
        self.forget_deployment(namespace, spec.target_ref.name)
        try:
            await self._inner.apply(namespace, spec, action)
        finally:
            self.forget_deployment(namespace, spec.target_ref.name)

    async def apply_canary(
        self, namespace: str, spec: ModelDeploymentSpec, owner: Owner, action: CanaryAction
    ) -> None:
        self.forget_deployment(namespace, spec.target_ref.name)
        try:
            await self._inner.apply_canary(namespace, spec, owner, action)
        finally:
            self.forget_deployment(namespace, spec.target_ref.name)

    async def emit(self, body: ModelDeploymentBody, event: Event, name: str | None = None) -> None:
        await self._inner.emit(body, event, name)


_UNSEEN = object()


def _key(body: Mapping[str, Any]) -> Key:
    meta = body.get("metadata") or {}
    return (str(meta.get("namespace") or ""), str(meta.get("name") or ""))


def _is_at(entry: tuple[float, ModelDeploymentBody] | None, version: str | None) -> bool:
    return (
        entry is not None
        and version is not None
        and entry[1].get("metadata", {}).get("resourceVersion") == version
    )
