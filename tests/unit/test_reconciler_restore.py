"""Restoring what the kill switch saved, through the reconcile loop and the in-memory ports:
on a delete of the ModelDeployment (the finalizer, core.decision.teardown) and on a release
that comes with a new desired version (the version first, then the replicas/selector)."""

from __future__ import annotations

from typing import Any

import pytest

from modelguard.core.api import Phase
from modelguard.core.decision.teardown import FINALIZER
from modelguard.core.workload import Action, Scale, SetSelector, SetVersion
from tests.unit.fakes import CrashError
from tests.unit.test_reconciler import KILL, NAME, NS, RELEASE, World, running, spec

DEPLOYMENT = f"Deployment {NS}/fraud-scorer"
FALLBACK = {"serviceName": "fraud", "selector": {"app": "fraud-rules"}}


def kill_switch_only(kill: dict[str, Any] | None = None) -> dict[str, Any]:
    raw: dict[str, Any] = {"targetRef": {"name": "fraud-scorer", "container": "server"}}
    if kill is not None:
        raw["killSwitch"] = kill
    return raw


async def killed(world: World, raw: dict[str, Any] | None = None) -> None:
    """Adopted with nothing engaged, then the kill switch engaged by a spec edit."""
    world.kube.create_model(NS, NAME, kill_switch_only())
    await world.reconcile()
    assert world.kube.finalizers(NS, NAME) == []
    world.kube.edit_spec(NS, NAME, raw or kill_switch_only(KILL))
    await world.reconcile()
    assert world.status().kill_switch.engaged


def gone(world: World) -> bool:
    return (NS, NAME) not in world.kube.models


def restored_events(world: World) -> list[str]:
    return [
        f"{p.about}: {p.event.message}"
        for p in world.kube.posted
        if p.event.reason == "RestoredOnDelete"
    ]


# ----------------------------------------------------------------- the finalizer


async def test_nothing_engaged_means_no_finalizer_and_a_release_removes_it() -> None:
    world = World()
    world.kube.create_model(NS, NAME, kill_switch_only())
    for _ in range(2):
        await world.reconcile()
    assert world.kube.finalizers(NS, NAME) == []
    assert world.kube.finalizer_writes == []  # GitOps sees no drift: nothing was ever added

    world.kube.edit_spec(NS, NAME, kill_switch_only(KILL))
    await world.reconcile()
    assert world.kube.finalizers(NS, NAME) == [FINALIZER]
    world.kube.edit_spec(NS, NAME, kill_switch_only(RELEASE))
    await world.reconcile()
    assert world.deployment().replicas == 3
    assert world.kube.finalizers(NS, NAME) == []
    assert world.kube.finalizer_writes == [(FINALIZER, True), (FINALIZER, False)]


async def test_the_finalizer_is_added_after_the_status_and_before_the_scale_to_zero() -> None:
    world = World()
    await killed(world)
    scaled = world.kube.timeline.index(repr(Scale(0)))
    assert world.kube.timeline[scaled - 2 : scaled + 1] == [
        "status",  # the saved replicas
        f"+{FINALIZER}",
        repr(Scale(0)),
    ]


@pytest.mark.parametrize("applied", [False, True], ids=["before-scale", "after-scale"])
async def test_a_delete_right_after_a_crash_at_the_scale_to_zero_still_restores(
    applied: bool,
) -> None:
    world = World()
    world.kube.create_model(NS, NAME, kill_switch_only())
    await world.reconcile()
    world.kube.edit_spec(NS, NAME, kill_switch_only(KILL))
    crash = world.kube.crash_once_after if applied else world.kube.crash_once_on
    crash(lambda action: action == Scale(0))
    with pytest.raises(CrashError):
        await world.reconcile()
    assert world.deployment().replicas == (0 if applied else 3)

    world.kube.delete_model(NS, NAME)  # a GitOps prune while the operator is down
    assert not gone(world)
    assert await world.reconcile() is None
    assert world.deployment().replicas == 3
    assert gone(world)


