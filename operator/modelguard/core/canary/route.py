"""httpRoute mode: a Gateway API HTTPRoute's backend weights split the traffic.

The user owns the HTTPRoute and lists both Services in its backendRefs; modelguard
changes only the `weight` of the two named backendRefs, on every rule that has them,
and never adds or removes a rule or a backend (the Argo Rollouts plugin's users lost
unmanaged backends and rules that way, #203, #217). `rules` is an atomic list under
server-side apply, so the adapter writes the whole object with its resourceVersion
(get, modify, replace, retry on conflict) rather than apply a patch that would own it.

Weights are exact (no replica granularity): the canary takes `step` and the stable
`100 - step`; the canary's replicas only give it the capacity for that share.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

from modelguard.core.api import (
    GROUP,
    CanarySpec,
    HTTPRouteTraffic,
    ModelDeploymentSpec,
    ModelDeploymentStatus,
    TrafficMode,
)
from modelguard.core.canary.manifest import MODEL_DEPLOYMENT_LABEL, TRACK_CANARY, Owner, label_value
from modelguard.core.workload import (
    Action,
    DeleteCanary,
    DeleteCanaryService,
    EnsureCanaryService,
    RouteState,
    SetRouteWeight,
)

# Set on the route while a canary runs, so an Argo CD ignoreDifferences rule keyed on it
# can leave the weights alone (the Argo Rollouts plugin does the same).
IN_PROGRESS_LABEL = f"{GROUP}/canary"
IN_PROGRESS = "in-progress"


class RouteError(ValueError):
    """The route cannot be reweighted as the spec says (a backendRef is missing)."""


def route_replicas(target_ready: int, weight: int, max_replicas: int) -> int:
    """Canary replicas for the capacity of `weight` % of what `target_ready` pods serve:
    max(1, ceil(N * w / 100)), at most maxCanaryReplicas."""
    needed = -(-target_ready * weight // 100)  # integer ceil: no float rounding
    return min(max_replicas, max(1, needed))


def route_weight(step_weight: int, all_ready: bool, serving: int, ready: int) -> int:
    """The canary's weight on the route. Readiness gating: the step's weight only when
    all of the step's pods are Ready; until then the weight it had (`serving`) while
    any of its pods is Ready (the next step's extra pods are starting), else 0."""
    if all_ready:
        return step_weight
    return min(serving, step_weight) if ready > 0 else 0


def _backend_refs(route: dict[str, Any]) -> list[dict[str, Any]]:
    refs: list[dict[str, Any]] = []
    for rule in (route.get("spec") or {}).get("rules") or []:
        refs.extend(rule.get("backendRefs") or [])
    return refs


def _is(ref: dict[str, Any], name: str) -> bool:
    # A backendRef with no kind/group is a core Service (the Gateway API default).
    return (
        ref.get("name") == name
        and ref.get("kind", "Service") == "Service"
        and ref.get("group", "") in ("", "core")
    )


def missing_backends(route: dict[str, Any], stable: str, canary: str) -> list[str]:
    refs = _backend_refs(route)
    return [n for n in (stable, canary) if not any(_is(r, n) for r in refs)]


def with_weights(
    route: dict[str, Any], stable: str, canary: str, canary_weight: int, *, in_progress: bool
) -> dict[str, Any]:
    """The route with only the two backendRefs' weights changed (and the in-progress
    label set or removed). RouteError if either backendRef is on no rule."""
    missing = missing_backends(route, stable, canary)
    if missing:
        raise RouteError(
            f"HTTPRoute {route.get('metadata', {}).get('name')!r} has no backendRef "
            f"{' or '.join(repr(m) for m in missing)}: modelguard never adds backends"
        )
    out = copy.deepcopy(route)
    for rule in out["spec"]["rules"]:
        for ref in rule.get("backendRefs") or []:
            if _is(ref, canary):
                ref["weight"] = canary_weight
            elif _is(ref, stable):
                ref["weight"] = 100 - canary_weight
    labels = out.setdefault("metadata", {}).setdefault("labels", {})
    if in_progress:
        labels[IN_PROGRESS_LABEL] = IN_PROGRESS
    else:
        labels.pop(IN_PROGRESS_LABEL, None)
    return out


def canary_weight(route: dict[str, Any], canary: str) -> int | None:
    """The canary backendRef's weight (the first rule's that has it; the Gateway API
    default is 1 when unset); None when it is on no rule."""
    for ref in _backend_refs(route):
        if _is(ref, canary):
            return int(ref.get("weight", 1))
    return None


def selects(selector: dict[str, str] | None, labels: dict[str, str]) -> bool:
    """A Service selector matches these pod labels (an empty selector selects no pods:
    a Service without one has its Endpoints managed by hand)."""
    return bool(selector) and all(labels.get(k) == v for k, v in (selector or {}).items())


def canary_pod_labels(
    target_pod_labels: dict[str, str], track_label: str, md: str
) -> dict[str, str]:
    """The labels the canary's pods carry (core.canary.manifest keeps every target label)."""
    return {
        **target_pod_labels,
        track_label: TRACK_CANARY,
        MODEL_DEPLOYMENT_LABEL: label_value(md),
    }


def canary_service(
    name: str,
    namespace: str,
    stable: dict[str, Any],
    track_label: str,
    owner: Owner,
) -> dict[str, Any]:
    """The operator-owned Service of the canary's pods: the stable Service's ports, a
    selector of the track label and the model-deployment label (the canary's pods only)."""
    ports = [
        {
            k: v
            for k, v in port.items()
            if k in ("name", "port", "targetPort", "protocol", "appProtocol")
        }
        for port in (stable.get("spec") or {}).get("ports") or []
    ]
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "labels": {"app.kubernetes.io/managed-by": "modelguard"},
            "ownerReferences": [owner.reference()],
        },
        "spec": {
            "selector": {
                track_label: TRACK_CANARY,
                MODEL_DEPLOYMENT_LABEL: label_value(owner.name),
            },
            "ports": ports,
        },
    }


