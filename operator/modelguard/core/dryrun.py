"""Dry run (MODELGUARD_DRY_RUN): every decision is taken and recorded, none is carried out.

The status and the Events say what the operator decided, exactly as they would
otherwise; the actions are only described (the DryRun condition, the log), never
written to the Deployment or the Service. Because nothing is written, the workload a
later reconcile observes is the one this decision saw, so the core decides the same
correction again (scale back to 0, revert the drift, re-apply the pending version).
That repeat is the same decision, not a new one: when the status is otherwise
unchanged and the actions are the ones the DryRun condition already records, its
Events are dropped, so each decision is announced once and an idle reconcile writes
nothing. A recorded pendingAction stays pending (the Deployment never takes the
version), which holds the object where the decision left it instead of re-deciding.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from modelguard.core import conditions as cond
from modelguard.core.api import ModelDeploymentStatus
from modelguard.core.canary import canary_name
from modelguard.core.decision.model import Plan
from modelguard.core.reasons import ConditionReason
from modelguard.core.workload import (
    Action,
    DeleteCanary,
    DeleteCanaryService,
    EnsureCanary,
    EnsureCanaryService,
    Event,
    Scale,
    ScaleCanary,
    SetRouteWeight,
    SetSelector,
    SetVersion,
)

EVENT_PREFIX = "[dry run, nothing applied] "


def describe(action: Action, deployment: str) -> str:
    """What the action would change, in words: "scale Deployment x to 0 replicas"."""
    if isinstance(action, Scale):
        return f"scale Deployment {deployment} to {action.replicas} replicas"
    if isinstance(action, SetVersion):
        v = action.version
        return (
            f"set Deployment {deployment} to version {v.name} "
            f"(image={v.image}, modelTag={v.model_tag})"
        )
    if isinstance(action, SetSelector):
        selector = ",".join(f"{k}={v}" for k, v in sorted(action.selector.items())) or "{}"
        return f"switch Service {action.service} to selector {selector}"
    ns, _, target = deployment.rpartition("/")
    canary = f"{ns}/{canary_name(target)}" if ns else canary_name(target)
    if isinstance(action, EnsureCanary):
        return (
            f"run canary Deployment {canary} at version {action.version.name} with "
            f"{action.replicas} replicas"
        )
    if isinstance(action, ScaleCanary):
        return f"scale canary Deployment {canary} to {action.replicas} replicas"
    if isinstance(action, SetRouteWeight):
        r = action.route
        return (
            f"set HTTPRoute {r.name} weights to {r.canary_backend}={action.weight}, "
            f"{r.stable_backend}={100 - action.weight}"
        )
    if isinstance(action, EnsureCanaryService):
        return f"create canary Service {action.route.canary_backend}"
    if isinstance(action, DeleteCanaryService):
        return f"delete canary Service {action.route.canary_backend}"
    assert isinstance(action, DeleteCanary)
    return f"delete canary Deployment {canary}"


def would(actions: tuple[Action, ...], deployment: str) -> str:
    if not actions:
        return "nothing to apply"
    return "would " + "; ".join(describe(a, deployment) for a in actions)


def hold(
    decided: Plan,
    before: ModelDeploymentStatus,
    deployment: str,
    now: datetime,
    generation: int | None,
) -> Plan:
    """The plan as dry run records it: actions kept (to be described, not applied),
    the DryRun condition saying what would be applied, repeated Events dropped."""
    message = would(decided.actions, deployment)
    previous = cond.get_condition(decided.status.conditions, cond.DRY_RUN)
    repeat = (
        bool(decided.actions)
        and previous is not None
        and previous.message == message
        and decided.status == before
    )
    events = () if repeat else tuple(_marked(e) for e in decided.events)
    conditions = cond.set_condition(
        decided.status.conditions,
        cond.DRY_RUN,
        "True",
        ConditionReason.DRY_RUN,
        message,
        now,
        generation,
    )
    status = decided.status.model_copy(update={"conditions": conditions})
    return replace(decided, status=status, events=events)


def clear(decided: Plan) -> Plan:
    """Out of dry run: the DryRun condition of an earlier run no longer holds."""
    conditions = decided.status.conditions
    if cond.get_condition(conditions, cond.DRY_RUN) is None:
        return decided
    kept = [c for c in conditions if c.type != cond.DRY_RUN]
    return replace(decided, status=decided.status.model_copy(update={"conditions": kept}))


def _marked(event: Event) -> Event:
    return replace(event, message=EVENT_PREFIX + event.message)