# ----------------------------------------------------------------- restoring on delete


async def test_a_delete_while_killed_restores_the_replicas_then_the_object_goes() -> None:
    world = World()
    await killed(world)
    assert world.deployment().replicas == 0

    world.kube.delete_model(NS, NAME)
    assert await world.reconcile() is None
    assert world.deployment().replicas == 3
    assert gone(world)
    (event,) = restored_events(world)
    assert event.startswith(f"{DEPLOYMENT}: ModelDeployment {NAME} was deleted while its kill")
    assert "INC-7" in event
    assert event.endswith("restored replicas 3")

    # Re-created (the GitOps sync after the prune): it adopts a model that serves.
    world.kube.create_model(NS, NAME, kill_switch_only())
    await world.reconcile()
    status = world.status()
    assert status.phase is Phase.HEALTHY
    assert world.deployment().replicas == 3
    assert world.kube.finalizers(NS, NAME) == []


async def test_a_delete_on_the_fallback_restores_the_service_selector() -> None:
    world = World()
    world.kube.services[NS, "fraud"] = {"app": "fraud-scorer"}
    world.kube.ready_pods[NS] = [{"app": "fraud-rules"}]
    await killed(world, kill_switch_only({**KILL, "mode": "fallback", "fallback": FALLBACK}))
    assert world.kube.services[NS, "fraud"] == {"app": "fraud-rules"}

    world.kube.delete_model(NS, NAME)
    await world.reconcile()
    assert world.kube.services[NS, "fraud"] == {"app": "fraud-scorer"}
    assert gone(world)
    (event,) = restored_events(world)
    assert event.endswith("restored selector app=fraud-scorer")


@pytest.mark.parametrize("where", ["restore", "event"])
async def test_an_operator_restart_during_the_delete_still_restores_once(where: str) -> None:
    world = World()
    await killed(world)
    world.kube.delete_model(NS, NAME)
    if where == "restore":
        world.kube.crash_once_on(lambda action: action == Scale(3))
    else:
        world.kube.crash_on_emit = True
    with pytest.raises(CrashError):
        await world.reconcile()
    assert not gone(world)  # the finalizer holds it, with what is left to do
    assert world.kube.finalizers(NS, NAME) == [FINALIZER]
    world.kube.crash_on_emit = False

    assert await world.reconcile() is None  # the restarted operator, from the status only
    assert world.deployment().replicas == 3
    assert gone(world)
    assert len(restored_events(world)) == 1


async def test_a_delete_finishes_a_recorded_version_change() -> None:
    world = World()
    world.kube.create_model(NS, NAME, spec(2))
    world.kube.crash_once_on(lambda action: isinstance(action, SetVersion))
    with pytest.raises(CrashError):
        await world.reconcile()
    assert world.status().pending_action is not None
    assert world.kube.finalizers(NS, NAME) == [FINALIZER]

    world.kube.delete_model(NS, NAME)
    await world.reconcile()
    assert world.runs() == running(2)
    assert gone(world)
    (event,) = restored_events(world)
    assert "during a version change (apply): finished it" in event


async def test_a_delete_applies_a_recorded_version_before_restoring_the_replicas() -> None:
    world = World()
    world.kube.create_model(NS, NAME, spec(2))
    world.kube.crash_once_on(lambda action: isinstance(action, SetVersion))
    with pytest.raises(CrashError):
        await world.reconcile()
    world.kube.edit_spec(NS, NAME, spec(2, kill=KILL))
    await world.reconcile()  # the switch wins: stopped on v1, the change to v2 still recorded
    assert world.runs() == running(1)
    assert world.deployment().replicas == 0
    assert world.status().pending_action is not None
    before = len(world.kube.applied)

    world.kube.delete_model(NS, NAME)
    await world.reconcile()
    assert world.kube.applied[before:] == [SetVersion(running(2), "MODEL_VERSION"), Scale(3)]
    assert gone(world)
    assert len(restored_events(world)) == 2  # the version change, the replicas


