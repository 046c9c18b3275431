"""httpRoute-mode canaries through the reconcile loop, against the fakes of our own
ports: the route's weights step up with readiness gating, only the two named weights
change, abort and promotion put the stable back at 100 before the canary goes, and a
stable Service that selects the canary's pods holds the canary."""

from __future__ import annotations

import copy
from datetime import timedelta
from typing import Any

import pytest

from modelguard.core.api import ModelDeploymentSpec, ModelDeploymentStatus, Phase
from modelguard.core.canary import MODEL_DEPLOYMENT_LABEL
from modelguard.core.canary import route as routing
from modelguard.core.canary.route import IN_PROGRESS_LABEL
from modelguard.core.workload import (
    DeleteCanary,
    DeleteCanaryService,
    ScaleCanary,
    SetRouteWeight,
)
from tests.unit.fakes import CrashError
from tests.unit.test_reconciler import BAD, KILL, NAME, NS, RELEASE, World, running
from tests.unit.test_reconciler_canary import CANARY, at_step, canary_spec, drive, world_with

TRACK = "modelguard.io/track"
ROUTE = {"name": "fraud", "stableBackend": "fraud-stable", "canaryBackend": "fraud-canary"}
HTTP_ROUTE: dict[str, Any] = {
    "apiVersion": "gateway.networking.k8s.io/v1",
    "kind": "HTTPRoute",
    "metadata": {"name": "fraud", "namespace": NS, "resourceVersion": "1"},
    "spec": {
        "parentRefs": [{"name": "gw"}],
        "rules": [
            {
                "matches": [{"path": {"type": "PathPrefix", "value": "/score"}}],
                "backendRefs": [
                    {"name": "fraud-stable", "port": 80, "weight": 100},
                    {"name": "fraud-canary", "port": 80, "weight": 0},
                    {"name": "shadow", "port": 80, "weight": 1},
                ],
            },
            {"backendRefs": [{"name": "docs", "port": 80}]},
        ],
    },
}


def route_spec(**extra: Any) -> dict[str, Any]:
    return canary_spec(traffic={"mode": "httpRoute", "httpRoute": ROUTE}, **extra)


def route_world(stable_selector: dict[str, str] | None = None) -> World:
    world = world_with(route_spec())
    world.kube.routes[NS, "fraud"] = copy.deepcopy(HTTP_ROUTE)
    selector = {"app": "fraud-scorer", TRACK: "stable"}
    world.kube.services[NS, "fraud-stable"] = stable_selector or selector
    return world


def weights(world: World) -> dict[str, int | None]:
    rules = world.kube.routes[NS, "fraud"]["spec"]["rules"]
    return {ref["name"]: ref.get("weight") for rule in rules for ref in rule["backendRefs"]}


def labels(world: World) -> dict[str, str]:
    return dict(world.kube.routes[NS, "fraud"]["metadata"].get("labels") or {})


async def test_route_weights_step_up_and_go_back_to_the_stable_on_promotion() -> None:
    world = route_world()
    await drive(world, at_step(0))
    # 1 canary pod for the capacity of 10 % of 9: ceil(0.9) = 1; the weight is exact.
    assert world.kube.canaries[NS, CANARY].replicas == 1
    assert weights(world) == {"fraud-stable": 90, "fraud-canary": 10, "shadow": 1, "docs": None}
    assert labels(world)[IN_PROGRESS_LABEL] == "in-progress"
    selector = world.kube.services[NS, "fraud-canary"]
    assert selector == {TRACK: "canary", MODEL_DEPLOYMENT_LABEL: NAME}
    canary = world.status().canary
    assert canary is not None and canary.actual_weight == 10.0

    await drive(world, at_step(1))
    assert world.kube.canaries[NS, CANARY].replicas == 5  # ceil(9 * 50 / 100)
    assert weights(world)["fraud-canary"] == 50

    await drive(world, lambda w: w.status().canary is None)
    assert world.runs() == running(2)
    assert (NS, CANARY) not in world.kube.canaries
    assert (NS, "fraud-canary") not in world.kube.services
    assert weights(world) == {"fraud-stable": 100, "fraud-canary": 0, "shadow": 1, "docs": None}
    assert IN_PROGRESS_LABEL not in labels(world)
    # Nothing else on the route moved: the same rules, the same backends, in order.
    expected = copy.deepcopy(HTTP_ROUTE)
    assert world.kube.routes[NS, "fraud"]["spec"]["parentRefs"] == expected["spec"]["parentRefs"]
    assert len(world.kube.routes[NS, "fraud"]["spec"]["rules"]) == 2
    # Readiness gating: the weight went 0 -> 10 -> 50 -> 0, never above the Ready canary.
    assert world.kube.route_writes == [10, 50, 0]


