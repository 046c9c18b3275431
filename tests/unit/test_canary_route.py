"""core.canary.route: httpRoute-mode weights, replicas for capacity, and the pure
rewrite of a user's HTTPRoute that changes only the two named weights."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from modelguard.core.api import HTTPRouteTraffic
from modelguard.core.canary import MODEL_DEPLOYMENT_LABEL, Owner
from modelguard.core.canary.route import (
    IN_PROGRESS_LABEL,
    RouteError,
    canary_service,
    canary_weight,
    observe,
    route_replicas,
    route_weight,
    selects,
    with_weights,
)

ROUTE_CFG = HTTPRouteTraffic(name="fraud", stable_backend="stable", canary_backend="canary")


def route(*rules: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "metadata": {"name": "fraud", "resourceVersion": "7", "labels": {"team": "risk"}},
        "spec": {"parentRefs": [{"name": "gw"}], "rules": [{"backendRefs": r} for r in rules]},
    }


TWO = [{"name": "stable", "port": 80, "weight": 100}, {"name": "canary", "port": 80, "weight": 0}]


@pytest.mark.parametrize(
    ("target_ready", "weight", "cap", "expected"),
    [
        (9, 10, 10, 1),  # ceil(0.9)
        (10, 10, 10, 1),  # exactly 1
        (11, 10, 10, 2),  # ceil(1.1): integer ceil, no float rounding
        (10, 50, 10, 5),
        (100, 50, 10, 10),  # capped by maxCanaryReplicas
        (0, 20, 10, 1),  # at least one pod, whatever the target has
        (3, 1, 10, 1),
        (200, 99, 1000, 198),
    ],
)
def test_route_replicas_give_the_capacity_of_the_step(
    target_ready: int, weight: int, cap: int, expected: int
) -> None:
    assert route_replicas(target_ready, weight, cap) == expected


@pytest.mark.parametrize(
    ("step", "all_ready", "serving", "ready", "expected"),
    [
        (10, True, 0, 1, 10),  # all Ready: the step's weight
        (10, False, 0, 0, 0),  # nothing Ready: no traffic
        (50, False, 10, 1, 10),  # next step's pods starting: keeps the weight it had
        (50, False, 10, 0, 0),  # its pods lost: no traffic
        (20, False, 50, 2, 20),  # never more than the step
    ],
)
def test_route_weight_is_gated_on_readiness(
    step: int, all_ready: bool, serving: int, ready: int, expected: int
) -> None:
    assert route_weight(step, all_ready, serving, ready) == expected


def test_with_weights_changes_only_the_two_weights_on_every_rule() -> None:
    other = {"name": "shadow", "port": 81, "weight": 3}
    original = route(
        [*TWO, other], [{"name": "docs", "port": 80}], [{"name": "canary"}, {"name": "stable"}]
    )
    before = copy.deepcopy(original)
    out = with_weights(original, "stable", "canary", 20, in_progress=True)
    assert original == before  # the input is not modified
    rules = out["spec"]["rules"]
    assert rules[0]["backendRefs"] == [
        {"name": "stable", "port": 80, "weight": 80},
        {"name": "canary", "port": 80, "weight": 20},
        other,
    ]
    assert rules[1] == {"backendRefs": [{"name": "docs", "port": 80}]}
    assert rules[2]["backendRefs"] == [
        {"name": "canary", "weight": 20},
        {"name": "stable", "weight": 80},
    ]
    assert out["metadata"]["labels"] == {"team": "risk", IN_PROGRESS_LABEL: "in-progress"}
    assert out["metadata"]["resourceVersion"] == "7"  # replaced with it: a conflict is a 409
    assert out["spec"]["parentRefs"] == before["spec"]["parentRefs"]
    done = with_weights(out, "stable", "canary", 0, in_progress=False)
    assert done["metadata"]["labels"] == {"team": "risk"}
    assert [r.get("weight") for r in done["spec"]["rules"][0]["backendRefs"]] == [100, 0, 3]


@pytest.mark.parametrize(
    ("refs", "missing"),
    [
        ([TWO[0]], "'canary'"),
        ([TWO[1]], "'stable'"),
        ([], "'stable' or 'canary'"),
        # Same name, another kind: not the Service the spec names.
        (
            [TWO[0], {"name": "canary", "kind": "ServiceImport", "group": "multicluster.x-k8s.io"}],
            "'canary'",
        ),
    ],
)
def test_a_missing_backend_ref_is_an_error_never_added(
    refs: list[dict[str, Any]], missing: str
) -> None:
    with pytest.raises(RouteError, match=f"no backendRef {missing}"):
        with_weights(route(refs), "stable", "canary", 10, in_progress=True)


def test_canary_weight_defaults_to_one_as_the_gateway_api_says() -> None:
    assert canary_weight(route([{"name": "canary"}]), "canary") == 1
    assert canary_weight(route(TWO), "canary") == 0
    assert canary_weight(route([TWO[0]]), "canary") is None


@pytest.mark.parametrize(
    ("selector", "labels", "expected"),
    [
        ({"app": "x"}, {"app": "x", "track": "canary"}, True),
        ({"app": "x", "track": "stable"}, {"app": "x", "track": "canary"}, False),
        ({}, {"app": "x"}, False),  # no selector selects no pods
        (None, {"app": "x"}, False),
    ],
)
def test_selects(selector: dict[str, str] | None, labels: dict[str, str], expected: bool) -> None:
    assert selects(selector, labels) is expected


def test_observe_reports_why_the_route_cannot_carry_the_canary() -> None:
    ok = observe(
        ROUTE_CFG, route(TWO), {"app": "x", "track": "stable"}, True, {"app": "x"}, "track"
    )
    assert ok.problem == "" and ok.canary_weight == 0 and ok.canary_service
    overlap = observe(ROUTE_CFG, route(TWO), {"app": "x"}, True, {"app": "x"}, "track")
    assert "selects the canary's pods (app=x)" in overlap.problem
    assert "not found" in observe(ROUTE_CFG, None, {}, False, {}, "track").problem
    assert (
        "stable Service 'stable' not found"
        in observe(ROUTE_CFG, route(TWO), None, False, {}, "t").problem
    )


def test_the_canary_service_selects_only_the_canary_pods_and_is_owned() -> None:
    stable = {
        "spec": {
            "selector": {"app": "x"},
            "clusterIP": "10.0.0.1",
            "ports": [
                {
                    "name": "http",
                    "port": 80,
                    "targetPort": 8080,
                    "protocol": "TCP",
                    "nodePort": 30001,
                }
            ],
        }
    }
    owner = Owner("modelguard.io/v1alpha1", "ModelDeployment", "fraud", "uid-1")
    svc = canary_service("canary", "ns", stable, "track", owner)
    assert svc["spec"] == {
        "selector": {"track": "canary", MODEL_DEPLOYMENT_LABEL: "fraud"},
        "ports": [{"name": "http", "port": 80, "targetPort": 8080, "protocol": "TCP"}],
    }
    ref = svc["metadata"]["ownerReferences"][0]
    assert ref["uid"] == "uid-1" and ref["controller"] is True
