"""The reconciler's Event outbox: a decision's Events are written into the status with it
and posted under fixed names, so a crash between the two neither loses nor doubles them.

(The e2e tier proves it with a SIGKILLed operator: tests/e2e/test_restart.py.)
"""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import Any

import pytest

from modelguard.core.api import (
    ModelDeploymentSpec,
    ModelDeploymentStatus,
    ModelVersion,
    OutgoingEvent,
    Phase,
)
from modelguard.core.decision import Observation, Plan, invalid_spec, plan
from modelguard.core.workload import Event, Workload
from modelguard.runtime.reconciler import Reconciler
from tests.unit.fakes import CrashError, FakePrometheus, FakeWorkloads


def fake_kube(crash_on_emit: bool = False) -> FakeWorkloads:
    kube = FakeWorkloads()
    kube.create_model("ns", "fraud", {"targetRef": {"name": "m"}})
    kube.crash_on_emit = crash_on_emit
    return kube


def body(kube: FakeWorkloads) -> dict[str, Any]:
    """The object as a reconcile read it (a copy: _commit tracks its resourceVersion)."""
    return copy.deepcopy(kube.models["ns", "fraud"])


def reconciler(kube: FakeWorkloads) -> Reconciler:
    return Reconciler(kube, FakePrometheus(), clock=lambda: datetime(2026, 1, 1, tzinfo=UTC))


ROLLED_BACK = Event("Warning", "RolledBack", "Rolled back v2 -> v1")


async def test_events_are_posted_and_leave_the_status() -> None:
    kube = fake_kube()
    decided = Plan(status=ModelDeploymentStatus(phase=Phase.ROLLED_BACK), events=(ROLLED_BACK,))
    written = await reconciler(kube)._commit(
        body(kube), ModelDeploymentStatus(), decided, verified=True
    )

    # First write: the decision with its Event in the outbox; then the Event; then cleared.
    assert [e.reason for e in kube.status_writes[0].pending_events] == ["RolledBack"]
    assert kube.status_writes[0].phase is Phase.ROLLED_BACK
    [posted] = kube.posted
    name, event = posted.name, posted.event
    assert name is not None
    assert event == ROLLED_BACK
    assert name == kube.status_writes[0].pending_events[0].name
    assert name.startswith("fraud.")
    assert kube.status_writes[-1].pending_events == []
    assert written == kube.status_writes[-1]


async def test_no_events_no_extra_write() -> None:
    kube = fake_kube()
    decided = Plan(status=ModelDeploymentStatus(phase=Phase.HEALTHY))
    await reconciler(kube)._commit(body(kube), ModelDeploymentStatus(), decided, verified=True)
    assert len(kube.status_writes) == 1
    await reconciler(kube)._commit(
        body(kube), decided.status, Plan(status=decided.status), verified=True
    )
    assert len(kube.status_writes) == 1  # unchanged status: nothing written


async def test_crash_before_posting_posts_after_restart_exactly_once() -> None:
    crashing = fake_kube(crash_on_emit=True)
    decided = Plan(status=ModelDeploymentStatus(phase=Phase.ROLLED_BACK), events=(ROLLED_BACK,))
    with pytest.raises(CrashError):
        await reconciler(crashing)._commit(
            body(crashing), ModelDeploymentStatus(), decided, verified=True
        )
    recorded = crashing.status_writes[-1]  # what the restarted operator reads back
    assert [e.reason for e in recorded.pending_events] == ["RolledBack"]

    # The restarted operator decides nothing new (plan() carries the outbox over).
    restarted = fake_kube()
    await reconciler(restarted)._commit(
        body(restarted), recorded, Plan(status=recorded), verified=True
    )
    assert restarted.events() == ["RolledBack"]
    assert [p.name for p in restarted.posted] == [recorded.pending_events[0].name]
    assert restarted.status_writes[-1].pending_events == []

    # A crash after posting but before clearing: the re-post is refused by name.
    await reconciler(restarted)._commit(
        body(restarted), recorded, Plan(status=recorded), verified=True
    )
    assert len(restarted.posted) == 1
    assert restarted.refused_events == 1


def test_plan_carries_unposted_events_over() -> None:
    """Whatever plan() decides next, the outbox of a crashed run survives to be posted."""
    now = datetime(2026, 1, 1, tzinfo=UTC)
    left = OutgoingEvent(name="fraud.1", type="Warning", reason="RolledBack", message="m")
    status = ModelDeploymentStatus(pending_events=[left])
    spec = ModelDeploymentSpec.model_validate({"targetRef": {"name": "m"}})
    running = Workload(exists=True, version=ModelVersion(image="img:1"), replicas=1)
    for workload in (Workload(exists=False), running):
        assert plan(spec, status, 1, Observation(workload), now).status.pending_events == [left]
    assert invalid_spec(status, "bad", 1, now).status.pending_events == [left]
