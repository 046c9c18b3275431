"""Finishing a decision: the phase and the conditions derived from the drafted status."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from modelguard.core import conditions as cond
from modelguard.core.api import (
    CanaryPhase,
    CheckResult,
    Condition,
    KillSwitchStatus,
    ModelDeploymentSpec,
    ModelDeploymentStatus,
    Phase,
    QuarantinedVersion,
    Verdict,
)
from modelguard.core.decision.draft import Draft
from modelguard.core.decision.evidence import evidence, missing_reason
from modelguard.core.decision.model import Plan
from modelguard.core.decision.versions import matches
from modelguard.core.evaluation import metrics_available
from modelguard.core.reasons import CheckReason, ConditionReason, EventReason


@dataclass(frozen=True)
class Readiness:
    """The phase, and the Ready condition's status and reason that go with it."""

    phase: Phase
    ready: cond.Status
    reason: ConditionReason


def _failing(status: ModelDeploymentStatus) -> bool:
    last = status.last_evaluation
    return last is not None and last.verdict is Verdict.FAILED and status.consecutive_failures > 0


def _held(spec: ModelDeploymentSpec, status: ModelDeploymentStatus) -> QuarantinedVersion | None:
    """The quarantined version the spec still asks for: the rollback holds against it."""
    if spec.version is None:
        return None
    return next((q for q in status.quarantined_versions if matches(spec.version, q)), None)


def _promoted(status: ModelDeploymentStatus) -> bool:
    current = status.current_version
    return current is not None and any(v.same(current) for v in status.known_good_versions)


def invalid_queries(status: ModelDeploymentStatus) -> list[CheckResult]:
    """The checks of the last evaluation of the running version (or of the canary) whose
    query Prometheus refused as bad PromQL: a spec problem, reported like one (phase
    Invalid)."""
    last, current = status.last_evaluation, status.current_version
    judged = {current.name} if current is not None else set()
    if status.canary is not None:  # a canary's evaluation is of the canary
        judged.add(status.canary.version.name)
    if last is None or last.version not in judged:
        return []
    return [c for c in last.checks if c.reason == CheckReason.INVALID_QUERY]


def _passing_without_data(status: ModelDeploymentStatus) -> bool:
    """The last evaluation passed, but only through noData=pass: no check had data."""
    last = status.last_evaluation
    return (
        last is not None
        and last.verdict is Verdict.PASSED
        and not any(c.verdict is Verdict.PASSED and c.value is not None for c in last.checks)
    )


def phase_of(
    spec: ModelDeploymentSpec | None,
    status: ModelDeploymentStatus,
    *,
    target_found: bool = True,
) -> Readiness:
    """The phase of a decided status; the first rule that holds wins.

    spec is None when the spec could not be read (InvalidSpec): only the kill switch
    still acts then, and a missing target leaves the phase Pending whatever else holds.
    """
    ks_engaged = status.kill_switch.engaged
    if spec is None:
        return Readiness(
            Phase.KILLED if ks_engaged else Phase.INVALID, "False", ConditionReason.INVALID_SPEC
        )
    if not target_found:
        return Readiness(Phase.PENDING, "False", ConditionReason.TARGET_NOT_FOUND)
    if ks_engaged:
        return Readiness(Phase.KILLED, "False", ConditionReason.KILLED)
    if status.pending_action is not None:
        return Readiness(Phase.PROGRESSING, "False", ConditionReason.APPLYING)
    if _failing(status):
        return Readiness(Phase.DEGRADED, "False", ConditionReason.DEGRADED)
    if invalid_queries(status):
        return Readiness(Phase.INVALID, "False", ConditionReason.INVALID_QUERY)
    if status.canary is not None and status.canary.phase is CanaryPhase.PROGRESSING:
        # The stable serves beside the canary: Ready as the stable is.
        return Readiness(
            Phase.PROGRESSING, "True" if _promoted(status) else "False", ConditionReason.CANARY
        )
    if _held(spec, status) is not None:
        # Ready when what runs instead is known good (the usual case after a rollback).
        ready: cond.Status = "True" if _promoted(status) else "False"
        return Readiness(Phase.ROLLED_BACK, ready, ConditionReason.ROLLED_BACK)
    if spec.analysis is None:
        return Readiness(Phase.HEALTHY, "True", ConditionReason.NO_ANALYSIS)
    if _promoted(status):
        return Readiness(Phase.HEALTHY, "True", ConditionReason.KNOWN_GOOD)
    return Readiness(Phase.PROGRESSING, "False", ConditionReason.ANALYSING)