def route_of(spec: CanarySpec) -> HTTPRouteTraffic | None:
    """The route a canary of this spec weighs; None in replicas mode."""
    if spec.traffic.mode is TrafficMode.HTTP_ROUTE:
        return spec.traffic.http_route
    return None


def route_in_play(
    spec: ModelDeploymentSpec, status: ModelDeploymentStatus
) -> HTTPRouteTraffic | None:
    """The route to read: only while a canary runs (a canary starts one reconcile before
    its first tick, so a model whose canary is not running costs no extra reads); the
    recorded route, else (before the first tick) the spec's."""
    if status.canary is None:
        return None
    if status.canary.route is not None:
        return status.canary.route
    return route_of(spec.canary) if spec.canary is not None else None


def removal(route: HTTPRouteTraffic | None, scale: tuple[Action, ...]) -> tuple[Action, ...]:
    """Removing a canary: in httpRoute mode all traffic back to the stable first (and
    the in-progress label off), then `scale` (the canary to 0), then its Service, and
    the Deployment last, so that its absence says the rest was done (a crash in between
    repeats these harmlessly)."""
    if route is None:
        return (*scale, DeleteCanary())
    return (
        SetRouteWeight(route, 0, in_progress=False),
        *scale,
        DeleteCanaryService(route),
        DeleteCanary(),
    )


@dataclass(frozen=True)
class Weighed:
    weight: int  # the canary's weight on the route after the actions
    actions: tuple[Action, ...]


def step_weight(
    route: HTTPRouteTraffic,
    state: RouteState | None,
    step: int,
    all_ready: bool,
    serving: int,
    ready: int,
) -> Weighed:
    """The route's part of a Progressing tick. The canary Service comes before any
    weight (a backendRef to a missing Service is an error on most Gateways); a weight
    is written only when the route does not have it yet. Misconfigured (state.problem):
    no traffic to the canary while it holds, if the route can be written at all."""
    if state is None or state.problem:
        if state is not None and state.canary_weight:
            return Weighed(0, (SetRouteWeight(route, 0),))
        return Weighed(0, ())
    weight = route_weight(step, all_ready, serving, ready)
    actions: list[Action] = []
    if not state.canary_service:
        actions.append(EnsureCanaryService(route))
    if state.canary_weight != weight:
        actions.append(SetRouteWeight(route, weight))
    return Weighed(weight, tuple(actions))


def observe(
    route: HTTPRouteTraffic,
    body: dict[str, Any] | None,
    stable_selector: dict[str, str] | None,
    canary_service: bool,
    target_pod_labels: dict[str, str],
    track_label: str,
) -> RouteState:
    """What the adapter read, judged: the canary's weight and why it cannot take traffic.
    `body`: the HTTPRoute (None: not found); `stable_selector`: the stable Service's
    (None: not found). Services have no "not in" selector, so a stable Service that
    selects the target's common labels also selects the canary's pods (they keep every
    target label): the canary would get traffic through it whatever the weights say."""
    if body is None:
        return RouteState(
            canary_service=canary_service, problem=f"HTTPRoute {route.name!r} not found"
        )
    weight = canary_weight(body, route.canary_backend)
    missing = missing_backends(body, route.stable_backend, route.canary_backend)
    problem = ""
    if missing:
        names = " or ".join(repr(m) for m in missing)
        problem = f"HTTPRoute {route.name!r} has no backendRef {names}"
    elif stable_selector is None:
        problem = f"stable Service {route.stable_backend!r} not found"
    elif selects(stable_selector, {**target_pod_labels, track_label: TRACK_CANARY}):
        shown = ",".join(f"{k}={v}" for k, v in sorted(stable_selector.items()))
        problem = (
            f"stable Service {route.stable_backend!r} selects the canary's pods ({shown}): "
            f"label the target's pods {track_label}=stable and add that to its selector"
        )
    return RouteState(canary_weight=weight, canary_service=canary_service, problem=problem)
