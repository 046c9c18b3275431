"""The built-in rollout check (core.rollout): a table of Deployment states and verdicts."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from modelguard.core.api import Verdict
from modelguard.core.reasons import CheckReason
from modelguard.core.rollout import incomplete, incomplete_since, rollout_check
from modelguard.core.workload import Progressing, Workload

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
TIMEOUT = timedelta(minutes=5)

COMPLETE = Workload(
    exists=True,
    replicas=3,
    ready_replicas=3,
    updated_replicas=3,
    available_replicas=3,
    total_replicas=3,
    progressing=Progressing("True", "NewReplicaSetAvailable"),
)
# A RollingUpdate to pods that never become Ready: one surge pod of the new template
# hangs beside the three old ones, which keep serving.
SURGE_STUCK = replace(COMPLETE, updated_replicas=1, total_replicas=4)
DEADLINE = replace(
    SURGE_STUCK,
    progressing=Progressing(
        "False", "ProgressDeadlineExceeded", 'ReplicaSet "x" has timed out progressing.'
    ),
)


@pytest.mark.parametrize(
    ("workload", "since", "now", "verdict", "reason"),
    [
        pytest.param(COMPLETE, None, T0, Verdict.PASSED, CheckReason.ROLLOUT_COMPLETE, id="done"),
        pytest.param(
            SURGE_STUCK,
            T0,
            T0 + timedelta(minutes=1),
            Verdict.INCONCLUSIVE,
            CheckReason.ROLLOUT_IN_PROGRESS,
            id="rolling-within-timeout",
        ),
        pytest.param(
            SURGE_STUCK,
            T0,
            T0 + TIMEOUT,
            Verdict.FAILED,
            CheckReason.ROLLOUT_STUCK,
            id="stuck-past-timeout",
        ),
        pytest.param(
            replace(COMPLETE, available_replicas=1, ready_replicas=1),
            T0,
            T0 + timedelta(minutes=6),
            Verdict.FAILED,
            CheckReason.ROLLOUT_STUCK,
            id="crash-loop-in-place",
        ),
        pytest.param(
            replace(COMPLETE, total_replicas=4),
            T0,
            T0 + timedelta(minutes=6),
            Verdict.FAILED,
            CheckReason.ROLLOUT_STUCK,
            id="old-pod-left",
        ),
        pytest.param(
            DEADLINE,
            T0,
            T0 + timedelta(seconds=1),
            Verdict.FAILED,
            CheckReason.PROGRESS_DEADLINE_EXCEEDED,
            id="controller-gave-up",
        ),
        pytest.param(
            replace(DEADLINE, rollout_observed=False),
            T0,
            T0 + timedelta(seconds=1),
            Verdict.INCONCLUSIVE,
            CheckReason.ROLLOUT_IN_PROGRESS,
            id="deadline-of-an-older-generation",
        ),
        pytest.param(
            replace(
                COMPLETE,
                replicas=0,
                ready_replicas=0,
                updated_replicas=0,
                available_replicas=0,
                total_replicas=0,
            ),
            None,
            T0 + timedelta(hours=1),
            Verdict.PASSED,
            CheckReason.ROLLOUT_COMPLETE,
            id="scaled-to-zero-on-purpose",
        ),
    ],
)
def test_rollout_verdicts(
    workload: Workload, since: datetime | None, now: datetime, verdict: Verdict, reason: str
) -> None:
    result = rollout_check(workload, since, T0, now, TIMEOUT)
    assert result is not None
    assert (result.name, result.verdict, result.reason) == ("rollout", verdict, reason)


def test_the_stuck_message_says_what_is_missing_and_for_how_long() -> None:
    result = rollout_check(SURGE_STUCK, T0, T0, T0 + timedelta(minutes=7), TIMEOUT)
    assert result is not None
    assert result.message == "rollout incomplete for 7m: 1/3 pods updated"
    assert result.threshold == "complete within 5m"


def test_the_clock_starts_when_the_version_went_live_not_before() -> None:
    """An incomplete rollout seen before (the previous version's, the kill switch's
    restore) is not held against a version that went live later."""
    live = T0 + timedelta(minutes=10)
    result = rollout_check(SURGE_STUCK, T0, live, live + timedelta(minutes=1), TIMEOUT)
    assert result is not None and result.verdict is Verdict.INCONCLUSIVE


def test_an_unreported_rollout_is_no_check() -> None:
    assert rollout_check(Workload(exists=True, replicas=3), T0, T0, T0, TIMEOUT) is None


def test_incomplete_since_keeps_the_first_sighting_and_clears_on_completion() -> None:
    later = T0 + timedelta(minutes=2)
    assert incomplete_since(None, SURGE_STUCK, T0) == T0
    assert incomplete_since(T0, SURGE_STUCK, later) == T0
    assert incomplete_since(T0, COMPLETE, later) is None
    assert incomplete(COMPLETE) is None
    assert incomplete(replace(COMPLETE, rollout_observed=False)) is not None
