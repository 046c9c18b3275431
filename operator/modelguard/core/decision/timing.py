"""When the next evaluation is due and when to reconcile next without an event."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta

from modelguard.core.api import CanaryPhase, ModelDeploymentSpec, ModelDeploymentStatus
from modelguard.core.canary import CANARY_RECHECK
from modelguard.core.durations import parse_duration

# Without these, an engaged switch or an unconfirmed version change would be "due" at
# once forever (no evaluation moves the clock) and spin the scheduler.
KILL_SWITCH_RECHECK = timedelta(seconds=10)
PENDING_RECHECK = timedelta(seconds=2)
# Slots are counted from here (any fixed instant would do: only the phase matters).
_EPOCH = datetime(2026, 1, 1, tzinfo=UTC)


def slot_phase(uid: str) -> float:
    """A stable fraction in [0, 1) from an object's uid: where in each interval its
    evaluations fall. A hash, so a thousand objects created at once spread evenly, and
    the same object keeps its place across restarts and replicas."""
    return int.from_bytes(hashlib.sha256(uid.encode()).digest()[:8], "big") / 2.0**64


def on_slot(at: datetime, interval: timedelta, phase: float | None, *, after: bool) -> datetime:
    """The object's slot (phase + k * interval) nearest to `at`, or with `after` the first
    at or after it; `at` itself without a phase.

    Nearest, for the next evaluation after one: an evaluation at its slot plus some lag
    makes the next one due at the next slot, not one lag later, so an object stays on its
    slot (the gap is the interval minus that lag; at most half an interval off once, when
    it first takes its place). After, where an evaluation must not come sooner: the end
    of the warmup."""
    if phase is None or interval <= timedelta(0):
        return at
    offset = (at - _EPOCH - interval * phase) % interval  # how far `at` is past a slot
    if offset == timedelta(0):
        return at
    if after or offset > interval / 2:
        return at + (interval - offset)
    return at - offset


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


def analysis_due(
    spec: ModelDeploymentSpec,
    status: ModelDeploymentStatus,
    now: datetime,
    phase: float | None = None,
) -> bool:
    """Whether the reconciler should query Prometheus now; `phase` (slot_phase): on the
    object's own slots within the interval, else one interval after the last."""
    judged = subject(status)
    if spec.analysis is None or judged is None:
        return False
    if status.kill_switch.engaged or spec.kill_switch.enabled or status.pending_action:
        return False
    name, serving_since = judged
    if serving_since is None and status.canary is not None:
        return False  # the canary's pods are not all Ready yet
    since = serving_since or now
    interval = parse_duration(spec.analysis.interval)
    warm = since + parse_duration(spec.analysis.warmup)
    if now < warm:
        return False
    last = status.last_evaluation
    if last is None or last.version != name or last.time < since:
        return now >= on_slot(warm, interval, _first_slot(status, phase), after=True)
    return now >= on_slot(last.time + interval, interval, phase, after=False)


def next_due(
    spec: ModelDeploymentSpec,
    status: ModelDeploymentStatus,
    now: datetime,
    phase: float | None = None,
) -> datetime:
    """When to reconcile next without an event: when analysis_due() (with the same
    `phase`) turns true, or sooner for a switch or a version change held in place."""
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
    interval = parse_duration(spec.analysis.interval)
    warm = since + parse_duration(spec.analysis.warmup)
    last = status.last_evaluation
    if last is None or last.version != name or last.time < since:
        due = max(now, on_slot(warm, interval, _first_slot(status, phase), after=True))
    else:
        due = max(now, warm, on_slot(last.time + interval, interval, phase, after=False))
    # A canary also follows the stable's Ready pods (an HPA, a restart): look again soon.
    return min(due, now + 6 * CANARY_RECHECK) if canary is not None else due


def _first_slot(status: ModelDeploymentStatus, phase: float | None) -> float | None:
    """The phase for the first evaluation after a warmup. A canary step is judged at once:
    each step would otherwise wait up to an interval for its slot, and a five-step canary
    take up to five intervals longer; from its second evaluation it is on its slot. An
    in-place version waits for its slot once (at most one interval, against a
    failureThreshold of several), which is what spreads a fleet applied in one sync."""
    return None if status.canary is not None else phase
