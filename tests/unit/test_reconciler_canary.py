"""Canaries through the reconcile loop, against the fakes of our own ports: promotion,
abort, the kill switch during a canary, and crashes between "recorded" and "done"."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from modelguard.core.api import CanaryPhase, Phase
from modelguard.core.canary import MODEL_DEPLOYMENT_LABEL
from modelguard.core.ports import QueryResult
from modelguard.core.workload import DeleteCanary, EnsureCanary, Scale, ScaleCanary, SetVersion
from modelguard.runtime.reconciler import Reconciler
from tests.unit.fakes import CrashError
from tests.unit.test_reconciler import BAD, GOOD, KILL, NAME, NS, RELEASE, World, running, spec

CANARY = "fraud-scorer-canary"
STEP = timedelta(seconds=30)


def canary_spec(n: int = 2, **extra: Any) -> dict[str, Any]:
    raw = spec(n)
    raw["canary"] = {"steps": [10, 50], "stepDuration": "1m", **extra}
    return raw


def world_with(raw: dict[str, Any]) -> World:
    world = World(replicas=9)
    world.prometheus.answers['version="v2"'] = GOOD
    world.kube.create_model(NS, NAME, raw)
    return world


async def drive(world: World, until: Any, limit: int = 60) -> None:
    """Reconcile every 30 s until `until(world)` holds."""
    for _ in range(limit):
        await world.reconcile()
        if until(world):
            return
        world.clock.advance(STEP)
    raise AssertionError(f"not reached after {limit} reconciles: {world.status().canary}")


def at_step(n: int) -> Any:
    def reached(world: World) -> bool:
        canary = world.status().canary
        return canary is not None and canary.step == n and canary.ready_at is not None

    return reached


def target_writes(world: World) -> list[Any]:
    return [a for a in world.kube.applied if isinstance(a, SetVersion | Scale)]


async def test_a_canary_steps_up_and_is_promoted() -> None:
    world = world_with(canary_spec())
    await world.reconcile()
    status = world.status()
    assert status.canary is not None and status.canary.version == running(2)
    assert [v.name for v in status.known_good_versions] == ["v1"]
    assert world.runs() == running(1)

    await drive(world, at_step(0))
    canary = world.kube.canaries[NS, CANARY]
    assert canary.replicas == 1  # 1 of 10 Ready pods: 10 %
    assert world.status().canary is not None and world.status().canary.actual_weight == 10.0  # type: ignore[union-attr]
    manifest = canary.manifest
    assert manifest["metadata"]["ownerReferences"][0]["uid"] == "uid-fraud"
    assert manifest["spec"]["template"]["metadata"]["labels"][MODEL_DEPLOYMENT_LABEL] == NAME
    assert world.status().phase is Phase.PROGRESSING

    await drive(world, at_step(1))
    assert world.kube.canaries[NS, CANARY].replicas == 9  # 50 %
    assert target_writes(world) == []  # the target is never written during a canary
    # The checks judged the canary against the stable, side by side.
    assert any('version="v2"' in q for q in world.prometheus.queries())

    await drive(world, lambda w: w.status().canary is None)
    assert world.runs() == running(2)
    assert (NS, CANARY) not in world.kube.canaries
    assert target_writes(world) == [SetVersion(running(2), "MODEL_VERSION")]
    events = world.kube.events()
    for reason in ("CanaryStarted", "CanaryPromoted", "VersionApplied", "CanaryCompleted"):
        assert events.count(reason) == 1, (reason, events)
    assert events.count("CanaryStepAdvanced") == 1
    assert world.status().current_version is not None
    assert world.status().current_version.name == "v2"  # type: ignore[union-attr]


async def test_a_canary_that_degrades_at_step_two_is_aborted() -> None:
    world = world_with(canary_spec())
    await drive(world, at_step(1))
    world.prometheus.answers['version="v2"'] = BAD
    await drive(world, lambda w: w.status().canary is None)

    assert world.runs() == running(1)
    assert target_writes(world) == []
    assert (NS, CANARY) not in world.kube.canaries
    status = world.status()
    assert [q.name for q in status.quarantined_versions] == ["v2"]
    assert status.phase is Phase.ROLLED_BACK
    assert world.kube.events().count("CanaryAborted") == 1
    aborted = [p.event.message for p in world.kube.posted if p.event.reason == "CanaryAborted"]
    assert "step 2" in aborted[0] and "0.42" in aborted[0]
    # The spec still asks for v2: it is never tried again, whatever the target does.
    world.kube.target_ready[NS, "fraud-scorer"] = 12
    for _ in range(5):
        world.clock.advance(STEP)
        await world.reconcile()
    assert (NS, CANARY) not in world.kube.canaries
    assert world.status().canary is None


async def test_a_kill_during_a_canary_stops_it_and_the_release_restarts_the_step() -> None:
    world = world_with(canary_spec())
    await drive(world, at_step(0))
    world.kube.edit_spec(NS, NAME, {**canary_spec(), "killSwitch": KILL})
    await world.reconcile()
    assert world.deployment().replicas == 0
    assert world.kube.canaries[NS, CANARY].replicas == 0
    status = world.status()
    assert status.canary is not None and status.canary.saved_replicas == 1
    assert status.phase is Phase.KILLED

    world.clock.advance(timedelta(minutes=10))
    world.kube.edit_spec(NS, NAME, {**canary_spec(), "killSwitch": RELEASE})
    await world.reconcile()
    assert world.deployment().replicas == 9
    assert world.kube.canaries[NS, CANARY].replicas == 1
    canary = world.status().canary
    assert canary is not None and canary.saved_replicas is None
    assert canary.step == 0 and canary.step_started_at == world.clock.now  # a fresh step
    assert canary.passing_since is None


async def test_a_kill_during_a_canary_stops_the_target_before_the_canary() -> None:
    """Actions run in order and stop at the first failure: a canary the API server will
    not scale must never hold the model's own kill back."""
    world = world_with(canary_spec())
    await drive(world, at_step(0))
    before = len(world.kube.applied)
    world.kube.edit_spec(NS, NAME, {**canary_spec(), "killSwitch": KILL})
    await world.reconcile()
    kill = world.kube.applied[before:]
    target = next(i for i, a in enumerate(kill) if isinstance(a, Scale) and a.replicas == 0)
    canary = next(i for i, a in enumerate(kill) if isinstance(a, ScaleCanary))
    assert target < canary


