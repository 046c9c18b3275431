"""Judging an evaluation of the current version: promote it, count a failure, or roll
it back once failures reach the threshold (unless report-only, no target, cooldown)."""

from __future__ import annotations

from collections.abc import Sequence

from modelguard.core import conditions as cond
from modelguard.core.api import (
    AnalysisSpec,
    CheckResult,
    Evaluation,
    ModelDeploymentSpec,
    Outcome,
    Verdict,
    VersionStatus,
)
from modelguard.core.decision.draft import Draft
from modelguard.core.decision.evidence import evidence
from modelguard.core.decision.rollback import roll_back
from modelguard.core.decision.versions import rollback_target
from modelguard.core.durations import format_duration, parse_duration
from modelguard.core.evaluation import metrics_available, overall
from modelguard.core.reasons import EventReason


def judge(
    draft: Draft, spec: ModelDeploymentSpec, results: Sequence[CheckResult], env: str
) -> None:
    analysis = spec.analysis
    current = draft.status.current_version
    assert analysis is not None
    assert current is not None
    verdict = overall(results, analysis.no_data)
    draft.status.last_evaluation = Evaluation(
        time=draft.now, version=current.name, verdict=verdict, checks=list(results)
    )
    if any(r.verdict is Verdict.PASSED and r.value is not None for r in results):
        # Real evidence: a check passed on data. noData=pass can make an evaluation
        # pass without any (Prometheus down); such passes alone never promote.
        draft.status.last_passed_with_data = draft.now
    available = metrics_available(results)
    was_available = cond.get_condition(draft.status.conditions, cond.METRICS_AVAILABLE)
    if not available and (was_available is None or was_available.status != "False"):
        draft.event("Warning", EventReason.METRICS_UNAVAILABLE, evidence(results))

    if verdict is Verdict.PASSED:
        _passed(draft, analysis, current)
    elif verdict is Verdict.INCONCLUSIVE:
        draft.status.passing_since = None  # promotion needs an unbroken run of passes
    else:
        _failed(draft, spec, analysis, current, results, env)


def _passed(draft: Draft, analysis: AnalysisSpec, current: VersionStatus) -> None:
    """Promote the current version once it has passed for promoteAfter without a break,
    and a check passed on data within that window (status.lastPassedWithData)."""
    passing_since = draft.status.passing_since or draft.now
    draft.status.consecutive_failures = 0
    draft.status.passing_since = passing_since
    promote_after = parse_duration(analysis.promote_after)
    if any(v.same(current) for v in draft.known_good) or draft.now - passing_since < promote_after:
        return
    evidence_at = draft.status.last_passed_with_data
    if evidence_at is None or draft.now - evidence_at > promote_after:
        return  # passed only through noData=pass within the window: no evidence yet
    draft.known_good = [v for v in draft.known_good if not v.same(current)]
    draft.known_good.append(VersionStatus.of(current, draft.now))
    draft.status.stable_version = VersionStatus.of(current, draft.now)
    if draft.history and draft.history[-1].version == current.name:
        draft.close_current(Outcome.PROMOTED, f"passed for {analysis.promote_after}")
    draft.event(
        "Normal",
        EventReason.VERSION_PROMOTED,
        f"Version {current.name} is known good: checks passed for "
        f"{format_duration(draft.now - passing_since)}",
    )


def _failed(
    draft: Draft,
    spec: ModelDeploymentSpec,
    analysis: AnalysisSpec,
    current: VersionStatus,
    results: Sequence[CheckResult],
    env: str,
) -> None:
    """Count a failure; at the threshold roll back, or say why not (once, on crossing)."""
    failures = draft.status.consecutive_failures + 1
    draft.status.consecutive_failures = failures
    draft.status.passing_since = None
    why = evidence(results)
    threshold = analysis.failure_threshold
    if failures < threshold:
        draft.event(
            "Warning",
            EventReason.CHECK_FAILED,
            f"Version {current.name} failed {failures}/{threshold}: {why}",
        )
        return
    target = rollback_target(draft.status)
    crossing = failures == threshold
    if not spec.rollback.automatic:
        if crossing:
            draft.event(
                "Warning",
                EventReason.DEGRADATION_DETECTED,
                f"Version {current.name} failed {failures} consecutive evaluations (report "
                f"only, would roll back to {target.name if target else 'nothing'}): {why}",
            )
        return
    if target is None:
        if crossing:
            draft.event(
                "Warning",
                EventReason.NO_ROLLBACK_TARGET,
                f"Version {current.name} degraded but no known-good version is left to roll "
                f"back to: {why}",
            )
        return
    cooldown = parse_duration(spec.rollback.cooldown)
    last_action = draft.status.last_action_time
    if last_action is not None and draft.now < last_action + cooldown:
        if crossing:
            draft.event(
                "Warning",
                EventReason.ROLLBACK_DEFERRED,
                f"Version {current.name} degraded; rollback waits for the cooldown until "
                f"{(last_action + cooldown).isoformat()}: {why}",
            )
        return
    roll_back(draft, current, target, f"{failures} consecutive failed evaluations: {why}", env)
