"""A release that comes with a new desired version, through the reconcile loop and the
in-memory ports: the version first, then the replicas/selector."""

from __future__ import annotations

import pytest

from modelguard.core.workload import Action, Scale, SetSelector, SetVersion
from tests.unit.fakes import CrashError
from tests.unit.test_reconciler import KILL, NAME, NS, RELEASE, World, running, spec

FALLBACK = {"serviceName": "fraud", "selector": {"app": "fraud-rules"}}


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
