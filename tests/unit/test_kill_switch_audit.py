"""The kill switch's durable audit trail (status.killSwitchHistory) and who it names,
through the reconcile loop against the in-memory ports."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from modelguard.core import api
from modelguard.core.api import KILL_SWITCH_HISTORY_LIMIT, KillSwitchMode
from modelguard.core.metadata import requester_annotation
from tests.unit.test_reconciler import KILL, NAME, NS, RELEASE, T0, World, spec


def by_cli(world: World, user: str, kill: dict[str, Any]) -> None:
    """`modelguard kill/release`: the spec change and its requester in one patch."""
    world.kube.annotate(NS, NAME, api.ANNOTATION_REQUESTED_BY, requester_annotation(user, kill))
    world.kube.edit_spec(NS, NAME, spec(1, kill=kill))


def by_kubectl(world: World, kill: dict[str, Any]) -> None:
    """`kubectl patch`: the API server names its field manager; the annotation stays."""
    world.kube.edit_spec(NS, NAME, spec(1, kill=kill))
    world.kube.models[NS, NAME]["metadata"]["managedFields"] = [
        {
            "manager": "kubectl-patch",
            "operation": "Update",
            "time": "2026-03-01T12:05:00Z",
            "fieldsV1": {"f:spec": {"f:killSwitch": {"f:enabled": {}}}},
        }
    ]


async def test_the_audit_trail_survives_the_release_and_names_who_really_asked() -> None:
    world = World()
    world.kube.create_model(NS, NAME, spec(1))
    await world.reconcile()

    by_cli(world, "alice", KILL)
    await world.reconcile()
    world.clock.advance(timedelta(minutes=5))
    # Bob releases with kubectl: alice's annotation is still there but describes her
    # kill, not this release, so it is not bob's name and not alice's either.
    by_kubectl(world, RELEASE)
    await world.reconcile()

    status = world.status()
    assert not status.kill_switch.engaged  # the engaged state is reset ...
    (entry,) = status.kill_switch_history  # ... the record is not
    assert (entry.engaged_at, entry.engaged_by) == (T0, "alice")
    assert (entry.reason, entry.mode) == ("INC-7", KillSwitchMode.SCALE_TO_ZERO)
    assert entry.released_at == T0 + timedelta(minutes=5)
    assert entry.released_by == "unknown (field manager kubectl-patch)"
    released = [
        p.event.message for p in world.kube.posted if p.event.reason == "KillSwitchReleased"
    ]
    assert released == [
        "Kill switch released by unknown (field manager kubectl-patch): restored replicas 3"
        "; analysis restarts with a fresh warmup"
    ]

    # A later kubectl kill with the same stale annotation is not credited to alice.
    world.clock.advance(timedelta(minutes=1))
    by_kubectl(world, {**KILL, "reason": "INC-8"})
    await world.reconcile()
    assert world.status().kill_switch.requested_by == "unknown (field manager kubectl-patch)"
    latest = world.status().kill_switch_history[-1]
    assert (latest.engaged_by, latest.reason, latest.released_at) == (
        "unknown (field manager kubectl-patch)",
        "INC-8",
        None,
    )


async def test_the_audit_trail_is_bounded_and_an_idle_reconcile_does_not_write_it() -> None:
    world = World()
    world.kube.create_model(NS, NAME, spec(1))
    await world.reconcile()
    for n in range(KILL_SWITCH_HISTORY_LIMIT + 5):
        by_cli(world, "alice", {**KILL, "reason": f"INC-{n}"})
        await world.reconcile()
        by_cli(world, "bob", RELEASE)
        await world.reconcile()
    history = world.status().kill_switch_history
    assert len(history) == KILL_SWITCH_HISTORY_LIMIT
    assert history[0].reason == "INC-5" and history[-1].reason == f"INC-{len(history) + 4}"
    assert {(e.engaged_by, e.released_by) for e in history} == {("alice", "bob")}

    writes = len(world.kube.status_writes)
    await world.reconcile()
    assert len(world.kube.status_writes) == writes
