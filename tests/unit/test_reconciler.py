"""The reconcile loop (Reconciler.reconcile) against in-memory fakes of our own ports.

One test per precedence rule of core.decision, seen through the loop (read, decide,
write status, act, post Events, look again), and crashes injected between "status
written" and "action applied": the next reconcile, from the stored status alone, must
finish the same decision exactly once.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from modelguard.core import api
from modelguard.core.api import ModelVersion, Outcome, Phase
from modelguard.core.ports import QueryResult
from modelguard.core.workload import Scale, SetSelector, SetVersion
from modelguard.runtime.reconciler import Reconciler
from tests.unit.fakes import Clock, CrashError, FakeDeployment, FakePrometheus, FakeWorkloads

NS, NAME = "ml", "fraud"
T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
WARM = timedelta(minutes=3)  # past the 2m warmup
ACCURACY = 'avg_over_time(model_accuracy{model="fraud",version="{{version}}"}[5m])'
GOOD = QueryResult(value=0.97, series=1)
BAD = QueryResult(value=0.42, series=1)


def version(n: int) -> dict[str, str]:
    return {"image": f"reg.example/fraud:{n}.0", "modelTag": f"v{n}"}


def running(n: int) -> ModelVersion:
    return ModelVersion(image=f"reg.example/fraud:{n}.0", model_tag=f"v{n}")


def spec(n: int, kill: dict[str, Any] | None = None, threshold: int = 1) -> dict[str, Any]:
    raw: dict[str, Any] = {
        "targetRef": {"name": "fraud-scorer", "container": "server"},
        "version": version(n),
        "rollback": {"automatic": True, "cooldown": "1m"},
        "analysis": {
            "prometheus": {"url": "http://prometheus:9090"},
            "interval": "30s",
            "warmup": "2m",
            "failureThreshold": threshold,
            "promoteAfter": "10m",
            "checks": [{"name": "accuracy", "query": ACCURACY, "min": 0.9}],
        },
    }
    if kill is not None:
        raw["killSwitch"] = kill
    return raw


KILL = {"enabled": True, "reason": "INC-7"}
RELEASE = {"enabled": False, "reason": ""}


class World:
    """The store, Prometheus and the clock, and a fresh Reconciler per call: like a
    restarted operator, it knows only what the store holds."""

    def __init__(self, *, deployment: bool = True, replicas: int = 3) -> None:
        self.kube = FakeWorkloads()
        self.prometheus = FakePrometheus()
        self.clock = Clock(T0)
        if deployment:
            self.kube.deployments[NS, "fraud-scorer"] = FakeDeployment(
                image="reg.example/fraud:1.0", env={"MODEL_VERSION": "v1"}, replicas=replicas
            )

    async def reconcile(self) -> datetime | None:
        return await Reconciler(self.kube, self.prometheus, self.clock).reconcile(NS, NAME)

    def status(self) -> api.ModelDeploymentStatus:
        return self.kube.stored_status(NS, NAME)

    def deployment(self) -> FakeDeployment:
        return self.kube.deployments[NS, "fraud-scorer"]

    def runs(self) -> ModelVersion:
        d = self.deployment()
        return ModelVersion(image=d.image, model_tag=d.env.get("MODEL_VERSION"))

    def set_versions(self) -> list[str]:
        return [a.version.name for a in self.kube.applied if isinstance(a, SetVersion)]

    def request_rollback(self, request_id: str) -> None:
        request = api.RollbackRequest(id=request_id, reason="bad feedback", requested_by="alice")
        self.kube.annotate(
            NS, NAME, api.ANNOTATION_ROLLBACK_REQUEST, request.model_dump_json(by_alias=True)
        )


async def v2_live_after_v1() -> World:
    """The Deployment ran v1 when the spec asked for v2: v1 is known good, v2 is applied."""
    world = World()
    world.kube.create_model(NS, NAME, spec(2))
    await world.reconcile()
    assert world.runs() == running(2)
    assert world.status().pending_action is None  # confirmed in the same reconcile
    assert [v.name for v in world.status().known_good_versions] == ["v1"]
    world.clock.advance(WARM)
    return world


# ----------------------------------------------------------------- 1. the target


async def test_a_missing_target_decides_nothing_else_not_even_the_kill_switch() -> None:
    world = World(deployment=False)
    world.kube.create_model(NS, NAME, spec(2, kill=KILL))
    await world.reconcile()
    assert world.kube.applied == []
    assert world.status().phase is Phase.PENDING
    assert not world.status().kill_switch.engaged
    assert world.kube.events() == ["TargetNotFound"]

    await world.reconcile()  # still missing: said once
    assert world.kube.events() == ["TargetNotFound"]

    world.kube.deployments[NS, "fraud-scorer"] = FakeDeployment("reg.example/fraud:1.0")
    await world.reconcile()
    assert world.kube.applied == [Scale(0)]
    assert world.status().kill_switch.engaged


# ----------------------------------------------------------------- 2. the kill switch


async def test_the_kill_switch_wins_over_a_version_change_and_a_rollback_request() -> None:
    world = World()
    world.kube.create_model(NS, NAME, spec(2, kill=KILL))
    world.request_rollback("r-1")
    await world.reconcile()

    assert world.kube.applied == [Scale(0)]  # no SetVersion for v2, no rollback
    assert world.runs() == running(1)
    status = world.status()
    assert status.phase is Phase.KILLED
    assert status.kill_switch.saved is not None and status.kill_switch.saved.replicas == 3
    assert status.handled_rollback_request is None
    assert "KillSwitchEngaged" in world.kube.events()
    assert "VersionApplied" not in world.kube.events()

    world.kube.edit_spec(NS, NAME, spec(2, kill=RELEASE))
    await world.reconcile()
    assert world.deployment().replicas == 3
    assert not world.status().kill_switch.engaged


async def test_the_fallback_kill_switch_switches_the_guarded_service_and_restores_it() -> None:
    world = World()
    world.kube.services[NS, "fraud"] = {"app": "fraud-scorer"}
    world.kube.ready_pods[NS] = [{"app": "fraud-rules"}]
    fallback = {"serviceName": "fraud", "selector": {"app": "fraud-rules"}}
    world.kube.create_model(NS, NAME, spec(1))
    await world.reconcile()

    world.kube.edit_spec(NS, NAME, spec(1, kill={**KILL, "mode": "fallback", "fallback": fallback}))
    await world.reconcile()
    assert world.kube.applied == [SetSelector("fraud", {"app": "fraud-rules"})]
    assert world.deployment().replicas == 3  # the fallback serves: the model keeps running

    # A GitOps revert drops the whole killSwitch block: the saved Service is restored.
    world.kube.edit_spec(NS, NAME, spec(1))
    await world.reconcile()
    assert world.kube.services[NS, "fraud"] == {"app": "fraud-scorer"}
    assert not world.status().kill_switch.engaged
    assert ("service", "fraud") in world.kube.reads


# ----------------------------------------------------------------- 3. an unfinished change


async def test_an_unfinished_version_change_is_finished_before_a_rollback_request() -> None:
    world = World()
    world.kube.create_model(NS, NAME, spec(2))
    world.kube.crash_once_on(lambda action: isinstance(action, SetVersion))
    with pytest.raises(CrashError):
        await world.reconcile()
    pending = world.status().pending_action
    assert pending is not None and pending.kind == "apply" and pending.target == running(2)
    assert world.runs() == running(1)

    world.request_rollback("r-1")
    await world.reconcile()
    # First v2 (the recorded change), only then the request (back to v1).
    assert world.set_versions() == ["v2", "v1"]
    assert world.runs() == running(1)
    assert world.status().handled_rollback_request == "r-1"


# ----------------------------------------------------------------- 4. a manual rollback


async def test_a_manual_rollback_request_is_handled_once() -> None:
    world = await v2_live_after_v1()
    world.request_rollback("r-1")
    await world.reconcile()
    assert world.set_versions() == ["v2", "v1"]
    assert world.status().handled_rollback_request == "r-1"
    assert world.kube.events().count("RolledBack") == 1

    world.clock.advance(timedelta(minutes=5))
    await world.reconcile()  # the annotation is still there
    assert world.set_versions() == ["v2", "v1"]
    assert world.kube.events().count("RolledBack") == 1


# ----------------------------------------------------------------- 5. the desired version


async def test_the_desired_version_is_applied_unless_quarantined() -> None:
    world = await v2_live_after_v1()
    world.request_rollback("r-1")
    await world.reconcile()
    assert [q.name for q in world.status().quarantined_versions] == ["v2"]

    for _ in range(3):  # the spec still asks for v2 (GitOps): the rollback holds
        world.clock.advance(timedelta(minutes=1))
        await world.reconcile()
    assert world.set_versions() == ["v2", "v1"]
    assert world.runs() == running(1)

    world.kube.edit_spec(NS, NAME, spec(3))
    await world.reconcile()
    assert world.set_versions() == ["v2", "v1", "v3"]
    assert world.runs() == running(3)


# ----------------------------------------------------------------- 6. a due evaluation


async def test_no_query_before_the_warmup_and_the_source_is_closed_after_one() -> None:
    world = World()
    world.kube.create_model(NS, NAME, spec(1))
    due = await world.reconcile()
    assert world.prometheus.queries() == []
    assert due == T0 + timedelta(minutes=2)  # the end of the warmup

    world.prometheus.answers['version="v1"'] = GOOD
    world.clock.now = T0 + WARM
    await world.reconcile()
    assert world.prometheus.queries() == [ACCURACY.replace("{{version}}", "v1")]
    assert world.prometheus.opened == [("http://prometheus:9090", 10.0, None)]
    assert all(source.closed for source in world.prometheus.sources)


async def test_a_due_failed_evaluation_rolls_back() -> None:
    world = await v2_live_after_v1()
    world.prometheus.answers['version="v2"'] = BAD
    await world.reconcile()
    assert world.set_versions() == ["v2", "v1"]
    assert world.runs() == running(1)
    status = world.status()
    assert status.phase is Phase.ROLLED_BACK
    assert [q.name for q in status.quarantined_versions] == ["v2"]
    assert world.kube.events().count("RolledBack") == 1


async def test_due_passing_evaluations_promote() -> None:
    world = await v2_live_after_v1()
    world.prometheus.answers['version="v2"'] = GOOD
    for _ in range(11):  # one a minute: passing for 10m promotes
        await world.reconcile()
        world.clock.advance(timedelta(minutes=1))
    assert [v.name for v in world.status().known_good_versions] == ["v1", "v2"]
    assert world.kube.events().count("VersionPromoted") == 1
    assert world.set_versions() == ["v2"]


# ----------------------------------------------------------------- crashes


@pytest.mark.parametrize("applied", [False, True], ids=["before-patch", "after-patch"])
async def test_a_crash_between_status_and_rollback_rolls_back_exactly_once(applied: bool) -> None:
    world = await v2_live_after_v1()
    world.prometheus.answers['version="v2"'] = BAD
    crash = world.kube.crash_once_after if applied else world.kube.crash_once_on
    crash(lambda action: isinstance(action, SetVersion))
    with pytest.raises(CrashError):
        await world.reconcile()
    recorded = world.status()
    assert recorded.pending_action is not None and recorded.pending_action.kind == "rollback"
    assert world.runs() == running(1 if applied else 2)  # decided and recorded first
    queried = len(world.prometheus.queries())

    await world.reconcile()  # the restarted operator, from the stored status only
    assert world.set_versions() == ["v2", "v1"]  # one rollback, not a second decision
    assert world.runs() == running(1)
    assert len(world.prometheus.queries()) == queried  # no new evaluation of v2 either

    world.prometheus.answers['version="v1"'] = GOOD
    for _ in range(3):
        world.clock.advance(timedelta(minutes=1))
        await world.reconcile()
    status = world.status()
    assert world.set_versions() == ["v2", "v1"]
    assert status.pending_action is None
    assert [q.name for q in status.quarantined_versions] == ["v2"]
    assert [h.version for h in status.history if h.outcome is Outcome.ROLLED_BACK] == ["v2"]
    assert world.kube.events().count("RolledBack") == 1


@pytest.mark.parametrize("applied", [False, True], ids=["before-scale", "after-scale"])
async def test_a_crash_between_status_and_scale_keeps_the_saved_replicas(applied: bool) -> None:
    world = World(replicas=4)
    world.kube.create_model(NS, NAME, spec(1))
    await world.reconcile()
    world.kube.edit_spec(NS, NAME, spec(1, kill=KILL))
    crash = world.kube.crash_once_after if applied else world.kube.crash_once_on
    crash(lambda action: action == Scale(0))
    with pytest.raises(CrashError):
        await world.reconcile()
    saved = world.status().kill_switch.saved
    assert saved is not None and saved.replicas == 4
    assert world.deployment().replicas == (0 if applied else 4)

    for _ in range(2):  # restarted, and once more: enforce, never save the 0
        world.clock.advance(timedelta(seconds=10))
        await world.reconcile()
    saved = world.status().kill_switch.saved
    assert saved is not None and saved.replicas == 4
    assert world.deployment().replicas == 0
    assert world.kube.applied == [Scale(0)]
    assert world.kube.events().count("KillSwitchEngaged") == 1

    # A crash mid-release: still engaged, so the restarted operator restores again.
    world.kube.edit_spec(NS, NAME, spec(1, kill=RELEASE))
    world.kube.crash_once_on(lambda action: action == Scale(4))
    with pytest.raises(CrashError):
        await world.reconcile()
    assert world.status().kill_switch.engaged
    await world.reconcile()
    assert world.deployment().replicas == 4
    assert not world.status().kill_switch.engaged
    assert world.kube.applied == [Scale(0), Scale(4)]


# ----------------------------------------------------------------- the object's lifecycle


async def test_an_invalid_spec_is_reported_and_its_kill_switch_still_obeyed() -> None:
    world = World()
    raw = spec(1, kill=KILL)
    raw["analysis"]["checks"][0]["query"] = 'model_accuracy{version="{{nope}}"}'
    world.kube.create_model(NS, NAME, raw)
    await world.reconcile()
    assert world.status().phase is Phase.KILLED
    assert world.kube.applied == [Scale(0)]
    assert "InvalidSpec" in world.kube.events()


async def test_a_deleted_object_is_not_looked_at_again() -> None:
    world = World()
    assert await world.reconcile() is None
    assert world.kube.status_writes == []
