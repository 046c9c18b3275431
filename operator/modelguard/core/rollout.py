"""Rollout health: the built-in check that the current version's pods actually run.

A version whose pods never become Ready (crash loop, image pull error, a model that runs
out of memory while loading) exports no quality metrics, so its quality checks are
Inconclusive; under noData=hold it would never be rolled back. The Deployment's own
status says what the metrics cannot: this check fails when its controller gave up
(Progressing=False, ProgressDeadlineExceeded) or when the rollout has not completed for
longer than analysis.rolloutTimeout, and the failure counts like any other.

"Complete" is what `kubectl rollout status` waits for: every wanted pod runs the
current template and is available, and no old pod is left.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from modelguard.core.api import RESERVED_CHECK_NAME, CheckResult, Verdict
from modelguard.core.durations import format_duration
from modelguard.core.reasons import CheckReason
from modelguard.core.workload import Workload

# The name of the built-in check in status.lastEvaluation.checks; user checks cannot
# take it (api.AnalysisSpec).
ROLLOUT_CHECK = RESERVED_CHECK_NAME
PROGRESS_DEADLINE_EXCEEDED = "ProgressDeadlineExceeded"


def reported(workload: Workload) -> bool:
    """Whether the observation says anything about the rollout."""
    counts = (workload.updated_replicas, workload.available_replicas, workload.total_replicas)
    return workload.replicas is not None and None not in counts


def incomplete(workload: Workload) -> str | None:
    """Why the rollout is not complete, or None when it is (or is not reported)."""
    wanted, updated, available, total = (
        workload.replicas,
        workload.updated_replicas,
        workload.available_replicas,
        workload.total_replicas,
    )
    if wanted is None or updated is None or available is None or total is None:
        return None
    if not workload.rollout_observed:
        return "the Deployment controller has not yet seen the change"
    if updated < wanted:
        return f"{updated}/{wanted} pods updated"
    if total > updated:
        return f"{total - updated} old pods still running"
    if available < updated:
        return f"{available}/{wanted} pods available"
    return None


def incomplete_since(
    previous: datetime | None, workload: Workload, now: datetime
) -> datetime | None:
    """The value of status.rolloutIncompleteSince after observing `workload`: the first
    time the rollout was seen incomplete, kept in status so that a restart keeps it."""
    if incomplete(workload) is None:
        return None
    return previous or now


def _deadline_exceeded(workload: Workload) -> str | None:
    progressing = workload.progressing
    if (
        workload.rollout_observed
        and progressing is not None
        and progressing.status == "False"
        and progressing.reason == PROGRESS_DEADLINE_EXCEEDED
    ):
        return progressing.message or "progress deadline exceeded"
    return None


def rollout_check(
    workload: Workload,
    since: datetime | None,
    live_since: datetime | None,
    now: datetime,
    timeout: timedelta,
) -> CheckResult | None:
    """The verdict on the rollout of the version that went live at `live_since`; None
    when the rollout is not reported (no evidence either way: no check).

    `since` is when the rollout was first seen incomplete (status.rolloutIncompleteSince);
    the clock never starts before the version went live, so a previous version's (or the
    kill switch's) incomplete rollout is not held against this one.
    """
    threshold = f"complete within {format_duration(timeout)}"

    def result(verdict: Verdict, reason: CheckReason, message: str) -> CheckResult:
        return CheckResult(
            name=ROLLOUT_CHECK,
            query="",
            value=workload.available_replicas,
            threshold=threshold,
            verdict=verdict,
            reason=reason,
            message=message,
        )

    if not reported(workload):
        return None
    deadline = _deadline_exceeded(workload)
    if deadline is not None:
        return result(Verdict.FAILED, CheckReason.PROGRESS_DEADLINE_EXCEEDED, deadline)
    why = incomplete(workload)
    if why is None:
        return result(Verdict.PASSED, CheckReason.ROLLOUT_COMPLETE, "rollout complete")
    start = since or now
    if live_since is not None:
        start = max(start, live_since)
    waited = now - start
    if waited >= timeout:
        return result(
            Verdict.FAILED,
            CheckReason.ROLLOUT_STUCK,
            f"rollout incomplete for {format_duration(waited)}: {why}",
        )
    return result(
        Verdict.INCONCLUSIVE,
        CheckReason.ROLLOUT_IN_PROGRESS,
        f"rollout in progress for {format_duration(waited)}: {why}",
    )
