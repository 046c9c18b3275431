"""Property tests of canaries through the reconcile loop (fakes of our own ports): any
sequence of metrics, kills and releases, stable pods lost or added, and crashes keeps
the rules users rely on."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from modelguard.core.api import CanaryPhase
from modelguard.core.workload import SetVersion
from tests.unit.fakes import CrashError
from tests.unit.test_reconciler import BAD, GOOD, KILL, NAME, NS, RELEASE, running
from tests.unit.test_reconciler_canary import CANARY, at_step, canary_spec, drive, world_with

PROPERTY = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])

Move = tuple[str, Any]
MOVES = st.one_of(
    st.tuples(st.just("metric"), st.sampled_from([GOOD, BAD])),
    st.tuples(st.just("kill"), st.booleans()),
    st.tuples(st.just("stable"), st.integers(min_value=0, max_value=12)),
    st.tuples(st.just("crash"), st.booleans()),
    st.tuples(st.just("wait"), st.integers(min_value=1, max_value=6)),
)


async def _run(start: int | None, moves: list[Move]) -> None:
    world = world_with(canary_spec())
    if start is not None:  # from a canary already at that step, its pods Ready
        await drive(world, at_step(start))
    killed = False
    for kind, arg in moves:
        if kind == "metric":
            world.prometheus.answers['version="v2"'] = arg
        elif kind == "kill" and arg != killed:
            killed = arg
            world.kube.edit_spec(
                NS, NAME, {**canary_spec(), "killSwitch": KILL if arg else RELEASE}
            )
        elif kind == "stable":
            world.kube.target_ready[NS, "fraud-scorer"] = arg
        elif kind == "crash" and arg:
            world.kube.crash_once_after(lambda action: True)
        steps = arg if kind == "wait" else 1
        for _ in range(steps):
            world.clock.advance(timedelta(seconds=30))
            try:
                await world.reconcile()
            except CrashError:
                continue  # the operator died mid-way; the next reconcile starts over
            _invariants(world, killed)


def _invariants(world: Any, killed: bool) -> None:
    status = world.status()
    canary = world.kube.canaries.get((NS, CANARY))
    # The target's version moves first to the canary's (a promotion), never before it;
    # after it, the promoted version is guarded as any other (and may be rolled back).
    versions = [a.version for a in world.kube.applied if isinstance(a, SetVersion)]
    assert versions[:1] in ([], [running(2)])
    quarantined = any(q.name == "v2" for q in status.quarantined_versions)
    if status.canary is None:
        assert canary is None  # over only once its Deployment is gone
    if quarantined:
        assert world.runs() == running(1)  # aborted: the target never moved
    if killed and status.kill_switch.engaged and canary is not None:
        assert canary.replicas == 0  # the kill switch stops the canary too
    stepping = status.canary is not None and status.canary.phase is CanaryPhase.PROGRESSING
    # (Promoting, the canary serves whatever the target's pods do: it passed every step,
    # and it goes only once the target runs the version on all of them.)
    if canary is not None and stepping and canary.replicas > 0:
        ready = world.kube.target_ready.get((NS, "fraud-scorer"), world.deployment().replicas)
        # Never the bulk of the traffic: at most the step plus the tolerance, or one pod.
        share = 100 * canary.replicas / (ready + canary.replicas)
        assert share <= 50 + 10 or canary.replicas == 1


@PROPERTY
@given(st.sampled_from([None, 0, 1]), st.lists(MOVES, min_size=1, max_size=25))
def test_canary_rules_hold_whatever_happens(start: int | None, moves: list[Move]) -> None:
    asyncio.run(_run(start, moves))