async def test_an_abort_sets_the_weight_to_zero_before_the_canary_goes() -> None:
    world = route_world()
    await drive(world, at_step(1))
    world.prometheus.answers['version="v2"'] = BAD
    await drive(world, lambda w: w.status().canary is None)
    applied = world.kube.applied
    first = next(
        i for i, a in enumerate(applied) if isinstance(a, SetRouteWeight) and a.weight == 0
    )
    removal = [
        type(a)
        for a in applied[first:]
        if isinstance(a, SetRouteWeight | ScaleCanary | DeleteCanary | DeleteCanaryService)
    ]
    assert removal[:4] == [SetRouteWeight, ScaleCanary, DeleteCanaryService, DeleteCanary]
    assert weights(world)["fraud-canary"] == 0 and weights(world)["fraud-stable"] == 100
    assert (NS, CANARY) not in world.kube.canaries
    assert (NS, "fraud-canary") not in world.kube.services
    assert [q.name for q in world.status().quarantined_versions] == ["v2"]


async def test_a_canary_never_ready_gets_no_weight_and_fails_at_the_deadline() -> None:
    world = route_world()
    world.kube.never_ready.add(running(2).image or "")
    await drive(world, lambda w: w.status().canary is None)
    assert all(w == 0 for w in world.kube.route_writes)
    assert weights(world)["fraud-canary"] == 0
    assert "CanaryNotReady" in world.status().quarantined_versions[0].reason


async def test_a_stable_service_that_selects_the_canary_pods_holds_the_canary() -> None:
    world = route_world(stable_selector={"app": "fraud-scorer"})
    for _ in range(4):
        await world.reconcile()
        world.clock.advance(timedelta(minutes=5))
    condition = next(c for c in world.status().conditions if c.type == "Canary")
    assert condition.reason == "RouteMisconfigured"
    assert "selects the canary's pods" in condition.message
    assert world.kube.events().count("RouteMisconfigured") == 1
    assert (NS, CANARY) not in world.kube.canaries
    assert world.kube.route_writes == []
    assert world.status().quarantined_versions == []


async def test_a_route_without_the_canary_backend_holds_and_is_never_extended() -> None:
    world = route_world()
    world.kube.routes[NS, "fraud"]["spec"]["rules"][0]["backendRefs"].pop(1)
    await world.reconcile()
    await world.reconcile()
    condition = next(c for c in world.status().conditions if c.type == "Canary")
    assert condition.reason == "RouteMisconfigured"
    assert "no backendRef 'fraud-canary'" in condition.message
    refs = world.kube.routes[NS, "fraud"]["spec"]["rules"][0]["backendRefs"]
    assert [r["name"] for r in refs] == ["fraud-stable", "shadow"]


async def test_a_kill_during_a_route_canary_scales_it_to_zero_and_restores_it() -> None:
    world = route_world()
    await drive(world, at_step(0))
    world.kube.edit_spec(NS, NAME, {**route_spec(), "killSwitch": KILL})
    await world.reconcile()
    assert world.status().phase is Phase.KILLED
    assert world.kube.canaries[NS, CANARY].replicas == 0
    canary = world.status().canary
    assert canary is not None and canary.saved_replicas == 1
    world.kube.edit_spec(NS, NAME, {**route_spec(), "killSwitch": RELEASE})
    await world.reconcile()
    assert world.kube.canaries[NS, CANARY].replicas == 1


async def test_no_route_reads_without_a_running_canary_and_a_crash_in_an_abort_converges() -> None:
    world = route_world()
    # A route read on every reconcile of a model that runs no canary would be waste.
    assert (
        routing.route_in_play(
            ModelDeploymentSpec.model_validate(route_spec()), ModelDeploymentStatus()
        )
        is None
    )
    await drive(world, at_step(0))
    world.prometheus.answers['version="v2"'] = BAD
    world.kube.crash_once_after(lambda a: isinstance(a, SetRouteWeight) and a.weight == 0)
    with pytest.raises(CrashError):
        await drive(world, lambda w: False)
    assert weights(world)["fraud-canary"] == 0
    assert (NS, CANARY) in world.kube.canaries  # crashed before the rest of the removal
    await drive(world, lambda w: w.status().canary is None)
    assert (NS, CANARY) not in world.kube.canaries
    assert (NS, "fraud-canary") not in world.kube.services
    assert world.kube.events().count("CanaryAborted") == 1
