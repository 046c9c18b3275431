"""When the next evaluation is due and when to reconcile next without an event."""

from __future__ import annotations

from datetime import datetime, timedelta

from modelguard.core.api import CanaryPhase, ModelDeploymentSpec, ModelDeploymentStatus
from modelguard.core.canary import CANARY_RECHECK
from modelguard.core.durations import parse_duration

# Without these, an engaged switch or an unconfirmed version change would be "due" at
# once forever (no evaluation moves the clock) and spin the scheduler.
KILL_SWITCH_RECHECK = timedelta(seconds=10)
PENDING_RECHECK = timedelta(seconds=2)


def subject(status: ModelDeploymentStatus) -> tuple[str, datetime | None] | None:
    """The version the checks judge now and since when it serves: the canary while one
    is stepping (from when its step's pods were all Ready; None: not yet), else the
    current version. None: nothing to judge."""
    canary = status.canary
    if canary is not None and canary.phase is CanaryPhase.PROGRESSING:
        return canary.version.name, canary.ready_at
    if canary is not None and canary.phase is CanaryPhase.ABORTING:
        return None  # being removed: nothing to judge until it is gone
    if status.current_version is None:
        return None
    return status.current_version.name, status.current_version.since


def analysis_due(spec: ModelDeploymentSpec, status: ModelDeploymentStatus, now: datetime) -> bool:
    """Whether the reconciler should query Prometheus now."""
    judged = subject(status)
    if spec.analysis is None or judged is None:
        return False
    if status.kill_switch.engaged or spec.kill_switch.enabled or status.pending_action:
        return False
    name, serving_since = judged
    if serving_since is None and status.canary is not None:
        return False  # the canary's pods are not all Ready yet
    since = serving_since or now
    if now < since + parse_duration(spec.analysis.warmup):
        return False
    last = status.last_evaluation
    if last is None or last.version != name or last.time < since:
        return True
    return now >= last.time + parse_duration(spec.analysis.interval)


def next_due(spec: ModelDeploymentSpec, status: ModelDeploymentStatus, now: datetime) -> datetime:
    """When to reconcile next without an event: when analysis_due() turns true, or
    sooner for a switch or a version change that is being held in place."""
    if status.kill_switch.engaged or spec.kill_switch.enabled:
        # No analysis runs; re-check the fallback's readiness and the enforcement.
        return now + KILL_SWITCH_RECHECK
    if status.pending_action is not None:
        return now + PENDING_RECHECK
    canary = status.canary
    if canary is not None and (canary.phase is not CanaryPhase.PROGRESSING or not canary.ready_at):
        return now + CANARY_RECHECK  # pods starting, a rollout or a removal to confirm
    judged = subject(status)
    if spec.analysis is None or judged is None:
        return now + timedelta(hours=1)
    name, serving_since = judged
    since = serving_since or now
    warm = since + parse_duration(spec.analysis.warmup)
    last = status.last_evaluation
    if last is None or last.version != name or last.time < since:
        due = max(now, warm)
    else:
        due = max(now, warm, last.time + parse_duration(spec.analysis.interval))
    # A canary also follows the stable's Ready pods (an HPA, a restart): look again soon.
    return min(due, now + 6 * CANARY_RECHECK) if canary is not None else due
