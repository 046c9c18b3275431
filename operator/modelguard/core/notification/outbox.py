"""The notification outbox in status.notifications, exactly like the Event outbox.

A notice is recorded in the same status write as its decision, before the decision's
actions run (so it exists only for a decision that stands), under the id of the
decision's Event: the name the reconciler gave it in status.pendingEvents, already a
stable, unique id written ahead of the action. A notice stays pending until each of its
receivers has an outcome (Delivered, or Failed after the retries); the outcome is then
recorded in of(status).sent and the receiver leaves the notice. A restart
therefore sends what was decided and not yet delivered, and never sends again what the
status records as delivered. The one edge: a crash after a receiver answered 2xx and
before the outcome was written sends that notice once more (at least once, never lost).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime

from modelguard.core.api import (
    DELIVERY_RECORD_LIMIT,
    PENDING_NOTICE_LIMIT,
    Decision,
    Delivery,
    ModelDeploymentStatus,
    Notice,
    NoticeCheck,
    NotificationsSpec,
    NotificationsStatus,
    OutgoingEvent,
    VersionStatus,
)
from modelguard.core.reasons import EventReason

# Which Event of a decision stands for it. A rollback always quarantines the version it
# leaves (data.versions.quarantined says which); `quarantined` is the later decision to
# revert a quarantined version that was put back on the Deployment.
DECISIONS: dict[str, Decision] = {
    EventReason.ROLLED_BACK: Decision.ROLLED_BACK,
    EventReason.QUARANTINED_VERSION_DEPLOYED: Decision.QUARANTINED,
    EventReason.KILL_SWITCH_ENGAGED: Decision.KILL_SWITCH_ENGAGED,
    EventReason.KILL_SWITCH_RELEASED: Decision.KILL_SWITCH_RELEASED,
    EventReason.VERSION_PROMOTED: Decision.PROMOTED,
    # A cancelled canary (CanaryCancelled: the spec changed under it) is no decision on
    # the model's quality, so it is not sent; an abort is (it quarantines the version).
    EventReason.CANARY_STEP_ADVANCED: Decision.CANARY_STEP_ADVANCED,
    EventReason.CANARY_ABORTED: Decision.CANARY_ABORTED,
}
# Decisions whose notice carries the evaluation they rest on.
_JUDGED = (
    Decision.ROLLED_BACK,
    Decision.PROMOTED,
    Decision.CANARY_STEP_ADVANCED,
    Decision.CANARY_ABORTED,
)

# An outcome of sending one notice to one receiver, as the sender reports it.
Outcome = Delivery


def of(status: ModelDeploymentStatus) -> NotificationsStatus:
    """status.notifications, empty when absent."""
    return status.notifications or NotificationsStatus()


def _name(version: VersionStatus | None) -> str | None:
    return version.name if version is not None else None


def _evidence(
    notice: Notice, before: ModelDeploymentStatus, after: ModelDeploymentStatus, rollback_by: str
) -> Notice:
    """The notice with what the decision rests on, read from the status it wrote."""
    update: dict[str, object] = {}
    decision = notice.decision
    if decision is Decision.ROLLED_BACK:
        update["from_version"] = _name(before.current_version)
        update["to_version"] = _name(after.current_version)
        if after.quarantined_versions:
            update["quarantined"] = after.quarantined_versions[-1].name
            update["reason"] = after.quarantined_versions[-1].reason
        if after.handled_rollback_request != before.handled_rollback_request:
            update["requested_by"] = rollback_by
    elif decision is Decision.QUARANTINED and after.git_ops_conflict is not None:
        update["from_version"] = after.git_ops_conflict.name
        update["to_version"] = after.git_ops_conflict.restored
        update["quarantined"] = after.git_ops_conflict.name
    elif decision is Decision.KILL_SWITCH_ENGAGED:
        update["requested_by"] = after.kill_switch.requested_by
        update["reason"] = after.kill_switch.reason
    elif decision is Decision.KILL_SWITCH_RELEASED and after.kill_switch_history:
        last = after.kill_switch_history[-1]
        update["requested_by"] = last.released_by
        update["reason"] = last.reason
    elif decision in (Decision.CANARY_STEP_ADVANCED, Decision.CANARY_ABORTED):
        # About the canary, not the version the target runs (which stays the stable).
        canary = after.canary or before.canary
        if canary is not None:
            update["version"] = canary.version.name
            update["from_version"] = _name(before.current_version)
            update["to_version"] = canary.version.name
        if decision is Decision.CANARY_ABORTED and after.quarantined_versions:
            update["quarantined"] = after.quarantined_versions[-1].name
            update["reason"] = after.quarantined_versions[-1].reason
    evaluation = after.last_evaluation
    if decision in _JUDGED and evaluation is not None:
        update["evaluated_at"] = evaluation.time
        update["checks"] = [
            NoticeCheck(
                name=c.name,
                value=c.value,
                baseline=c.baseline,
                threshold=c.threshold,
                verdict=c.verdict.value,
                reason=c.reason,
            )
            for c in evaluation.checks
        ]
    return notice.model_copy(update=update)


def record(
    spec: NotificationsSpec | None,
    before: ModelDeploymentStatus,
    after: ModelDeploymentStatus,
    events: Sequence[OutgoingEvent],
    now: datetime,
    rollback_by: str = "",
) -> ModelDeploymentStatus:
    """`after` with a pending notice for each of `events` (the decision's fresh Events)
    that some receiver of spec.notifications subscribes to."""
    if spec is None:
        return after
    fresh: list[Notice] = []
    for event in events:
        decision = DECISIONS.get(event.reason)
        if decision is None:
            continue
        receivers = [r.name for r in spec.receivers if decision in r.decisions]
        if not receivers:
            continue
        notice = Notice(
            id=event.name,
            decision=decision,
            time=now,
            reason=event.message,
            message=event.message,
            version=_name(after.current_version),
            stable_version=_name(after.stable_version),
            known_good=[v.name for v in after.known_good_versions],
            receivers=receivers,
        )
        fresh.append(_evidence(notice, before, after, rollback_by))
    if not fresh:
        return after
    # Bounded: a flood of decisions with every receiver down keeps the newest ones.
    pending = [*of(after).pending, *fresh][-PENDING_NOTICE_LIMIT:]
    notifications = of(after).model_copy(update={"pending": pending})
    return after.model_copy(update={"notifications": notifications})


def recorded(status: ModelDeploymentStatus, outcome: Outcome) -> bool:
    """Whether the status already holds this outcome (or the notice is gone from it)."""
    if any(s.id == outcome.id and s.receiver == outcome.receiver for s in of(status).sent):
        return True
    return not any(
        n.id == outcome.id and outcome.receiver in n.receivers for n in of(status).pending
    )


def settle(status: ModelDeploymentStatus, outcomes: Iterable[Outcome]) -> ModelDeploymentStatus:
    """`status` with the outcomes recorded and their receivers off the pending notices;
    a notice with no receiver left leaves the outbox. Outcomes it holds already are
    skipped, so settling twice changes nothing."""
    new = [o for o in outcomes if not recorded(status, o)]
    if not new:
        return status
    done = {(o.id, o.receiver) for o in new}
    pending: list[Notice] = []
    for notice in of(status).pending:
        left = [r for r in notice.receivers if (notice.id, r) not in done]
        if left:
            pending.append(notice.model_copy(update={"receivers": left}))
    sent = [*of(status).sent, *new][-DELIVERY_RECORD_LIMIT:]
    return status.model_copy(
        update={"notifications": NotificationsStatus(pending=pending, sent=sent)}
    )


def due(status: ModelDeploymentStatus) -> list[tuple[Notice, str]]:
    """(notice, receiver) for every send the status still owes, oldest first."""
    return [(n, r) for n in of(status).pending for r in n.receivers]
