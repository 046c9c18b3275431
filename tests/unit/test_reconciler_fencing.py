"""Fencing: a decision is written only onto the object it was made from.

Two replicas that both believe they lead (a stale leader, frozen mid-reconcile, and the
new one) decide on the same object; the stale one's status write carries the old
resourceVersion, gets a conflict, and its decision is dropped, never acted on: one
rollback, one Event. A conflict is retried from a fresh read; a closed gate (this replica
no longer leads) writes nothing at all.
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from modelguard.core.api import Phase
from modelguard.core.ports import ConflictError
from modelguard.core.workload import Scale
from modelguard.runtime.reconciler import CONFLICT_ATTEMPTS, NOT_LEADING_RECHECK, Reconciler
from tests.unit.test_reconciler import (
    BAD,
    KILL,
    NAME,
    NS,
    World,
    running,
    spec,
    v2_live_after_v1,
)


async def test_a_stale_leaders_rollback_fails_and_is_not_acted_on() -> None:
    world = await v2_live_after_v1()
    world.prometheus.answers['version="v2"'] = BAD
    new_leader = Reconciler(world.kube, world.prometheus, world.clock)
    stale = Reconciler(world.kube, world.prometheus, world.clock)

    async def new_leader_acts() -> None:
        # Between the stale replica's read and its write, the new leader decides the
        # same rollback from the same state, and carries it out.
        await new_leader.reconcile(NS, NAME)

    world.kube.before_status_write = new_leader_acts
    await stale.reconcile(NS, NAME)

    assert world.kube.conflicts == 1  # the stale write was refused
    assert world.set_versions() == ["v2", "v1"]  # v1 applied once: by the new leader
    assert world.kube.events().count("RolledBack") == 1
    status = world.status()
    assert status.phase is Phase.ROLLED_BACK
    assert [q.name for q in status.quarantined_versions] == ["v2"]
    assert [(h.version, h.outcome.value) for h in status.history].count(("v2", "RolledBack")) == 1
    assert world.runs() == running(1)


async def test_a_conflict_is_decided_again_from_a_fresh_read() -> None:
    """A user engages the kill switch while the reconcile decides on the old spec: that
    decision is dropped, and the same reconcile enforces the kill from a fresh read."""
    world = World()
    world.kube.create_model(NS, NAME, spec(1))
    await world.reconcile()
    world.clock.advance(timedelta(minutes=3))

    async def user_kills() -> None:
        world.kube.edit_spec(NS, NAME, spec(1, kill=KILL))

    world.kube.before_status_write = user_kills
    writes = len(world.kube.status_writes)
    await world.reconcile()
    assert world.kube.conflicts == 1
    assert world.deployment().replicas == 0
    assert world.status().kill_switch.engaged
    # Every status stored after the conflict was decided with the kill in the spec.
    assert all(s.kill_switch.engaged for s in world.kube.status_writes[writes:])
    assert Scale(0) in world.kube.applied


async def test_conflicts_that_keep_coming_fail_the_reconcile_for_a_backoff() -> None:
    world = World()
    world.kube.create_model(NS, NAME, spec(1))
    bumps = 0

    async def someone_writes() -> None:
        nonlocal bumps
        bumps += 1
        world.kube.annotate(NS, NAME, "touched", str(bumps))
        world.kube.before_status_write = someone_writes  # again, every time

    world.kube.before_status_write = someone_writes
    with pytest.raises(ConflictError):
        await world.reconcile()
    assert world.kube.conflicts == CONFLICT_ATTEMPTS
    assert world.kube.status_writes == []
    assert world.kube.applied == []


async def test_a_replica_that_no_longer_leads_writes_nothing() -> None:
    world = World()
    world.kube.create_model(NS, NAME, spec(1, kill=KILL))
    follower = Reconciler(world.kube, world.prometheus, world.clock, gate=lambda: False)
    due = await follower.reconcile(NS, NAME)
    assert due == world.clock.now + NOT_LEADING_RECHECK  # soon; resume() makes it due now
    assert world.kube.status_writes == []
    assert world.kube.applied == []
    assert world.kube.posted == []
    assert world.deployment().replicas == 3


async def test_the_gate_is_asked_again_before_acting() -> None:
    """Leadership lost between the status write and the action: the action is left to
    the next leader, which finds the decision recorded (as after a crash)."""
    world = World()
    world.kube.create_model(NS, NAME, spec(1, kill=KILL))
    answers = iter([True])  # open for the write, closed from then on
    losing = Reconciler(
        world.kube, world.prometheus, world.clock, gate=lambda: next(answers, False)
    )
    await losing.reconcile(NS, NAME)
    assert world.kube.applied == []
    assert world.kube.posted == []  # nothing more written, Events included
    assert world.status().kill_switch.engaged  # the decision is on record
    await world.reconcile()  # the next leader
    assert world.deployment().replicas == 0
    assert world.kube.events().count("KillSwitchEngaged") == 1
