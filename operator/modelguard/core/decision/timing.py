"""When the next evaluation is due and when to reconcile next without an event."""

from __future__ import annotations

from datetime import datetime, timedelta

from modelguard.core.api import ModelDeploymentSpec, ModelDeploymentStatus
from modelguard.core.durations import parse_duration

# Without these, an engaged switch or an unconfirmed version change would be "due" at
# once forever (no evaluation moves the clock) and spin the scheduler.
KILL_SWITCH_RECHECK = timedelta(seconds=10)
PENDING_RECHECK = timedelta(seconds=2)


def analysis_due(spec: ModelDeploymentSpec, status: ModelDeploymentStatus, now: datetime) -> bool:
    """Whether the reconciler should query Prometheus now."""
    if spec.analysis is None or status.current_version is None:
        return False
    if status.kill_switch.engaged or spec.kill_switch.enabled or status.pending_action:
        return False
    since = status.current_version.since or now
    if now < since + parse_duration(spec.analysis.warmup):
        return False
    last = status.last_evaluation
    if last is None or last.version != status.current_version.name or last.time < since:
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
    if spec.analysis is None or status.current_version is None:
        return now + timedelta(hours=1)
    since = status.current_version.since or now
    warm = since + parse_duration(spec.analysis.warmup)
    last = status.last_evaluation
    if last is None or last.version != status.current_version.name or last.time < since:
        return max(now, warm)
    return max(now, warm, last.time + parse_duration(spec.analysis.interval))