async def test_the_fallback_kill_switch_leaves_the_canary_out_of_the_traffic() -> None:
    world = world_with(canary_spec())
    world.kube.services[NS, "fraud"] = {"app": "fraud-scorer"}
    world.kube.ready_pods[NS] = [{"app": "fraud-rules"}]
    await drive(world, at_step(0))
    fallback = {"serviceName": "fraud", "selector": {"app": "fraud-rules"}}
    world.kube.edit_spec(
        NS,
        NAME,
        {**canary_spec(), "killSwitch": {**KILL, "mode": "fallback", "fallback": fallback}},
    )
    await world.reconcile()
    assert world.kube.services[NS, "fraud"] == {"app": "fraud-rules"}
    labels = world.kube.canaries[NS, CANARY].manifest["spec"]["template"]["metadata"]["labels"]
    assert not {"app": "fraud-rules"}.items() <= labels.items()  # the fallback excludes it


async def test_a_crash_during_promotion_converges_with_one_event_per_decision() -> None:
    world = world_with(canary_spec())
    await drive(world, at_step(1))
    world.kube.crash_once_after(lambda action: isinstance(action, SetVersion))
    with pytest.raises(CrashError):
        await drive(world, lambda w: False)
    assert world.status().canary is not None
    assert world.status().canary.phase is CanaryPhase.PROMOTING  # type: ignore[union-attr]
    world.kube.crash_once_on(lambda action: isinstance(action, DeleteCanary))
    with pytest.raises(CrashError):
        await world.reconcile()
    await drive(world, lambda w: w.status().canary is None)
    assert world.runs() == running(2)
    assert (NS, CANARY) not in world.kube.canaries
    events = world.kube.events()
    for reason in ("CanaryPromoted", "VersionApplied", "CanaryCompleted"):
        assert events.count(reason) == 1, (reason, events)


async def test_a_crash_during_an_abort_still_removes_the_canary_once() -> None:
    world = world_with(canary_spec())
    await drive(world, at_step(0))
    world.prometheus.answers['version="v2"'] = BAD
    world.kube.crash_once_after(lambda action: isinstance(action, ScaleCanary))
    with pytest.raises(CrashError):
        await drive(world, lambda w: False)
    assert world.kube.canaries[NS, CANARY].replicas == 0
    await drive(world, lambda w: w.status().canary is None)
    assert (NS, CANARY) not in world.kube.canaries
    assert world.kube.events().count("CanaryAborted") == 1


