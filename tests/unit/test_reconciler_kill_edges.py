"""Kill-switch edge cases through the reconcile loop: the gauge on an invalid spec, and a
fallback Service that has no selector."""

from __future__ import annotations

from prometheus_client import REGISTRY

from modelguard.core import conditions as cond
from modelguard.core.workload import Scale, SetSelector
from tests.unit.test_reconciler import KILL, NS, RELEASE, World, spec

NAME = "fraud"


def gauge(name: str) -> float | None:
    return REGISTRY.get_sample_value(
        "modelguard_kill_switch_engaged", {"namespace": NS, "name": name}
    )


async def test_the_kill_switch_gauge_follows_an_invalid_spec() -> None:
    world = World()
    raw = spec(1, kill=KILL)
    raw["analysis"]["checks"][0]["query"] = 'model_accuracy{version="{{nope}}"}'
    world.kube.create_model(NS, NAME, raw)
    await world.reconcile()
    assert world.status().kill_switch.engaged
    assert gauge(NAME) == 1

    raw["killSwitch"] = RELEASE
    world.kube.edit_spec(NS, NAME, raw)
    await world.reconcile()
    assert not world.status().kill_switch.engaged
    assert gauge(NAME) == 0


async def test_a_service_without_selector_is_never_switched_the_model_is_scaled_to_zero() -> None:
    world = World()
    world.kube.services[NS, "fraud"] = {}  # endpoints managed by hand
    world.kube.ready_pods[NS] = [{"app": "fraud-rules"}]
    fallback = {"serviceName": "fraud", "selector": {"app": "fraud-rules"}}
    world.kube.create_model(NS, NAME, spec(1))
    await world.reconcile()

    kill = {"mode": "fallback", "fallback": fallback}
    world.kube.edit_spec(NS, NAME, spec(1, kill={**KILL, **kill}))
    await world.reconcile()
    assert world.kube.applied == [Scale(0)]
    assert not any(isinstance(a, SetSelector) for a in world.kube.applied)
    assert world.kube.services[NS, "fraud"] == {}
    assert "FallbackUnavailable" in world.kube.events()
    (message,) = [
        p.event.message for p in world.kube.posted if p.event.reason == "FallbackUnavailable"
    ]
    assert "has no selector" in message
    ks = world.status().kill_switch
    assert ks.engaged and ks.saved is not None
    assert (ks.saved.replicas, ks.saved.selector) == (3, None)
    condition = cond.get_condition(world.status().conditions, cond.KILL_SWITCH_ENGAGED)
    assert condition is not None and condition.reason == "ScaledToZero"

    world.kube.edit_spec(NS, NAME, spec(1, kill={**RELEASE, **kill}))
    await world.reconcile()
    assert world.kube.applied == [Scale(0), Scale(3)]
    assert world.kube.services[NS, "fraud"] == {}
    assert not world.status().kill_switch.engaged