def finish(draft: Draft, spec: ModelDeploymentSpec, generation: int | None) -> Plan:
    status = draft.get()
    _put_conditions(draft, spec, status)
    readiness = phase_of(spec, status)
    current = status.current_version
    message = f"version {current.name}" if current else ""
    if readiness.reason is ConditionReason.ANALYSING and _passing_without_data(status):
        message += "; promotion waits for a check that passes on data (noData: pass is none)"
    draft.put(cond.READY, readiness.ready, readiness.reason, message)
    draft.status.phase = readiness.phase
    draft.set_conditions(observed(draft.status.conditions, generation))
    return Plan(status=draft.get(), actions=tuple(draft.actions), events=tuple(draft.events))


def _put_conditions(draft: Draft, spec: ModelDeploymentSpec, status: ModelDeploymentStatus) -> None:
    """Every condition but Ready, from `status` (the draft before this summary)."""
    ks = status.kill_switch
    last = status.last_evaluation
    _put_invalid_queries(draft, status)
    if ks.engaged:
        draft.put(cond.KILL_SWITCH_ENGAGED, "True", kill_reason(ks), kill_message(ks))
    else:
        draft.put(cond.KILL_SWITCH_ENGAGED, "False", ConditionReason.RELEASED)
    if _failing(status) and last is not None:
        message = f"{status.consecutive_failures} consecutive failed evaluations: "
        draft.put(
            cond.DEGRADED, "True", ConditionReason.CHECKS_FAILING, message + evidence(last.checks)
        )
    else:
        reason = ConditionReason.CHECKS_PASSING if last else ConditionReason.NOT_EVALUATED
        draft.put(cond.DEGRADED, "False", reason)
    held = _held(spec, status)
    if held is not None:
        current = status.current_version
        draft.put(
            cond.ROLLED_BACK,
            "True",
            ConditionReason.DESIRED_VERSION_QUARANTINED,
            f"running {current.name if current else '?'}; desired {held.name} was rolled "
            f"back: {held.reason}",
        )
    elif cond.get_condition(draft.status.conditions, cond.ROLLED_BACK) is None:
        draft.put(cond.ROLLED_BACK, "False", ConditionReason.NO_ROLLBACK)
    if last is not None:
        ok = metrics_available(last.checks)
        draft.put(
            cond.METRICS_AVAILABLE,
            "True" if ok else "False",
            ConditionReason.QUERIES_ANSWERED if ok else missing_reason(last.checks),
            "" if ok else evidence(last.checks),
        )
    elif cond.get_condition(draft.status.conditions, cond.METRICS_AVAILABLE) is None:
        draft.put(cond.METRICS_AVAILABLE, "Unknown", ConditionReason.NOT_EVALUATED)


def _put_invalid_queries(draft: Draft, status: ModelDeploymentStatus) -> None:
    """InvalidSpec from the queries Prometheus refused, with one Warning when it turns
    True: the fix is in the spec, and the analysis holds (no verdict) until then."""
    broken = invalid_queries(status)
    if not broken:
        draft.put(cond.INVALID_SPEC, "False", ConditionReason.VALID)
        return
    message = "; ".join(f"check {c.name!r}: {c.message}" for c in broken)
    message += "; fix the query in spec.analysis.checks (the analysis holds until then)"
    if not cond.is_true(draft.status.conditions, cond.INVALID_SPEC):
        draft.event("Warning", EventReason.INVALID_SPEC, message)
    draft.put(cond.INVALID_SPEC, "True", ConditionReason.INVALID_QUERY, message)


def observed(conditions: Sequence[Condition], generation: int | None) -> list[Condition]:
    """Every condition was re-derived from this generation, including those left as they
    were: say so, as the API conventions ask (observedGeneration per condition)."""
    # A condition already at this generation is kept (frozen: sharing it is safe); in the
    # steady state that is every one, and a copy per condition per reconcile was a
    # measurable share of plan().
    return [
        c
        if c.observed_generation == generation
        else c.model_copy(update={"observed_generation": generation})
        for c in conditions
    ]


def kill_reason(ks: KillSwitchStatus) -> ConditionReason:
    if ks.saved is not None and ks.saved.selector is not None and ks.saved.replicas is None:
        return ConditionReason.TRAFFIC_ON_FALLBACK
    if ks.saved is not None and ks.saved.selector is not None:
        return ConditionReason.FALLBACK_UNAVAILABLE
    return ConditionReason.SCALED_TO_ZERO


def kill_message(ks: KillSwitchStatus) -> str:
    by = f" by {ks.requested_by}" if ks.requested_by else ""
    saved = ks.saved
    parts = []
    if saved is not None and saved.replicas is not None:
        parts.append(f"saved replicas {saved.replicas}")
    if saved is not None and saved.selector is not None:
        parts.append("saved selector " + ",".join(f"{k}={v}" for k, v in saved.selector.items()))
    if ks.fallback_ready is False and saved is not None and saved.selector is not None:
        parts.append("fallback has no Ready pods: model scaled to zero too")
    return f"engaged{by}: {ks.reason} ({'; '.join(parts)})"