async def test_too_few_stable_replicas_hold_with_a_condition() -> None:
    world = World(replicas=3)
    world.kube.create_model(NS, NAME, canary_spec())
    for _ in range(4):
        await world.reconcile()
        world.clock.advance(timedelta(minutes=5))
    assert (NS, CANARY) not in world.kube.canaries  # no jump to 25 %
    condition = next(c for c in world.status().conditions if c.type == "Canary")
    assert condition.reason == "CanaryWeightUnreachable"
    assert world.kube.events().count("CanaryWeightUnreachable") == 1
    assert world.status().quarantined_versions == []


async def test_a_new_desired_version_cancels_the_canary_without_quarantine() -> None:
    world = world_with(canary_spec())
    await drive(world, at_step(0))
    world.kube.edit_spec(NS, NAME, canary_spec(3))
    world.prometheus.answers['version="v3"'] = GOOD
    await drive(
        world, lambda w: w.status().canary is not None and w.status().canary.version == running(3)
    )
    assert world.status().quarantined_versions == []
    assert world.kube.events().count("CanaryCancelled") == 1
    assert target_writes(world) == []


async def test_without_spec_canary_nothing_changes() -> None:
    world = World()
    world.kube.create_model(NS, NAME, spec(2))
    await world.reconcile()
    assert world.status().canary is None
    assert not any(kind == "canary" for kind, _ in world.kube.reads)
    assert not any(isinstance(a, EnsureCanary) for a in world.kube.applied)
    assert all(c.type != "Canary" for c in world.status().conditions)
    assert "canary" not in world.status().to_wire()


async def test_a_kill_with_an_invalid_spec_stops_the_canary_too() -> None:
    world = world_with(canary_spec())
    await drive(world, at_step(0))
    broken = canary_spec()
    broken["analysis"]["checks"][0]["query"] = "model_accuracy{version='{{nope}}'}"
    world.kube.edit_spec(NS, NAME, {**broken, "killSwitch": KILL})
    await world.reconcile()
    assert world.status().phase is Phase.KILLED
    assert world.deployment().replicas == 0
    assert world.kube.canaries[NS, CANARY].replicas == 0
    world.kube.edit_spec(NS, NAME, {**broken, "killSwitch": RELEASE})
    await world.reconcile()
    assert world.deployment().replicas == 9
    assert world.kube.canaries[NS, CANARY].replicas == 1
    assert world.status().canary is not None
    assert world.status().canary.saved_replicas is None  # type: ignore[union-attr]


async def test_a_changed_target_template_derives_the_canary_again() -> None:
    world = world_with(canary_spec())
    await drive(world, at_step(0))
    before = world.status().canary
    assert before is not None and before.ready_at is not None
    world.deployment().env["LOG_LEVEL"] = "debug"  # GitOps changed something else
    world.clock.advance(STEP)
    await world.reconcile()
    env = world.kube.canaries[NS, CANARY].manifest["spec"]["template"]["spec"]["containers"][0]
    assert {"name": "LOG_LEVEL", "value": "debug"} in env["env"]
    after = world.status().canary
    assert after is not None and after.step == 0
    assert after.ready_at is not None and after.ready_at > before.ready_at  # started over
    assert target_writes(world) == []


async def test_dry_run_holds_a_canary_it_never_creates_without_failing_it() -> None:
    world = world_with(canary_spec())
    for _ in range(3):
        dry = Reconciler(world.kube, world.prometheus, world.clock, dry_run=True)
        await dry.reconcile(NS, NAME)
        world.clock.advance(timedelta(minutes=30))  # well past readyDeadline
    assert (NS, CANARY) not in world.kube.canaries
    status = world.status()
    assert status.quarantined_versions == []
    assert status.canary is not None and status.canary.phase is CanaryPhase.PROGRESSING
    dry_run = next(c for c in status.conditions if c.type == "DryRun")
    assert "would run canary Deployment fraud-scorer-canary at version v2" in dry_run.message


async def test_bad_promql_in_a_canary_check_is_an_invalid_spec_not_a_silent_hold() -> None:
    world = world_with(canary_spec())
    await drive(world, at_step(0))
    world.prometheus.answers['version="v2"'] = QueryResult(
        error='bad PromQL: invalid parameter "query": 1:14: parse error', invalid_query=True
    )
    await drive(world, lambda w: w.status().phase is Phase.INVALID)
    condition = next(c for c in world.status().conditions if c.type == "InvalidSpec")
    assert condition.reason == "InvalidQuery"
    assert world.status().quarantined_versions == []
