"""Deleting a ModelDeployment that still holds state only its status remembers.

While the kill switch is engaged, the status is the only record of the replicas and the
Service selector it took away; while a version change is pending, it is the only record
of the version the Deployment must end up on. Deleting the object would throw that away
with it and leave the model stopped (or on the fallback, or half-way through a rollback),
and a re-created object would adopt that as if it were healthy. So the object carries
FINALIZER exactly while it holds such state (holds_state), and on deletion teardown()
finishes the recorded change and restores what the kill switch saved, through the same
release path as `enabled: false`, until nothing is left and the finalizer can go.

With nothing saved there is no finalizer: GitOps tools see no drift, and a delete is
immediate.
"""

from __future__ import annotations

from datetime import datetime

from modelguard.core.api import KillSwitchSpec, KillSwitchStatus, ModelDeploymentStatus
from modelguard.core.decision.model import Plan
from modelguard.core.decision.versions import plain
from modelguard.core.killswitch import restored
from modelguard.core.killswitch import step as kill_switch_step
from modelguard.core.reasons import EventReason
from modelguard.core.workload import Action, Event, SetVersion, Workload

FINALIZER = "modelguard.io/restore"


def holds_state(status: ModelDeploymentStatus) -> bool:
    """True while deleting the object would lose what it must put back."""
    return status.kill_switch.engaged or status.pending_action is not None


def teardown(
    status: ModelDeploymentStatus,
    workload: Workload,
    name: str,
    env: str,
    now: datetime,
) -> Plan:
    """The next step of restoring before the object `name` goes: the status to record,
    the actions (level-based, repeated until observed, like every other action) and one
    Event per thing restored. Once the returned status no longer holds_state, the
    finalizer can be removed.

    The version comes first, then the replicas and the selector, as in a release: the
    model comes back on the version it was to run, never on the one that was stopped.
    """
    if not workload.exists or workload.version is None:
        # Deleted with it (a GitOps prune of the whole app): nothing left to restore, and
        # holding the finalizer would only block the delete for good.
        cleared = status.model_copy(
            update={"kill_switch": KillSwitchStatus(), "pending_action": None}
        )
        problem = workload.problem or "the Deployment is gone"
        event = Event(
            "Warning",
            EventReason.TARGET_NOT_FOUND,
            f"ModelDeployment {name} was deleted and {problem}: nothing to restore",
        )
        return Plan(status=cleared, events=(event,))
    actions: list[Action] = []
    events: list[Event] = []
    pending = status.pending_action
    if pending is not None:
        if pending.target.same(workload.version):
            events.append(
                Event(
                    "Normal",
                    EventReason.RESTORED_ON_DELETE,
                    f"ModelDeployment {name} was deleted during a version change "
                    f"({pending.kind}): finished it, the Deployment runs {pending.target.name}",
                )
            )
            pending = None
        else:
            actions.append(SetVersion(plain(pending.target), env))
    kill_switch = status.kill_switch
    if kill_switch.engaged:
        # The release path itself, as if the switch were set to enabled: false.
        step = kill_switch_step(KillSwitchSpec(), kill_switch, workload, "", now)
        actions.extend(step.actions)
        if step.released:
            events.append(
                Event(
                    "Normal",
                    EventReason.RESTORED_ON_DELETE,
                    f"ModelDeployment {name} was deleted while its kill switch was engaged "
                    f"({kill_switch.reason}): restored {restored(kill_switch.saved)}",
                )
            )
        kill_switch = step.status
    new = status.model_copy(update={"kill_switch": kill_switch, "pending_action": pending})
    return Plan(status=new, actions=tuple(actions), events=tuple(events))
