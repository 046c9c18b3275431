"""core.significance: which status changes are written at once, which wait for the
bounded refresh of the evaluation time. A table of single changes to one stored status."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest

from modelguard.core.api import CheckResult, ModelDeploymentStatus, Phase, Verdict
from modelguard.core.api.status import (
    Condition,
    Evaluation,
    KillSwitchStatus,
    OutgoingEvent,
    ProportionResult,
)
from modelguard.core.significance import close, significant

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
REFRESH = timedelta(minutes=5)


def check(value: float | None = 0.97, **changes: object) -> CheckResult:
    base = CheckResult(
        name="accuracy",
        query="avg(acc)",
        value=value,
        threshold=">= 0.9",
        samples=1200.0,
        verdict=Verdict.PASSED,
        reason="AboveMin",
        message=f"{value} >= 0.9",
    )
    return base.model_copy(update=changes)


def stored(*checks: CheckResult, at: datetime = T0) -> ModelDeploymentStatus:
    return ModelDeploymentStatus(
        phase=Phase.HEALTHY,
        consecutive_failures=0,
        last_passed_with_data=at,
        last_evaluation=Evaluation(
            time=at, version="v2", verdict=Verdict.PASSED, checks=list(checks or [check()])
        ),
        conditions=[
            Condition(type="Healthy", status="True", reason="ChecksPass", last_transition_time=T0)
        ],
    )


def evaluated(
    later: timedelta = timedelta(seconds=30), *checks: CheckResult, **changes: object
) -> ModelDeploymentStatus:
    """The stored status after one more evaluation `later`, with `changes`."""
    new = stored(*checks, at=T0 + later)
    return new.model_copy(update=changes)


Row = tuple[str, Callable[[], ModelDeploymentStatus], bool]
ROWS: list[Row] = [
    ("nothing changed", stored, False),
    ("only the evaluation time, 30 s on", evaluated, False),
    (
        "only the time, just under the refresh",
        lambda: evaluated(REFRESH - timedelta(seconds=1)),
        False,
    ),
    ("only the time, at the refresh bound", lambda: evaluated(REFRESH), True),
    ("a value within 1 %", lambda: evaluated(timedelta(seconds=30), check(0.9705)), False),
    ("a value beyond 1 %", lambda: evaluated(timedelta(seconds=30), check(0.95)), True),
    ("samples within 1 %", lambda: evaluated(timedelta(seconds=30), check(samples=1205.0)), False),
    ("samples beyond 1 %", lambda: evaluated(timedelta(seconds=30), check(samples=1300.0)), True),
    ("a value that appears", lambda: evaluated(timedelta(seconds=30), check(baseline=0.9)), True),
    ("a value that goes (no data)", lambda: evaluated(timedelta(seconds=30), check(None)), True),
    (
        "the check's verdict",
        lambda: evaluated(timedelta(seconds=30), check(verdict=Verdict.FAILED)),
        True,
    ),
    ("the check's reason", lambda: evaluated(timedelta(seconds=30), check(reason="NoData")), True),
    (
        "the threshold (a spec edit)",
        lambda: evaluated(timedelta(seconds=30), check(threshold=">= 0.95")),
        True,
    ),
    (
        "a check that appears",
        lambda: evaluated(timedelta(seconds=30), check(), check(name="p99")),
        True,
    ),
    (
        "the overall verdict",
        lambda: evaluated().model_copy(
            update={
                "last_evaluation": evaluated().last_evaluation.model_copy(  # type: ignore[union-attr]
                    update={"verdict": Verdict.INCONCLUSIVE}
                )
            }
        ),
        True,
    ),
    (
        "the version judged",
        lambda: evaluated().model_copy(
            update={
                "last_evaluation": evaluated().last_evaluation.model_copy(  # type: ignore[union-attr]
                    update={"version": "v3"}
                )
            }
        ),
        True,
    ),
    ("a counter", lambda: evaluated(consecutive_failures=1), True),
    ("the phase", lambda: evaluated(phase=Phase.DEGRADED), True),
    ("a condition", lambda: evaluated(conditions=[]), True),
    (
        "an Event to post",
        lambda: evaluated(
            pending_events=[OutgoingEvent(name="e.1", type="Normal", reason="Promoted")]
        ),
        True,
    ),
    ("the kill switch", lambda: evaluated(kill_switch=KillSwitchStatus(engaged=True)), True),
    ("passing with data, first time", evaluated, True),  # stored without one, below
]


@pytest.mark.parametrize(("change", "new", "written"), ROWS, ids=[r[0] for r in ROWS])
def test_what_is_written_at_once(
    change: str, new: Callable[[], ModelDeploymentStatus], written: bool
) -> None:
    before = stored()
    if change == "passing with data, first time":
        before = before.model_copy(update={"last_passed_with_data": None})
    assert significant(before, new(), refresh=REFRESH) is written


def test_refresh_zero_writes_every_change() -> None:
    assert significant(stored(), evaluated(), refresh=timedelta(0))
    assert not significant(stored(), stored(), refresh=timedelta(0))


def test_the_first_evaluation_is_written() -> None:
    first = stored().model_copy(update={"last_evaluation": None})
    assert significant(first, stored(), refresh=REFRESH)


def test_proportion_figures_within_and_beyond_tolerance() -> None:
    arms = ProportionResult(test="sequential", successes=9000.0, total=10000.0, samples_needed=0)
    base = stored(check(proportion=arms))
    near = arms.model_copy(update={"successes": 9010.0, "total": 10010.0})
    far = arms.model_copy(update={"successes": 9500.0, "total": 11000.0})
    assert not significant(base, evaluated(timedelta(seconds=30), check(proportion=near)))
    assert significant(base, evaluated(timedelta(seconds=30), check(proportion=far)))
    other = arms.model_copy(update={"test": "fixed"})
    assert significant(base, evaluated(timedelta(seconds=30), check(proportion=other)))


@pytest.mark.parametrize(
    ("a", "b", "near"),
    [
        (1.0, 1.0, True),
        (None, None, True),
        (None, 0.0, False),
        (100.0, 100.9, True),
        (100.0, 101.5, False),
        (-1.0, 1.0, False),
        (0.0, 0.001, False),
    ],
)
def test_close(a: float | None, b: float | None, near: bool) -> None:
    assert close(a, b, 0.01) is near
