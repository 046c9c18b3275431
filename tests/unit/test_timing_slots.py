"""core.decision.timing with a phase: each object's evaluations fall on its own slot
within the interval, so objects created together spread out and stay spread."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta

from modelguard.core.api import ModelDeploymentStatus, Verdict
from modelguard.core.api.status import CanaryStatus, Evaluation, ModelVersion, VersionStatus
from modelguard.core.decision import analysis_due, next_due, slot_phase
from modelguard.core.decision.timing import on_slot
from modelguard.core.specparse import parse_spec

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
INTERVAL = timedelta(seconds=30)
SPEC = parse_spec(
    {
        "targetRef": {"name": "scorer"},
        "analysis": {
            "prometheus": {"url": "http://prometheus:9090"},
            "interval": "30s",
            "warmup": "2m",
            "checks": [{"name": "accuracy", "query": "avg(acc)", "min": 0.9}],
        },
    }
)


def serving(since: datetime, last: datetime | None = None) -> ModelDeploymentStatus:
    evaluation = None
    if last is not None:
        evaluation = Evaluation(time=last, version="v1", verdict=Verdict.PASSED)
    return ModelDeploymentStatus(
        current_version=VersionStatus(model_tag="v1", since=since), last_evaluation=evaluation
    )


def test_the_phase_is_stable_and_uniform() -> None:
    assert slot_phase("uid-1") == slot_phase("uid-1")
    tenths = Counter(int(slot_phase(f"uid-{i}") * 10) for i in range(5000))
    assert set(tenths) == set(range(10))
    assert all(400 < n < 600 for n in tenths.values())


def test_without_a_phase_nothing_changes() -> None:
    status = serving(T0, last=T0 + timedelta(minutes=3))
    assert next_due(SPEC, status, T0 + timedelta(minutes=3)) == T0 + timedelta(
        minutes=3, seconds=30
    )
    assert on_slot(T0, INTERVAL, None, after=True) == T0


def test_first_evaluations_of_objects_created_together_spread_over_the_interval() -> None:
    status = serving(T0)
    warm = T0 + timedelta(minutes=2)
    dues = [next_due(SPEC, status, T0, slot_phase(f"uid-{i}")) for i in range(1000)]
    assert all(warm <= due < warm + INTERVAL for due in dues)  # never before the warmup
    assert len({int((due - warm).total_seconds()) for due in dues}) == 30
    phase = slot_phase("uid-7")
    due = next_due(SPEC, status, T0, phase)
    assert not analysis_due(SPEC, status, due - timedelta(milliseconds=1), phase)
    assert analysis_due(SPEC, status, due, phase)


def test_an_object_stays_on_its_slot_despite_lag() -> None:
    phase = slot_phase("uid-3")
    status = serving(T0)
    due = next_due(SPEC, status, T0, phase)
    slot = due
    for _ in range(20):  # each evaluation runs 400 ms late
        ran = due + timedelta(milliseconds=400)
        status = serving(T0, last=ran)
        due = next_due(SPEC, status, ran, phase)
        slot += INTERVAL
        assert due == slot  # the next slot, not one lag later: no drift
        assert not analysis_due(SPEC, status, due - timedelta(milliseconds=1), phase)
        assert analysis_due(SPEC, status, due, phase)


def test_the_nearest_slot_is_at_most_half_an_interval_off() -> None:
    phase = 0.5  # slots at :15 and :45
    at = datetime(2026, 3, 1, 12, 0, 20, tzinfo=UTC)
    assert on_slot(at, INTERVAL, phase, after=False) == at - timedelta(seconds=5)
    later = datetime(2026, 3, 1, 12, 0, 35, tzinfo=UTC)
    assert on_slot(later, INTERVAL, phase, after=False) == later + timedelta(seconds=10)
    assert on_slot(at, INTERVAL, phase, after=True) == at + timedelta(seconds=25)


def test_a_canary_step_is_judged_right_after_its_warmup_then_on_its_slot() -> None:
    """Each step restarts the warmup: waiting for the slot at every step would make a
    five-step canary up to five intervals longer."""
    ready = T0 + timedelta(minutes=10)
    canary = CanaryStatus(
        version=ModelVersion(image="reg/scorer:2", model_tag="v2"),
        step=1,
        desired_weight=50,
        started_at=T0,
        step_started_at=ready,
        ready_at=ready,
    )
    status = serving(T0).model_copy(update={"canary": canary})
    warm = ready + timedelta(minutes=2)
    phases = [slot_phase(f"uid-{i}") for i in range(50)]
    # (a canary is also looked at every few seconds for its pods: never later than warm)
    assert all(next_due(SPEC, status, ready, p) <= warm for p in phases)
    assert all(analysis_due(SPEC, status, warm, p) for p in phases)
    before = warm - timedelta(milliseconds=1)
    assert not any(analysis_due(SPEC, status, before, p) for p in phases)
    # In place (no canary) the same objects wait for their slots, spread.
    in_place = serving(ready)
    assert len({next_due(SPEC, in_place, ready, p) for p in phases}) > 1
