"""What a reconcile writes, through the Workloads port: the decided actions, the status
(fenced on the resourceVersion it was decided from), the finalizer, and the Events the
status recorded. The order of these calls is the reconciler's (see its docstring); each
one here keeps `meta` current, so the next write of the same reconcile is fenced on the
version the previous one made."""

from __future__ import annotations

import logging
from typing import Any

from modelguard.core import api, dryrun
from modelguard.core.api import ModelDeploymentSpec, ModelDeploymentStatus, OutgoingEvent
from modelguard.core.canary import Owner, canary_name
from modelguard.core.decision.teardown import FINALIZER
from modelguard.core.ports import ConflictError, Workloads
from modelguard.core.workload import (
    Action,
    DeleteCanary,
    DeleteCanaryService,
    EnsureCanary,
    EnsureCanaryService,
    Event,
    ScaleCanary,
    SetRouteWeight,
    Workload,
)
from modelguard.runtime import telemetry

log = logging.getLogger(__name__)

CANARY_ACTIONS = (
    EnsureCanary,
    ScaleCanary,
    DeleteCanary,
    SetRouteWeight,
    EnsureCanaryService,
    DeleteCanaryService,
)


async def act(
    kube: Workloads, meta: dict[str, Any], spec: ModelDeploymentSpec, actions: tuple[Action, ...]
) -> None:
    """In order, stopping at the first failure (the decision is recorded: it is retried)."""
    namespace = meta["namespace"]
    owner = Owner(f"{api.GROUP}/{api.VERSION}", api.KIND, meta["name"], meta.get("uid", ""))
    for action in actions:
        to_canary = isinstance(action, EnsureCanary | ScaleCanary | DeleteCanary)
        log.info(
            "Applying %s to Deployment %s/%s",
            type(action).__name__,
            namespace,
            canary_name(spec.target_ref.name) if to_canary else spec.target_ref.name,
            extra={"action": repr(action)},
        )
        if isinstance(action, CANARY_ACTIONS):
            await kube.apply_canary(namespace, spec, owner, action)
        else:
            await kube.apply(namespace, spec, action)


def describe(
    namespace: str, spec: ModelDeploymentSpec, actions: tuple[Action, ...], new: bool
) -> None:
    """Dry run: log what would be written. At info once per decision (it changed the
    status); the same held action seen again on a later reconcile only at debug."""
    for action in actions:
        log.log(
            logging.INFO if new else logging.DEBUG,
            "dry run: would %s",
            dryrun.describe(action, f"{namespace}/{spec.target_ref.name}"),
            extra={"action": repr(action)},
        )


async def write_status(
    kube: Workloads, meta: dict[str, Any], status: ModelDeploymentStatus
) -> None:
    """Write on condition that the object is as read (or as this reconcile last wrote
    it), and remember the version the write made: the next write is fenced on it."""
    version = await kube.write_status(
        meta["namespace"], meta["name"], status, meta.get("resourceVersion")
    )
    meta["resourceVersion"] = version or meta.get("resourceVersion")


async def set_finalizer(kube: Workloads, body: dict[str, Any], *, present: bool) -> None:
    """Add or remove FINALIZER unless the object (as last read or changed here)
    already is so: the common case, nothing engaged and no finalizer, costs no call."""
    meta = body["metadata"]
    finalizers: list[str] = meta.setdefault("finalizers", [])
    if (FINALIZER in finalizers) == present:
        return
    # The list as of that version goes along: the adapter need not read it again.
    version = await kube.set_finalizer(
        meta["namespace"], meta["name"], FINALIZER, present, meta.get("resourceVersion"), finalizers
    )
    meta["resourceVersion"] = version or meta.get("resourceVersion")
    if present:
        finalizers.append(FINALIZER)
    else:
        finalizers.remove(FINALIZER)


async def announce(
    kube: Workloads,
    body: dict[str, Any],
    status: ModelDeploymentStatus,
    about: dict[str, Any],
) -> ModelDeploymentStatus:
    """Post the Events the status recorded under their fixed names, then clear them from
    it: a crash in between posts them after the restart, under the same names."""
    if not status.pending_events:
        return status
    for event in status.pending_events:
        await kube.emit(about, Event(event.type, event.reason, event.message), event.name)
    status = status.model_copy(update={"pending_events": []})
    await write_status(kube, body["metadata"], status)
    return status


async def confirm(kube: Workloads, body: dict[str, Any]) -> None:
    """The object is still the version the decision was made on, else ConflictError."""
    meta = body["metadata"]
    current = await kube.get_model_deployment(meta["namespace"], meta["name"], fresh=True)
    version = (current or {}).get("metadata", {}).get("resourceVersion")
    if current is None or version != meta.get("resourceVersion"):
        raise ConflictError(f"{meta['namespace']}/{meta['name']} changed since it was read")


def deployment_ref(namespace: str, name: str, workload: Workload) -> dict[str, Any]:
    """The Deployment as an object to post Events about (uid: `kubectl describe` filters on it)."""
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"namespace": namespace, "name": name, "uid": workload.uid},
    }


def log_decisions(meta: dict[str, Any], fresh: list[OutgoingEvent]) -> None:
    """Count and log the decisions just recorded (their Events follow the actions)."""
    for event in fresh:
        telemetry.DECISIONS.labels(event.reason).inc()
        log.log(
            logging.WARNING if event.type == "Warning" else logging.INFO,
            "%s: %s",
            event.reason,
            event.message,
            extra={"modeldeployment": f"{meta['namespace']}/{meta['name']}"},
        )
