"""The pure canary core: weights and the step machine (the manifest: test_canary_manifest)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from modelguard.core.api import CanaryPhase, CanarySpec, CanaryStatus, ModelVersion, Verdict
from modelguard.core.canary import (
    Judged,
    Rules,
    abort,
    killed,
    released,
    start,
    tick,
    weights,
)
from modelguard.core.canary.weights import canary_replicas, share
from modelguard.core.reasons import ConditionReason, EventReason
from modelguard.core.workload import CanaryWorkload, DeleteCanary, EnsureCanary, ScaleCanary

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
V2 = ModelVersion(image="reg.example/fraud:2.0", model_tag="v2")
RULES = Rules(failure_threshold=2, automatic=True, tag_env="MODEL_VERSION")
PASS = Judged(Verdict.PASSED, with_data=True, evidence="accuracy=0.97")
FAIL = Judged(Verdict.FAILED, with_data=True, evidence="accuracy=0.42 < 0.9")
UNSURE = Judged(Verdict.INCONCLUSIVE, with_data=False, evidence="accuracy: NoData")


def canary_spec(**extra: Any) -> CanarySpec:
    return CanarySpec.model_validate({"steps": [10, 50], "stepDuration": "5m", **extra})


# --------------------------------------------------------------------------- weights


@pytest.mark.parametrize(
    ("stable", "weight", "replicas", "share_", "reachable"),
    [
        (9, 10, 1, 10.0, True),  # the reference's worked numbers
        (3, 10, 1, 25.0, False),  # 25 % is 15 points over a 10 % step
        (18, 10, 2, 10.0, True),
        (10, 50, 10, 50.0, True),
        (2, 50, 2, 50.0, True),
        (2, 5, 1, 100 / 3, False),  # Argo Rollouts #2281: few pods, one big share
        (0, 10, 0, 0.0, False),  # nothing Ready to weigh against
        (100, 50, 10, 100 / 11, True),  # capped by maxCanaryReplicas (under, never over)
        (19, 5, 1, 5.0, True),  # exact quotient: no extra pod from float rounding
    ],
)
def test_weights_table(
    stable: int, weight: int, replicas: int, share_: float, reachable: bool
) -> None:
    got = weights(stable, weight, max_replicas=10, overshoot=10)
    assert got.replicas == replicas
    assert got.share == pytest.approx(share_)
    assert got.reachable is reachable


@given(
    stable=st.integers(min_value=1, max_value=500),
    weight=st.integers(min_value=1, max_value=99),
    cap=st.integers(min_value=1, max_value=1000),
)
def test_actual_weight_never_exceeds_the_step_by_more_than_one_replica(
    stable: int, weight: int, cap: int
) -> None:
    c = canary_replicas(stable, weight, cap)
    assert 1 <= c <= cap
    assert share(stable, c) - weight <= 100 / (stable + c) + 1e-9
    if c < cap:  # not capped: one pod fewer would fall short of the step
        assert share(stable, c - 1) < weight


# --------------------------------------------------------------------------- machine


def stepping(**changes: Any) -> CanaryStatus:
    canary, _ = start(V2, T0)
    return canary.model_copy(update=changes)


def ready(replicas: int, version: ModelVersion = V2) -> CanaryWorkload:
    return CanaryWorkload(replicas=replicas, ready_replicas=replicas, version=version)


def test_start_creates_the_first_step_and_waits_for_ready() -> None:
    canary, event = start(V2, T0)
    assert event.reason == EventReason.CANARY_STARTED
    out = tick(canary_spec(), canary, 9, None, None, T0, RULES)
    assert out.actions == (EnsureCanary(V2, "MODEL_VERSION", 1),)
    assert out.status is not None
    assert (out.status.desired_weight, out.status.canary_replicas) == (10, 1)
    assert out.status.actual_weight == 0.0  # no canary pod is Ready yet
    assert out.status.ready_at is None
    assert out.condition is not None
    assert out.condition.reason == ConditionReason.CANARY_NOT_READY


def test_the_step_begins_when_all_its_pods_are_ready() -> None:
    out = tick(canary_spec(), stepping(canary_replicas=1), 9, ready(1), None, T0, RULES)
    assert out.actions == ()
    assert out.status is not None
    assert out.status.ready_at == T0
    assert out.status.actual_weight == 10.0
    assert out.condition is not None and out.condition.status == "True"
    assert out.condition.reason == ConditionReason.CANARY_PROGRESSING


def test_evaluations_before_the_step_began_are_not_judged() -> None:
    out = tick(canary_spec(), stepping(canary_replicas=1), 9, None, FAIL, T0, RULES)
    assert out.status is not None
    assert out.status.consecutive_failures == 0
    assert out.quarantine is None


def test_passing_for_the_step_duration_advances() -> None:
    canary = stepping(canary_replicas=1, ready_at=T0)
    first = tick(canary_spec(), canary, 9, ready(1), PASS, T0, RULES).status
    assert first is not None and first.passing_since == T0 and first.step == 0
    early = tick(canary_spec(), first, 9, ready(1), PASS, T0 + timedelta(minutes=4), RULES)
    assert early.status is not None and early.status.step == 0
    later = T0 + timedelta(minutes=5)
    out = tick(canary_spec(), first, 9, ready(1), PASS, later, RULES)
    assert out.status is not None
    assert (out.status.step, out.status.desired_weight) == (1, 50)
    assert out.status.step_started_at == later
    assert out.status.ready_at is None  # the new pods must be Ready again
    assert out.actions == (EnsureCanary(V2, "MODEL_VERSION", 9),)
    assert [e.reason for e in out.events] == [EventReason.CANARY_STEP_ADVANCED]


def test_passing_only_through_no_data_never_advances() -> None:
    canary = stepping(canary_replicas=1, ready_at=T0, passing_since=T0)
    hollow = Judged(Verdict.PASSED, with_data=False, evidence="")
    out = tick(canary_spec(), canary, 9, ready(1), hollow, T0 + timedelta(hours=1), RULES)
    assert out.status is not None and out.status.step == 0


def test_the_last_step_passed_promotes() -> None:
    canary = stepping(step=1, canary_replicas=9, ready_at=T0, passing_since=T0)
    out = tick(canary_spec(), canary, 9, ready(9), PASS, T0 + timedelta(minutes=5), RULES)
    assert out.promote is True
    assert out.status is not None and out.status.phase is CanaryPhase.PROMOTING
    assert out.actions == ()  # the canary keeps serving until the target rolled out
    assert [e.reason for e in out.events] == [EventReason.CANARY_PROMOTED]


def test_failures_up_to_the_threshold_abort_and_quarantine() -> None:
    canary = stepping(canary_replicas=1, ready_at=T0)
    once = tick(canary_spec(), canary, 9, ready(1), FAIL, T0, RULES)
    assert once.status is not None and once.status.consecutive_failures == 1
    assert [e.reason for e in once.events] == [EventReason.CHECK_FAILED]
    out = tick(canary_spec(), once.status, 9, ready(1), FAIL, T0 + timedelta(seconds=30), RULES)
    assert out.quarantine is not None and "accuracy=0.42" in out.quarantine
    assert out.status is not None and out.status.phase is CanaryPhase.ABORTING
    assert out.actions == (ScaleCanary(0), DeleteCanary())
    assert [e.reason for e in out.events] == [EventReason.CANARY_ABORTED]


def test_report_only_holds_instead_of_aborting() -> None:
    rules = Rules(failure_threshold=1, automatic=False, tag_env="MODEL_VERSION")
    out = tick(
        canary_spec(), stepping(canary_replicas=1, ready_at=T0), 9, ready(1), FAIL, T0, rules
    )
    assert out.quarantine is None
    assert out.status is not None and out.status.phase is CanaryPhase.PROGRESSING
    assert [e.reason for e in out.events] == [EventReason.DEGRADATION_DETECTED]


def test_not_ready_by_the_deadline_fails_the_step() -> None:
    spec = canary_spec(readyDeadline="2m")
    pending = CanaryWorkload(replicas=1, ready_replicas=0, version=V2)
    within = tick(
        spec, stepping(canary_replicas=1), 9, pending, None, T0 + timedelta(minutes=2), RULES
    )
    assert within.quarantine is None
    late = T0 + timedelta(minutes=2, seconds=1)
    out = tick(spec, stepping(canary_replicas=1), 9, pending, None, late, RULES)
    assert out.quarantine is not None and "CanaryNotReady" in out.quarantine


def test_an_unreachable_weight_holds_without_a_canary() -> None:
    out = tick(canary_spec(), stepping(), 3, None, None, T0 + timedelta(hours=1), RULES)
    assert out.actions == ()  # no jump to 25 %
    assert out.quarantine is None  # holding is not failing the deadline
    assert out.status is not None and out.status.canary_replicas == 0
    assert out.condition is not None
    assert out.condition.reason == ConditionReason.CANARY_WEIGHT_UNREACHABLE
    assert [e.reason for e in out.events] == [EventReason.CANARY_WEIGHT_UNREACHABLE]
    again = tick(canary_spec(), out.status, 3, None, None, T0 + timedelta(hours=2), RULES)
    assert again.events == ()  # said once


def test_the_canary_shrinks_with_the_stable() -> None:
    canary = stepping(step=1, canary_replicas=9, ready_at=T0)
    out = tick(canary_spec(), canary, 1, ready(9), None, T0, RULES)
    assert out.actions == (EnsureCanary(V2, "MODEL_VERSION", 1),)  # 50 %, not 90 %
    # No stable pod Ready at all: the canary must not take all of the traffic.
    lost = tick(canary_spec(), canary, 0, ready(9), None, T0, RULES)
    assert lost.actions == (EnsureCanary(V2, "MODEL_VERSION", 0),)
    assert lost.condition is not None
    assert lost.condition.reason == ConditionReason.CANARY_WEIGHT_UNREACHABLE
    # Fewer stable pods at a small step: scaled down to what stays within the tolerance.
    small = stepping(canary_replicas=3, ready_at=T0)
    held = tick(canary_spec(), small, 3, ready(3), None, T0, RULES)
    assert held.actions == (EnsureCanary(V2, "MODEL_VERSION", 0),)


def test_a_new_version_on_the_canary_is_replaced() -> None:
    old = ready(1, ModelVersion(image="reg.example/fraud:1.5", model_tag="v1.5"))
    out = tick(canary_spec(), stepping(canary_replicas=1), 9, old, None, T0, RULES)
    assert out.actions == (EnsureCanary(V2, "MODEL_VERSION", 1),)
    assert out.status is not None and out.status.ready_at is None


def test_promoting_removes_the_canary_once_the_target_rolled_out() -> None:
    canary = stepping(phase=CanaryPhase.PROMOTING, canary_replicas=9)
    waiting = tick(canary_spec(), canary, 9, ready(9), None, T0, RULES, target_rolled_out=False)
    assert waiting.actions == ()
    done = tick(canary_spec(), canary, 9, ready(9), None, T0, RULES, target_rolled_out=True)
    assert done.actions == (ScaleCanary(0), DeleteCanary())
    gone = tick(canary_spec(), canary, 9, None, None, T0, RULES, target_rolled_out=True)
    assert gone.status is None
    assert [e.reason for e in gone.events] == [EventReason.CANARY_COMPLETED]


def test_kill_switch_stops_the_canary_and_release_restarts_the_step() -> None:
    canary = stepping(canary_replicas=2, ready_at=T0, passing_since=T0, consecutive_failures=1)
    out = killed(canary, ready(2), scaled=True)
    assert out.actions == (ScaleCanary(0),)
    assert out.status is not None and out.status.saved_replicas == 2
    # Enforced, never saved twice: the second look sees 0 and keeps 2.
    again = killed(out.status, CanaryWorkload(replicas=0), scaled=True)
    assert again.actions == ()
    assert again.status is not None and again.status.saved_replicas == 2
    later = T0 + timedelta(minutes=7)
    back = released(again.status, later)
    assert back.actions == (ScaleCanary(2),)
    assert back.status is not None
    assert back.status.saved_replicas is None
    assert (back.status.step_started_at, back.status.ready_at) == (later, None)
    assert (back.status.passing_since, back.status.consecutive_failures) == (None, 0)


def test_kill_switch_on_fallback_leaves_the_canary_alone() -> None:
    out = killed(stepping(canary_replicas=2), ready(2), scaled=False)
    assert out.actions == ()


# Any sequence of judgements, readiness and stable sizes: the machine's invariants.
_judgements = st.sampled_from([PASS, FAIL, UNSURE, None])


@given(
    st.lists(
        st.tuples(_judgements, st.integers(min_value=0, max_value=30), st.booleans()),
        min_size=1,
        max_size=30,
    )
)
def test_machine_invariants(
    ticks: list[tuple[Judged | None, int, bool]],
) -> None:
    spec = canary_spec(stepDuration="1m")
    canary: CanaryStatus | None = stepping()
    seen: CanaryWorkload | None = None
    now = T0
    for judged, stable, pods_ready in ticks:
        assert canary is not None
        before = canary
        now += timedelta(seconds=45)
        out = tick(spec, canary, stable, seen, judged, now, RULES, target_rolled_out=True)
        if judged is not PASS:
            # Inconclusive (or no evaluation, or a failure) never advances a step.
            assert not out.promote
            if out.status is not None:
                assert out.status.step == before.step
        if out.quarantine is not None:
            # An abort never leaves canary pods: scaled to 0 and deleted.
            assert out.actions == (ScaleCanary(0), DeleteCanary())
        got = out.status
        if got is not None and got.phase is CanaryPhase.PROGRESSING and got.actual_weight > 0:
            # Never more than one replica's share over the step.
            total = got.stable_ready_replicas + got.canary_ready_replicas
            assert got.actual_weight - got.desired_weight <= 100 / total + 0.1
        # The world follows the actions.
        for action in out.actions:
            if isinstance(action, EnsureCanary):
                seen = CanaryWorkload(action.replicas, action.replicas if pods_ready else 0, V2)
            elif isinstance(action, ScaleCanary) and seen is not None:
                seen = CanaryWorkload(action.replicas, 0, seen.version)
            elif isinstance(action, DeleteCanary):
                seen = None
        canary = out.status
        if canary is None:
            assert seen is None  # over only once its Deployment is gone
            return


def test_abort_without_evidence_only_cancels() -> None:
    out = abort(
        stepping(canary_replicas=1), ready(1), "the desired version changed", quarantine=False
    )
    assert out.quarantine is None
    assert [e.reason for e in out.events] == [EventReason.CANARY_CANCELLED]
    assert out.actions == (ScaleCanary(0), DeleteCanary())
