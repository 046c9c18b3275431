"""Dry run (MODELGUARD_DRY_RUN) through the reconcile loop against the in-memory ports:
every decision is recorded in status and Events once, nothing is written to a workload,
and the held decision neither repeats nor polls hot."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from modelguard.core import conditions as cond
from modelguard.core.api import Phase
from modelguard.runtime.reconciler import DRY_RUN_RECHECK, Reconciler
from modelguard.runtime.settings import Settings
from tests.unit.test_reconciler import BAD, KILL, NAME, NS, RELEASE, World, running, spec


async def dry(world: World) -> datetime | None:
    return await Reconciler(world.kube, world.prometheus, world.clock, dry_run=True).reconcile(
        NS, NAME
    )


def dry_run_message(world: World) -> str:
    condition = cond.get_condition(world.status().conditions, cond.DRY_RUN)
    assert condition is not None and condition.status == "True"
    return condition.message


async def settle(world: World, times: int = 3) -> None:
    """Later reconciles (timer or watch) that observe the same, unchanged workload."""
    for _ in range(times):
        world.clock.advance(timedelta(seconds=30))
        await dry(world)


async def test_a_dry_run_kill_switch_is_recorded_once_and_scales_nothing() -> None:
    world = World()
    world.kube.create_model(NS, NAME, spec(1))
    await dry(world)
    world.kube.edit_spec(NS, NAME, spec(1, kill=KILL))
    due = await dry(world)

    assert world.kube.applied == []
    assert world.deployment().replicas == 3
    ks = world.status().kill_switch
    assert ks.engaged and ks.saved is not None and ks.saved.replicas == 3
    assert world.status().phase is Phase.KILLED
    assert dry_run_message(world) == "would scale Deployment fraud-scorer to 0 replicas"
    (engaged,) = [p.event for p in world.kube.posted if p.event.reason == "KillSwitchEngaged"]
    assert engaged.message.startswith("[dry run, nothing applied] Kill switch engaged")
    assert due is not None and due >= world.clock.now + DRY_RUN_RECHECK

    # The Deployment still runs 3 replicas: enforcing "scale back to 0" is the decision
    # already recorded, so no KillSwitchEnforced Event and no status write repeat it.
    writes, posted = len(world.kube.status_writes), len(world.kube.posted)
    await settle(world)
    assert world.kube.applied == []
    assert len(world.kube.status_writes) == writes
    assert len(world.kube.posted) == posted
    assert "KillSwitchEnforced" not in world.kube.events()

    # The release is decided (nothing to restore: nothing was changed) and recorded.
    world.kube.edit_spec(NS, NAME, spec(1, kill=RELEASE))
    await dry(world)
    assert not world.status().kill_switch.engaged
    assert world.kube.events().count("KillSwitchReleased") == 1
    assert dry_run_message(world) == "nothing to apply"
    assert world.kube.applied == []


async def test_a_dry_run_rollback_stays_pending_and_is_not_decided_again() -> None:
    world = World()
    world.kube.create_model(NS, NAME, spec(2))
    due = await dry(world)
    # v2 is the decided version; the Deployment still runs v1: the change stays pending.
    assert world.kube.applied == []
    assert world.runs() == running(1)
    pending = world.status().pending_action
    assert pending is not None
    assert pending.target.same(running(2))
    assert dry_run_message(world).startswith("would set Deployment fraud-scorer to version v2")
    assert world.kube.events().count("VersionApplied") == 1
    assert due is not None and due >= world.clock.now + DRY_RUN_RECHECK

    world.prometheus.answers["v2"] = BAD
    writes = len(world.kube.status_writes)
    await settle(world)
    assert world.kube.applied == []
    assert len(world.kube.status_writes) == writes
    assert world.kube.events().count("VersionApplied") == 1
    assert world.prometheus.queries() == []  # no evaluation of a version that never ran


async def test_a_dry_run_drift_revert_is_announced_once() -> None:
    world = World()
    world.kube.create_model(NS, NAME, spec(1))
    await dry(world)
    world.deployment().image = "reg.example/fraud:9.0"  # kubectl set image, behind our back
    await dry(world)
    await settle(world)
    assert world.kube.applied == []
    assert world.kube.events().count("DriftReverted") == 1
    assert dry_run_message(world).startswith("would set Deployment fraud-scorer to version v1")


async def test_a_dry_run_invalid_spec_still_records_its_kill_switch_but_scales_nothing() -> None:
    world = World()
    raw = spec(1, kill=KILL)
    raw["analysis"]["checks"][0]["query"] = 'model_accuracy{version="{{nope}}"}'
    world.kube.create_model(NS, NAME, raw)
    await dry(world)
    await settle(world)
    assert world.status().phase is Phase.KILLED
    assert world.kube.applied == []
    assert world.kube.events().count("KillSwitchEngaged") == 1


async def test_leaving_dry_run_carries_out_the_held_decision_and_drops_the_condition() -> None:
    world = World()
    world.kube.create_model(NS, NAME, spec(1, kill=KILL))
    await dry(world)
    assert world.deployment().replicas == 3

    await world.reconcile()  # the operator restarted without MODELGUARD_DRY_RUN
    assert world.deployment().replicas == 0
    assert cond.get_condition(world.status().conditions, cond.DRY_RUN) is None
    saved = world.status().kill_switch.saved
    assert saved is not None
    assert saved.replicas == 3  # saved before, kept


@pytest.mark.parametrize(
    ("value", "expected"),
    [("true", True), ("TRUE", True), ("1", True), ("", False), ("false", False), ("0", False)],
)
def test_the_dry_run_setting(monkeypatch: pytest.MonkeyPatch, value: str, expected: bool) -> None:
    monkeypatch.setenv("MODELGUARD_DRY_RUN", value)
    assert Settings.from_env().dry_run is expected


def test_a_mistyped_dry_run_setting_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MODELGUARD_DRY_RUN", "ture")
    with pytest.raises(ValueError, match="MODELGUARD_DRY_RUN"):
        Settings.from_env()


# ----------------------------------------------------------------- report only (README)


async def test_report_only_never_rolls_back_by_itself_but_does_what_was_asked() -> None:
    """rollback.automatic=false as the README states it: no automatic rollback; a new
    spec.version, a drift revert and a manual rollback are still carried out."""
    world = World()
    raw = spec(2)
    raw["rollback"]["automatic"] = False
    world.kube.create_model(NS, NAME, raw)
    await world.reconcile()
    assert world.runs() == running(2)  # the version the user asked for is applied

    world.clock.advance(timedelta(minutes=3))
    world.prometheus.answers["v2"] = BAD
    await world.reconcile()
    assert world.runs() == running(2)  # degraded, reported, not rolled back
    assert "DegradationDetected" in world.kube.events()

    world.deployment().image = "reg.example/fraud:9.0"
    await world.reconcile()
    assert world.runs() == running(2)  # drift behind our back is put back

    world.request_rollback("r-1")
    await world.reconcile()
    assert world.runs() == running(1)  # the manual rollback runs


async def test_a_dry_run_release_is_recorded_although_the_restore_is_never_seen() -> None:
    """The replicas changed while killed (an HPA, a person): the restore to the saved 3
    is held, not waited for, or the object would stay Killed for good in dry run."""
    world = World()
    world.kube.create_model(NS, NAME, spec(1, kill=KILL))
    await dry(world)
    world.deployment().replicas = 5
    await dry(world)
    world.kube.edit_spec(NS, NAME, spec(1, kill=RELEASE))
    await dry(world)
    assert not world.status().kill_switch.engaged
    assert world.status().phase is not Phase.KILLED
    assert dry_run_message(world) == "would scale Deployment fraud-scorer to 3 replicas"
    assert world.kube.events().count("KillSwitchReleased") == 1
    await settle(world)
    assert world.kube.applied == []
    assert dry_run_message(world) == "nothing to apply"
    assert world.deployment().replicas == 5