async def test_a_delete_with_the_deployment_gone_too_lets_the_object_go() -> None:
    world = World()
    await killed(world)
    del world.kube.deployments[NS, "fraud-scorer"]  # the whole app was pruned
    world.kube.delete_model(NS, NAME)
    await world.reconcile()
    assert gone(world)
    assert [p.event.reason for p in world.kube.posted][-1] == "TargetNotFound"


async def test_a_delete_with_nothing_engaged_is_immediate_and_untouched() -> None:
    world = World()
    world.kube.create_model(NS, NAME, kill_switch_only())
    await world.reconcile()
    world.kube.delete_model(NS, NAME)
    assert gone(world)
    assert await world.reconcile() is None
    assert world.kube.applied == []


# ----------------------------------------------------------------- release with a new version


def states(actions: list[Action], replicas: int, image: str | None) -> list[tuple[int, str | None]]:
    """(replicas, image) of the Deployment after each of `actions`, from (replicas, image)."""
    seen = []
    for action in actions:
        if isinstance(action, Scale):
            replicas = action.replicas
        elif isinstance(action, SetVersion) and action.version.image is not None:
            image = action.version.image
        seen.append((replicas, image))
    return seen


async def test_a_release_with_a_new_version_never_serves_the_killed_version() -> None:
    world = World()
    world.kube.create_model(NS, NAME, spec(1, kill=KILL))
    await world.reconcile()
    world.kube.edit_spec(NS, NAME, spec(2, kill=KILL))  # the fix is merged while killed
    await world.reconcile()
    assert world.runs() == running(1)
    assert world.deployment().replicas == 0
    before = len(world.kube.applied)

    world.kube.edit_spec(NS, NAME, spec(2, kill=RELEASE))
    await world.reconcile()
    after = world.kube.applied[before:]
    assert after == [SetVersion(running(2), "MODEL_VERSION"), Scale(3)]
    v1 = running(1).image
    assert [s for s in states(after, 0, v1) if s[0] > 0 and s[1] == v1] == []
    assert world.runs() == running(2)
    assert world.deployment().replicas == 3
    assert not world.status().kill_switch.engaged
    assert world.status().pending_action is None


async def test_a_crash_between_the_version_and_the_replicas_of_a_release() -> None:
    world = World()
    world.kube.create_model(NS, NAME, spec(1, kill=KILL))
    await world.reconcile()
    world.kube.edit_spec(NS, NAME, spec(2, kill=RELEASE))
    world.kube.crash_once_after(lambda action: isinstance(action, SetVersion))
    with pytest.raises(CrashError):
        await world.reconcile()
    assert world.runs() == running(2)
    assert world.deployment().replicas == 0  # the new version, still stopped
    assert world.status().kill_switch.engaged  # the restore is still to come

    await world.reconcile()
    assert world.deployment().replicas == 3
    assert world.set_versions() == ["v2"]
    assert not world.status().kill_switch.engaged


async def test_a_release_to_the_model_service_switches_after_the_new_version() -> None:
    world = World()
    world.kube.services[NS, "fraud"] = {"app": "fraud-scorer"}
    world.kube.ready_pods[NS] = [{"app": "fraud-rules"}]
    kill = {**KILL, "mode": "fallback", "fallback": FALLBACK}
    world.kube.create_model(NS, NAME, spec(1, kill=kill))
    await world.reconcile()
    assert world.kube.services[NS, "fraud"] == {"app": "fraud-rules"}
    before = len(world.kube.applied)

    world.kube.edit_spec(NS, NAME, spec(2, kill={**kill, "enabled": False}))
    await world.reconcile()
    assert [type(a) for a in world.kube.applied[before:]] == [SetVersion, SetSelector]
    assert world.runs() == running(2)
    assert world.kube.services[NS, "fraud"] == {"app": "fraud-scorer"}
