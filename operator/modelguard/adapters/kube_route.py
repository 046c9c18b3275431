"""httpRoute mode on the Kubernetes API: the user's HTTPRoute (only the two named
backendRefs' weights are written) and the operator-owned canary Service.

The route is written with get -> modify -> replace carrying its resourceVersion, and
retried on a conflict (409), as the Argo Rollouts Gateway API plugin does: `rules` is an
atomic list, so a server-side apply or a merge patch would take the whole list over
from its owner (Git) or drop what another writer just added.
"""

from __future__ import annotations

from typing import Any, cast

from kubernetes import client
from kubernetes.client.exceptions import ApiException

from modelguard.adapters.kube_canary import FIELD_MANAGER, Reader, foreign, owned_by
from modelguard.core.api import HTTPRouteTraffic, ModelDeploymentSpec
from modelguard.core.canary import Owner
from modelguard.core.canary import route as routing
from modelguard.core.workload import (
    DeleteCanaryService,
    EnsureCanaryService,
    RouteAction,
    RouteState,
    SetRouteWeight,
)

GATEWAY_GROUP = "gateway.networking.k8s.io"
GATEWAY_VERSION = "v1"
HTTPROUTES = "httproutes"
_CONFLICT_RETRIES = 5


def _get_route(custom: client.CustomObjectsApi, namespace: str, name: str) -> dict[str, Any] | None:
    try:
        got = custom.get_namespaced_custom_object(
            GATEWAY_GROUP, GATEWAY_VERSION, namespace, HTTPROUTES, name
        )
    except ApiException as exc:
        if exc.status == 404:
            return None
        raise
    return cast("dict[str, Any]", got)


def read_route(
    custom: client.CustomObjectsApi,
    core: client.CoreV1Api,
    read: Reader,
    namespace: str,
    route: HTTPRouteTraffic,
    target: dict[str, Any],
    track_label: str,
) -> RouteState:
    canary_service = read(core.read_namespaced_service, route.canary_backend, namespace) is not None
    body = _get_route(custom, namespace, route.name)
    stable = read(core.read_namespaced_service, route.stable_backend, namespace)
    selector = None if stable is None else dict((stable.get("spec") or {}).get("selector") or {})
    template = target["spec"].get("template") or {}
    labels = dict((template.get("metadata") or {}).get("labels") or {})
    return routing.observe(route, body, selector, canary_service, labels, track_label)


def apply_route(
    custom: client.CustomObjectsApi,
    core: client.CoreV1Api,
    read: Reader,
    namespace: str,
    spec: ModelDeploymentSpec,
    owner: Owner,
    action: RouteAction,
) -> None:
    route = action.route
    if isinstance(action, SetRouteWeight):
        _set_weight(custom, namespace, action)
    elif isinstance(action, DeleteCanaryService):
        existing = read(core.read_namespaced_service, route.canary_backend, namespace)
        if existing is None:
            return
        if not owned_by(existing, owner):
            raise foreign("Service", route.canary_backend)
        try:
            preconditions = client.V1Preconditions(uid=existing["metadata"].get("uid"))
            core.delete_namespaced_service(
                route.canary_backend,
                namespace,
                body=client.V1DeleteOptions(preconditions=preconditions),
            )
        except ApiException as exc:
            if exc.status not in (404, 409):  # 409: it went, and another took the name
                raise
    else:
        assert isinstance(action, EnsureCanaryService)
        existing = read(core.read_namespaced_service, route.canary_backend, namespace)
        if existing is not None:
            if not owned_by(existing, owner):
                raise foreign("Service", route.canary_backend)
            return
        stable = read(core.read_namespaced_service, route.stable_backend, namespace)
        if stable is None:
            raise LookupError(f"stable Service {route.stable_backend!r} not found")
        track = spec.canary.track_label if spec.canary else "modelguard.io/track"
        body = routing.canary_service(route.canary_backend, namespace, stable, track, owner)
        try:
            core.create_namespaced_service(namespace, body, field_manager=FIELD_MANAGER)  # type: ignore[arg-type]
        except ApiException as exc:
            if exc.status != 409:
                raise


def _set_weight(custom: client.CustomObjectsApi, namespace: str, action: SetRouteWeight) -> None:
    route = action.route
    for attempt in range(_CONFLICT_RETRIES):
        body = _get_route(custom, namespace, route.name)
        if body is None:
            if action.weight == 0:
                return  # removing a canary whose route is gone: nothing sends it traffic
            raise LookupError(f"HTTPRoute {route.name!r} not found")
        changed = routing.with_weights(
            body,
            route.stable_backend,
            route.canary_backend,
            action.weight,
            in_progress=action.in_progress,
        )
        if changed == body:
            return
        try:
            # The body carries the resourceVersion it was read at: a concurrent write
            # makes this a 409, and the change is made again on the new object.
            custom.replace_namespaced_custom_object(
                GATEWAY_GROUP,
                GATEWAY_VERSION,
                namespace,
                HTTPROUTES,
                route.name,
                changed,
                field_manager=FIELD_MANAGER,
            )
        except ApiException as exc:
            if exc.status != 409 or attempt == _CONFLICT_RETRIES - 1:
                raise
        else:
            return
