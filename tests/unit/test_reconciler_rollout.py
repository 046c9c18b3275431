"""Rollout health through the reconcile loop: a version whose pods never become Ready
exports no metrics (Inconclusive under noData=hold) and is still rolled back, because
the built-in rollout check fails; a rollout that completes, and a kill switch that holds
the replicas at zero, never count. Each reconcile is a fresh Reconciler (a restart):
what the clock needs is read back from the stored status."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from modelguard.core.api import Phase, Verdict
from modelguard.core.ports import QueryResult
from modelguard.core.reasons import CheckReason
from tests.unit.test_reconciler import GOOD, KILL, NAME, NS, RELEASE, World, running, spec

STUCK_IMAGE = "reg.example/fraud:2.0"


def rollout_spec(n: int, kill: dict[str, Any] | None = None) -> dict[str, Any]:
    raw = spec(n, kill=kill, threshold=2)
    raw["analysis"]["rolloutTimeout"] = "5m"
    return raw


async def promoted_v1() -> World:
    world = World()
    world.prometheus.answers['version="v1"'] = GOOD
    world.kube.create_model(NS, NAME, rollout_spec(1))
    for _ in range(30):  # 2m warmup + 10m promoteAfter, every 30s
        await world.reconcile()
        world.clock.advance(timedelta(seconds=30))
    assert [v.name for v in world.status().known_good_versions] == ["v1"]
    return world


async def run_for(world: World, duration: timedelta, step: timedelta) -> None:
    end = world.clock.now + duration
    while world.clock.now < end:
        world.clock.advance(step)
        await world.reconcile()


async def test_a_version_whose_pods_never_get_ready_is_rolled_back() -> None:
    world = await promoted_v1()
    world.kube.never_ready.add(STUCK_IMAGE)  # and v2 exports no metrics at all
    world.kube.edit_spec(NS, NAME, rollout_spec(2))
    await world.reconcile()
    assert world.runs() == running(2)
    went_live = world.clock.now
    assert world.status().rollout_incomplete_since == went_live

    await run_for(world, timedelta(minutes=4), timedelta(seconds=30))
    status = world.status()
    assert world.runs() == running(2), "rolled back before rolloutTimeout"
    assert status.last_evaluation is not None
    assert status.last_evaluation.verdict is Verdict.INCONCLUSIVE  # no data, rollout going
    rollout = status.last_evaluation.checks[-1]
    assert (rollout.name, rollout.reason) == ("rollout", CheckReason.ROLLOUT_IN_PROGRESS)

    await run_for(world, timedelta(minutes=2), timedelta(seconds=30))
    status = world.status()
    assert world.runs() == running(1)
    assert [q.name for q in status.quarantined_versions] == ["v2"]
    assert "rollout: Failed (rollout incomplete for 5m" in status.quarantined_versions[0].reason
    assert "1/3 pods updated" in status.quarantined_versions[0].reason
    assert "RolledBack" in world.kube.events()
    # v1's pods are all up again: nothing is left to time.
    assert status.rollout_incomplete_since is None


async def test_the_progress_deadline_fails_the_rollout_at_once() -> None:
    world = await promoted_v1()
    world.kube.never_ready.add(STUCK_IMAGE)
    world.kube.edit_spec(NS, NAME, rollout_spec(2))
    await world.reconcile()
    world.deployment().deadline_exceeded = True
    await run_for(world, timedelta(minutes=3, seconds=30), timedelta(seconds=30))
    assert world.runs() == running(1)
    reason = world.status().quarantined_versions[0].reason
    assert "rollout: Failed (deadline exceeded)" in reason


async def test_a_rollout_that_completes_is_promoted_as_before() -> None:
    world = await promoted_v1()
    world.prometheus.answers['version="v2"'] = GOOD
    world.kube.edit_spec(NS, NAME, rollout_spec(2))
    await run_for(world, timedelta(minutes=15), timedelta(seconds=30))
    status = world.status()
    assert world.runs() == running(2)
    assert [v.name for v in status.known_good_versions] == ["v1", "v2"]
    assert status.last_evaluation is not None
    assert [(c.name, c.verdict) for c in status.last_evaluation.checks] == [
        ("accuracy", Verdict.PASSED),
        ("rollout", Verdict.PASSED),
    ]
    assert status.rollout_incomplete_since is None


async def test_the_kill_switch_at_zero_replicas_is_no_stuck_rollout() -> None:
    world = await promoted_v1()
    world.kube.edit_spec(NS, NAME, rollout_spec(1, kill=KILL))
    await run_for(world, timedelta(minutes=30), timedelta(seconds=30))
    assert world.deployment().replicas == 0
    assert world.status().rollout_incomplete_since is None

    world.kube.edit_spec(NS, NAME, rollout_spec(1, kill=RELEASE))
    await run_for(world, timedelta(minutes=10), timedelta(seconds=30))
    status = world.status()
    assert world.deployment().replicas == 3
    assert status.phase is Phase.HEALTHY
    assert status.quarantined_versions == []
    assert status.consecutive_failures == 0


async def test_metrics_failing_and_rollout_stuck_both_show_as_evidence() -> None:
    world = await promoted_v1()
    world.kube.never_ready.add(STUCK_IMAGE)
    world.prometheus.answers['version="v2"'] = QueryResult(value=0.1, series=1)
    world.kube.edit_spec(NS, NAME, rollout_spec(2))
    await run_for(world, timedelta(minutes=3), timedelta(seconds=30))
    assert world.runs() == running(1)  # the accuracy check alone rolls it back
    assert "accuracy: Failed" in world.status().quarantined_versions[0].reason
