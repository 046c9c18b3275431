"""Per-object metrics (runtime.telemetry): one info series per object, each check's last
value, conditions, and the rule that keeps cardinality bounded: a series whose labels no
longer hold is removed, and a deleted object leaves none behind."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import kopf
import pytest
from prometheus_client import REGISTRY

from modelguard.core.api import (
    CheckResult,
    Condition,
    Evaluation,
    KillSwitchStatus,
    ModelDeploymentStatus,
    Phase,
    Verdict,
    VersionStatus,
)
from modelguard.runtime import telemetry
from modelguard.runtime.notifier import Notifier
from modelguard.runtime.statuswrites import StatusWrites
from modelguard.runtime.template_index import TemplateIndex
from tests.unit.fakes import FakeWorkloads
from tests.unit.test_handlers_lane import Recording, body, model_deployment_event
from tests.unit.test_reconciler import BAD, GOOD, NAME, NS, WARM, World, spec

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
PER_OBJECT = (
    "modelguard_info",
    "modelguard_check_value",
    "modelguard_condition",
    "modelguard_kill_switch_engaged",
)


@pytest.fixture(autouse=True)
def _clean() -> Iterator[None]:
    """The registry is process-wide: start and end each test with no per-object series."""
    telemetry.forget_all()
    yield
    telemetry.forget_all()


def series(metric: str, namespace: str = NS, name: str = NAME) -> dict[tuple[str, ...], float]:
    """The metric's samples of one object: label values other than namespace/name -> value."""
    (family,) = [m for m in REGISTRY.collect() if m.name == metric]
    return {
        tuple(v for k, v in sorted(s.labels.items()) if k not in {"namespace", "name"}): s.value
        for s in family.samples
        if s.labels.get("namespace") == namespace and s.labels.get("name") == name
    }


def all_series() -> int:
    return sum(len(m.samples) for m in REGISTRY.collect() if m.name in PER_OBJECT)


def status(
    phase: Phase,
    running: str | None,
    checks: dict[str, float | None] | None = None,
    *,
    engaged: bool = False,
    conditions: dict[str, str] | None = None,
) -> ModelDeploymentStatus:
    results = [
        CheckResult(name=n, query="q", value=v, verdict=Verdict.PASSED)
        for n, v in (checks or {}).items()
    ]
    return ModelDeploymentStatus(
        phase=phase,
        current_version=VersionStatus(model_tag=running) if running else None,
        last_evaluation=Evaluation(
            time=T0, version=running or "", verdict=Verdict.PASSED, checks=results
        )
        if checks is not None
        else None,
        kill_switch=KillSwitchStatus(engaged=engaged),
        conditions=[
            Condition(type=t, status=s, reason="R", last_transition_time=T0)
            for t, s in (conditions or {}).items()
        ],
    )


def test_one_info_series_per_object_the_old_one_removed_on_each_change() -> None:
    telemetry.observe(NS, NAME, status(Phase.PENDING, None))
    assert series("modelguard_info") == {("Pending", ""): 1.0}
    telemetry.observe(NS, NAME, status(Phase.PROGRESSING, "v1"))
    assert series("modelguard_info") == {("Progressing", "v1"): 1.0}
    telemetry.observe(NS, NAME, status(Phase.HEALTHY, "v1"))
    telemetry.observe(NS, NAME, status(Phase.PROGRESSING, "v2"))
    telemetry.observe(NS, NAME, status(Phase.ROLLED_BACK, "v1"))
    assert series("modelguard_info") == {("RolledBack", "v1"): 1.0}
    # Another object's series are its own.
    telemetry.observe(NS, "other", status(Phase.KILLED, "v7"))
    assert series("modelguard_info") == {("RolledBack", "v1"): 1.0}
    assert series("modelguard_info", name="other") == {("Killed", "v7"): 1.0}


def test_check_values_follow_the_last_evaluation_and_no_data_is_absent() -> None:
    telemetry.observe(NS, NAME, status(Phase.PROGRESSING, "v1", {"accuracy": 0.97, "p99": 0.2}))
    assert series("modelguard_check_value") == {("accuracy",): 0.97, ("p99",): 0.2}
    # A check removed from the spec, and one that had no data: both gone, not frozen.
    telemetry.observe(NS, NAME, status(Phase.DEGRADED, "v1", {"accuracy": None, "drift": 3.0}))
    assert series("modelguard_check_value") == {("drift",): 3.0}
    # No evaluation at all (the kill switch holds the analysis): none.
    telemetry.observe(NS, NAME, status(Phase.KILLED, "v1", engaged=True))
    assert series("modelguard_check_value") == {}


