"""Rollout health in the decision: track since when the rollout is incomplete, and add
the built-in rollout check (core.rollout) to the evaluation that is judged."""

from __future__ import annotations

from collections.abc import Sequence

from modelguard.core.api import AnalysisSpec, CheckResult
from modelguard.core.decision.draft import Draft
from modelguard.core.durations import parse_duration
from modelguard.core.rollout import incomplete_since, rollout_check
from modelguard.core.workload import Workload


def track_rollout(draft: Draft, workload: Workload) -> None:
    """Record in status when the rollout was first seen incomplete (crash-safe: a restart
    reads it back). Not while a version change is still being applied, nor while the
    kill switch holds the replicas at zero on purpose: neither is a stuck rollout."""
    status = draft.status
    if status.pending_action is not None or status.kill_switch.engaged:
        status.rollout_incomplete_since = None
        return
    status.rollout_incomplete_since = incomplete_since(
        status.rollout_incomplete_since, workload, draft.now
    )


def with_rollout(
    draft: Draft, analysis: AnalysisSpec, workload: Workload, results: Sequence[CheckResult]
) -> list[CheckResult]:
    """The user's check results and, last, the rollout check of the current version
    (when the observation reports the rollout)."""
    current = draft.status.current_version
    check = rollout_check(
        workload,
        draft.status.rollout_incomplete_since,
        current.since if current is not None else None,
        draft.now,
        parse_duration(analysis.rollout_timeout),
    )
    return [*results] if check is None else [*results, check]
