"""Rolling back: quarantining the current version, and manual rollback requests."""

from __future__ import annotations

from modelguard.core import conditions as cond
from modelguard.core.api import (
    ModelVersion,
    Outcome,
    QuarantinedVersion,
    RollbackRequest,
    VersionStatus,
)
from modelguard.core.decision.draft import Draft
from modelguard.core.decision.versions import is_quarantined, rollback_target, stable_version
from modelguard.core.reasons import ConditionReason, EventReason


def roll_back(
    draft: Draft, current: VersionStatus, target: ModelVersion, why: str, env: str
) -> None:
    draft.quarantined = [q for q in draft.quarantined if not q.same(current)]
    draft.quarantined.append(QuarantinedVersion.quarantine(current, draft.now, why))
    draft.close_current(Outcome.ROLLED_BACK, why)
    draft.go_live(
        target, Outcome.PROMOTED, f"rolled back from {current.name}", kind="rollback", env=env
    )
    draft.status.last_action_time = draft.now
    draft.status.stable_version = stable_version(draft.get())
    draft.put(
        cond.ROLLED_BACK,
        "True",
        ConditionReason.ROLLED_BACK,
        f"{current.name} -> {target.name}: {why}",
    )
    draft.event(
        "Warning",
        EventReason.ROLLED_BACK,
        f"Rolled back {current.name} -> {target.name} (image={target.image}, "
        f"modelTag={target.model_tag}); {current.name} is quarantined. Evidence: {why}",
    )


def _requested_target(draft: Draft, request: RollbackRequest) -> ModelVersion | None:
    """The version a request names (the newest one of that name), else the stable one."""
    if request.to is None:
        return rollback_target(draft.status)
    candidates: list[ModelVersion] = [v for v in draft.known_good if v.name == request.to]
    candidates += [
        ModelVersion(image=h.image, model_tag=h.model_tag)
        for h in draft.history
        if h.version == request.to
    ]
    return candidates[-1] if candidates else None


def manual_rollback(draft: Draft, request: RollbackRequest, env: str) -> None:
    draft.status.handled_rollback_request = request.id
    current = draft.status.current_version
    assert current is not None
    target = _requested_target(draft, request)
    if target is None or target.same(current):
        known = sorted({v.name for v in draft.known_good} | {h.version for h in draft.history})
        draft.event(
            "Warning",
            EventReason.ROLLBACK_REQUEST_REJECTED,
            f"Cannot roll back to {request.to or 'the stable version'}: "
            + ("it is already running" if target else f"known versions: {', '.join(known)}"),
        )
        return
    if is_quarantined(draft.status, target):
        # Rolling "back" onto a rolled-back version would quarantine the good one that
        # runs now and leave a quarantined version running; clear the quarantine first.
        draft.event(
            "Warning",
            EventReason.ROLLBACK_REQUEST_REJECTED,
            f"Cannot roll back to {target.name}: it was rolled back before and is quarantined",
        )
        return
    by = f" by {request.requested_by}" if request.requested_by else ""
    roll_back(draft, current, target, f"manual rollback{by}: {request.reason or 'no reason'}", env)
    # A manually chosen target is known good by the requester's word.
    if not any(v.same(target) for v in draft.known_good):
        draft.known_good.append(VersionStatus.of(target, draft.now))
        draft.status.stable_version = VersionStatus.of(target, draft.now)