def test_conditions_are_one_or_zero_and_unknown_is_absent() -> None:
    telemetry.observe(
        NS,
        NAME,
        status(Phase.HEALTHY, "v1", conditions={"Ready": "True", "MetricsAvailable": "False"}),
    )
    assert series("modelguard_condition") == {("Ready",): 1.0, ("MetricsAvailable",): 0.0}
    telemetry.observe(NS, NAME, status(Phase.HEALTHY, "v1", conditions={"Ready": "Unknown"}))
    assert series("modelguard_condition") == {}


def test_a_forgotten_object_leaves_no_series_and_forgetting_twice_is_harmless() -> None:
    before = all_series()
    telemetry.observe(
        NS,
        NAME,
        status(Phase.KILLED, "v1", {"accuracy": 0.5}, engaged=True, conditions={"Ready": "False"}),
    )
    assert series("modelguard_kill_switch_engaged") == {(): 1.0}
    assert all_series() == before + 4
    telemetry.forget(NS, NAME)
    telemetry.forget(NS, NAME)
    telemetry.forget(NS, "never-seen")
    assert all_series() == before
    for metric in PER_OBJECT:
        assert series(metric) == {}, metric


def test_cardinality_is_bounded_by_objects_and_checks_not_by_history() -> None:
    """A hundred version changes of each of three objects: still one info series each."""
    for n in range(100):
        for name in ("a", "b", "c"):
            phase = (Phase.PROGRESSING, Phase.HEALTHY, Phase.DEGRADED)[n % 3]
            telemetry.observe(NS, name, status(phase, f"v{n}", {"accuracy": n / 100}))
    assert sum(len(series("modelguard_info", name=n)) for n in ("a", "b", "c")) == 3
    assert sum(len(series("modelguard_check_value", name=n)) for n in ("a", "b", "c")) == 3
    telemetry.forget_all()
    assert all(series("modelguard_info", name=n) == {} for n in ("a", "b", "c"))


async def test_the_reconcile_loop_exports_phase_version_and_checks_and_drops_them_on_delete() -> (
    None
):
    world = World()
    world.kube.create_model(NS, NAME, spec(2))
    await world.reconcile()
    assert series("modelguard_info") == {("Progressing", "v2"): 1.0}

    world.prometheus.answers['version="v2"'] = BAD
    world.prometheus.answers['version="v1"'] = GOOD
    world.clock.advance(WARM)
    await world.reconcile()
    assert series("modelguard_info") == {("RolledBack", "v1"): 1.0}
    checks = series("modelguard_check_value")
    assert checks[("accuracy",)] in {BAD.value, GOOD.value}
    assert series("modelguard_condition")[("RolledBack",)] == 1.0

    # The kill switch engaged holds a finalizer: the delete is a teardown, then gone.
    world.kube.edit_spec(NS, NAME, {**spec(2), "killSwitch": {"enabled": True, "reason": "x"}})
    await world.reconcile()
    assert series("modelguard_kill_switch_engaged") == {(): 1.0}
    world.kube.delete_model(NS, NAME)
    world.clock.advance(timedelta(seconds=1))
    await world.reconcile()
    await world.reconcile()
    for metric in PER_OBJECT:
        assert series(metric) == {}, metric


async def test_a_deleted_event_drops_the_series_without_a_reconcile() -> None:
    """An object deleted with no finalizer is gone before any reconcile could see it: the
    DELETED event itself removes its series (the kill-switch gauge used to stay)."""
    telemetry.observe(NS, NAME, status(Phase.KILLED, "v1", engaged=True))
    s = Recording()
    meta = {"namespace": NS, "name": NAME, "generation": 3}
    notifier = Notifier(FakeWorkloads())
    forgotten: list[tuple[str, str]] = []
    notifier.forget = forgotten.append  # type: ignore[method-assign,assignment]
    memo = kopf.Memo(
        scheduler=s,
        templates=TemplateIndex(FakeWorkloads()),
        notifier=notifier,
        writes=StatusWrites(),
    )
    await model_deployment_event(
        type="DELETED", body=body({"metadata": meta, "spec": {}}), memo=memo
    )
    assert s.kicks == []
    for metric in PER_OBJECT:
        assert series(metric) == {}, metric
    assert forgotten == [(NS, NAME)]  # and its notification outcomes with them
